export interface SseMessage {
  id: string | null;
  data: string | null;
  retry: number | null;
}

/** Reads a text/event-stream response to its end (the server closes it) and parses its messages. */
export async function readSse(res: Response): Promise<SseMessage[]> {
  const text = await res.text();
  return text
    .split('\n\n')
    .filter((block) => block.trim() !== '')
    .map((block) => {
      const msg: SseMessage = { id: null, data: null, retry: null };
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        const i = line.indexOf(':');
        const field = i < 0 ? line : line.slice(0, i);
        const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
        if (field === 'id') msg.id = value;
        if (field === 'data') msg.data = msg.data === null ? value : `${msg.data}\n${value}`;
        if (field === 'retry') msg.retry = Number(value);
      }
      return msg;
    });
}
