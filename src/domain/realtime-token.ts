/**
 * Realtime tokens: short-lived, HMAC-SHA256 signed grants to open ONE contact's stream of ONE tenant
 * in ONE role. Browsers cannot set headers on a WebSocket, so the token rides in the query string;
 * that is why it is short-lived and narrow, and why it never holds the API key.
 *
 * Format: `ert1.<base64url(JSON claims)>.<base64url(HMAC-SHA256(secret, "ert1.<claims>"))>`.
 * The version prefix is part of the signed text, so a future format cannot be confused with this one.
 * Pure: Web Crypto only, no bindings.
 */

import { fromBase64Url, toBase64Url } from './base64url';

export const TOKEN_PREFIX = 'ert1';
export const DEFAULT_TTL_SECONDS = 3600;
export const MAX_TTL_SECONDS = 86_400;
/** Longest token the verifier will look at (claims are small; this bounds work on garbage input). */
export const MAX_TOKEN_LENGTH = 2048;

export type RealtimeRole = 'agent' | 'client';

export interface RealtimeClaims {
  /** Tenant id. */
  tid: string;
  /** Contact id. */
  cid: string;
  role: RealtimeRole;
  /** The agent's id (role agent only). */
  aid?: string;
  /** The agent's display name (role agent only), shown in presence frames. */
  name?: string;
  /**
   * The API key that minted the token. A token lives on its key: once the key is revoked the token
   * opens no socket, and the sockets it opened are closed. Absent only in tokens minted without a key.
   */
  kid?: string;
  /** Issued at, epoch seconds. */
  iat: number;
  /** Expires at, epoch seconds. */
  exp: number;
}

export type VerifyFailure = 'malformed' | 'bad_signature' | 'expired';
export type VerifyResult = { ok: true; claims: RealtimeClaims } | { ok: false; reason: VerifyFailure };

const encoder = new TextEncoder();

function hmacKey(secret: string, usage: 'sign' | 'verify'): Promise<CryptoKey> {
  return crypto.subtle.importKey('raw', encoder.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, [usage]);
}

/** Signs claims for `ttlSeconds` from `nowMs`. */
export async function signRealtimeToken(
  secret: string,
  grant: { tenantId: string; contactId: string; role: RealtimeRole; agentId?: string | null; name?: string | null; keyId?: string | null },
  ttlSeconds: number,
  nowMs: number,
): Promise<{ token: string; claims: RealtimeClaims }> {
  if (!secret) throw new Error('realtime token secret is empty');
  const iat = Math.floor(nowMs / 1000);
  const claims: RealtimeClaims = { tid: grant.tenantId, cid: grant.contactId, role: grant.role, iat, exp: iat + ttlSeconds };
  if (grant.role === 'agent' && grant.agentId) claims.aid = grant.agentId;
  if (grant.role === 'agent' && grant.name) claims.name = grant.name;
  if (grant.keyId) claims.kid = grant.keyId;
  const signed = `${TOKEN_PREFIX}.${toBase64Url(encoder.encode(JSON.stringify(claims)))}`;
  const sig = new Uint8Array(await crypto.subtle.sign('HMAC', await hmacKey(secret, 'sign'), encoder.encode(signed)));
  return { token: `${signed}.${toBase64Url(sig)}`, claims };
}

function isClaims(v: unknown): v is RealtimeClaims {
  if (v === null || typeof v !== 'object') return false;
  const c = v as Record<string, unknown>;
  const optStr = (x: unknown) => x === undefined || (typeof x === 'string' && x.length > 0);
  return (
    typeof c.tid === 'string' &&
    c.tid.length > 0 &&
    typeof c.cid === 'string' &&
    c.cid.length > 0 &&
    (c.role === 'agent' || c.role === 'client') &&
    optStr(c.aid) &&
    optStr(c.name) &&
    optStr(c.kid) &&
    (c.role === 'agent' ? typeof c.aid === 'string' : c.aid === undefined && c.name === undefined) &&
    Number.isSafeInteger(c.iat) &&
    Number.isSafeInteger(c.exp)
  );
}

/**
 * Checks format, then signature (constant time, by Web Crypto), then expiry. The claims are parsed
 * only after the signature holds, so forged JSON never reaches the parser's callers.
 */
export async function verifyRealtimeToken(secret: string, token: string, nowMs: number): Promise<VerifyResult> {
  if (!secret || token.length > MAX_TOKEN_LENGTH) return { ok: false, reason: 'malformed' };
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] !== TOKEN_PREFIX) return { ok: false, reason: 'malformed' };
  const body = fromBase64Url(parts[1]!);
  const sig = fromBase64Url(parts[2]!);
  if (!body || !sig || sig.byteLength !== 32) return { ok: false, reason: 'malformed' };
  const valid = await crypto.subtle.verify('HMAC', await hmacKey(secret, 'verify'), sig, encoder.encode(`${parts[0]}.${parts[1]}`));
  if (!valid) return { ok: false, reason: 'bad_signature' };
  let claims: unknown;
  try {
    claims = JSON.parse(new TextDecoder().decode(body));
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  if (!isClaims(claims)) return { ok: false, reason: 'malformed' };
  if (claims.exp * 1000 <= nowMs) return { ok: false, reason: 'expired' };
  return { ok: true, claims };
}
