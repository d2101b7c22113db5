/**
 * A response whose JSON body was built as text (the log's hot read paths assemble it from stored JSON
 * without parsing it). Typed as whatever the route declares, since the text matches that schema.
 */
export function rawResponse<T>(body: string | ReadableStream, status: number, headers: Record<string, string>): T {
  return new Response(body, { status, headers }) as unknown as T;
}

export const rawJson = <T>(text: string, status = 200): T => rawResponse<T>(text, status, { 'content-type': 'application/json; charset=utf-8' });
