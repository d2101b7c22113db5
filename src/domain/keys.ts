const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export function randomToken(length: number): string {
  // Rejection sampling keeps every character uniformly likely.
  const out: string[] = [];
  while (out.length < length) {
    for (const byte of crypto.getRandomValues(new Uint8Array(length * 2))) {
      if (byte < 248 && out.length < length) out.push(ALPHABET[byte % 62]!);
    }
  }
  return out.join('');
}

/** API keys look like `evl_<8-char prefix>_<32-char secret>`; only the prefix is ever shown again. */
export function newApiKey(): { key: string; prefix: string } {
  const prefix = randomToken(8);
  return { key: `evl_${prefix}_${randomToken(32)}`, prefix };
}

export function parseApiKey(key: string): { prefix: string } | null {
  const m = /^evl_([A-Za-z0-9]{8})_[A-Za-z0-9]{32}$/.exec(key);
  return m ? { prefix: m[1]! } : null;
}

export function timingSafeEqualStrings(a: string, b: string): boolean {
  const ea = new TextEncoder().encode(a);
  const eb = new TextEncoder().encode(b);
  if (ea.byteLength !== eb.byteLength) {
    // Still spend the comparison so a wrong length costs the same as a wrong value.
    crypto.subtle.timingSafeEqual(ea, ea);
    return false;
  }
  return crypto.subtle.timingSafeEqual(ea, eb);
}
