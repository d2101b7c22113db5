import { dayString } from './analytics';

/** The API's name of an archive: its day and the log positions it spans, zero-padded so names sort. */
export const archiveId = (day: number, firstPosition: number, lastPosition: number): string =>
  `${dayString(day)}.${String(firstPosition).padStart(12, '0')}-${String(lastPosition).padStart(12, '0')}`;

export const ARCHIVE_ID_PATTERN = /^\d{4}-\d{2}-\d{2}\.\d{12}-\d{12}$/;

/** The R2 key: every object of a tenant under its own prefix. */
export const archiveKey = (tenantId: string, id: string): string => `events/${tenantId}/${id}.ndjson.gz`;

export interface EncodedArchive {
  gzip: Uint8Array;
  /** SHA-256 (hex) of the uncompressed NDJSON. */
  sha256: string;
  count: number;
  rawBytes: number;
}

async function hex(data: BufferSource): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', data);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

async function pipe(bytes: Uint8Array, through: CompressionStream | DecompressionStream): Promise<Uint8Array> {
  const stream = new Blob([bytes]).stream().pipeThrough(through);
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Records → gzip NDJSON (one JSON object per line, each line ending in \n). */
export async function encodeArchive(records: unknown[]): Promise<EncodedArchive> {
  return encodeLines(records.map((r) => JSON.stringify(r)));
}

/** NDJSON lines (without their \n) → gzip NDJSON: a rewrite keeps the lines it keeps byte for byte. */
export async function encodeLines(lines: string[]): Promise<EncodedArchive> {
  const raw = new TextEncoder().encode(lines.map((l) => `${l}\n`).join(''));
  return { gzip: await pipe(raw, new CompressionStream('gzip')), sha256: await hex(raw), count: lines.length, rawBytes: raw.byteLength };
}

/** The NDJSON lines of an archive object (without their \n). */
export async function decodeLines(gzip: Uint8Array): Promise<string[]> {
  const text = new TextDecoder().decode(await pipe(gzip, new DecompressionStream('gzip')));
  return text.split('\n').filter((l) => l !== '');
}

/** What an archive object really holds: its line count and the hash of its uncompressed bytes. */
export async function inspectArchive(gzip: Uint8Array): Promise<{ sha256: string; count: number }> {
  const raw = await pipe(gzip, new DecompressionStream('gzip'));
  let count = 0;
  for (const b of raw) if (b === 10) count += 1;
  return { sha256: await hex(raw), count };
}
