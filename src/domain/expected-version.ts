/**
 * Optimistic concurrency on append, KurrentDB's expected-version modes: a version number (the stream
 * must be at exactly that version), `no_stream` (version 0), `stream_exists` (version ≥ 1) or `any`.
 * One rule for every writer, as a pure function of the stream's current version.
 */
export type ExpectedVersion = number | 'any' | 'no_stream' | 'stream_exists';

export function matchesExpectedVersion(current: number, expected: ExpectedVersion): boolean {
  if (expected === 'any') return true;
  if (expected === 'no_stream') return current === 0;
  if (expected === 'stream_exists') return current > 0;
  return current === expected;
}

/** Why `current` does not match `expected`, in the words of the 409 answer; null when it matches. */
export function expectedVersionMismatch(current: number, expected: ExpectedVersion): string | null {
  if (matchesExpectedVersion(current, expected)) return null;
  if (expected === 'no_stream') return `The stream already exists at version ${current}.`;
  if (expected === 'stream_exists') return 'The stream does not exist.';
  return `Expected version ${expected}, but the stream is at version ${current}.`;
}
