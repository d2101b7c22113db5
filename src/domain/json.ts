/** Byte length of a value's JSON text, as stored and as sent on queues. */
export function jsonBytes(value: unknown): number {
  return utf8Bytes(JSON.stringify(value));
}

const NON_ASCII = /[^\x00-\x7f]/;

/**
 * UTF-8 length of a string, counted from its UTF-16 code units without encoding it (no buffer per
 * call: the append path sizes every entry and payload). A surrogate pair is one 4-byte character; a
 * lone surrogate is encoded as U+FFFD, 3 bytes, as TextEncoder does.
 */
export function utf8Bytes(s: string): number {
  // Most text is ASCII: one regular-expression scan (twice as fast as the loop below) says so.
  if (!NON_ASCII.test(s)) return s.length;
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 2;
      i += 1;
    } else n += 2;
  }
  return n;
}

/**
 * Nesting depth of a JSON value (a scalar is 0, an object or array one more than its deepest member),
 * counted only up to `cap + 1`: iterative, so that a body nested a million levels deep costs neither a
 * stack overflow nor a full walk.
 */
export function jsonDepth(value: unknown, cap: number): number {
  let max = 0;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth > max) max = depth;
    if (max > cap) return max;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
    }
  }
  return max;
}

/** JSON with object keys sorted, so that equal bodies hash equally whatever their key order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) out[key] = sortKeys((value as Record<string, unknown>)[key]);
    return out;
  }
  return value;
}

export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** Hash of a request body, used to tell a replay (same body) from a conflicting reuse of an id or key. */
export function requestHash(body: unknown): Promise<string> {
  return sha256Hex(canonicalJson(body));
}
