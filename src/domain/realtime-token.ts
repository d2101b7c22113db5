/**
 * Realtime tokens: short-lived JWTs (RFC 7519, HS256) that open ONE contact's stream of ONE tenant in
 * ONE role. Browsers cannot set headers on a WebSocket, so the token rides in the query string; that
 * is why it is short-lived and narrow, and why it never holds the API key.
 *
 * A token is signed either by Eventline (POST /realtime/tokens, with TOKEN_SIGNING_SECRET; no `kid`
 * header) or by the tenant's own backend with one of its realtime signing keys (the key's id in the
 * `kid` header). Both carry the same claims; docs/realtime-tokens.md names and explains them.
 * JWT parsing and signature checks are jose's (a maintained library), not ours. Pure: no bindings.
 */
import { SignJWT, decodeProtectedHeader, errors, jwtVerify } from 'jose';

export const DEFAULT_TTL_SECONDS = 3600;
export const MAX_TTL_SECONDS = 86_400;
/** Longest token the verifier will look at (claims are small; this bounds work on garbage input). */
export const MAX_TOKEN_LENGTH = 2048;
/** `iss` of the tokens Eventline signs itself. Not required of tokens a tenant signs. */
export const TOKEN_ISSUER = 'eventline';
/** A tenant's backend clock may run ahead of ours by this much: `iat` up to this far in the future is accepted. */
export const IAT_SKEW_SECONDS = 60;

export type RealtimeRole = 'agent' | 'client';
/** What a token opens: one contact's stream, or one agent's inbox stream. */
export type RealtimeScope = 'contact' | 'inbox';

/** The JWT claims set of a realtime token, as signed. */
export interface RealtimeClaims {
  iss?: string;
  /** The agent id (role agent); the contact id (role client). */
  sub?: string;
  iat: number;
  exp: number;
  /** Tenant id. */
  tid: string;
  /**
   * Contact id (a UUID): the stream the token opens. Absent from an inbox token (`scp: "inbox"`),
   * which opens the agent's inbox stream and no contact's stream.
   */
  cid?: string;
  /** `inbox`: the token opens the agent's inbox stream (role agent only). Absent: a contact's stream. */
  scp?: 'inbox';
  role: RealtimeRole;
  /** The agent's display name (role agent only), shown in presence and typing frames. */
  name?: string;
  /**
   * The API key that asked Eventline for the token. A token lives on its key: once the key is revoked
   * the token opens no socket, and the sockets it opened are closed. Only in tokens Eventline signs.
   */
  akid?: string;
}

/** What a verified token grants, in the words of the rest of the code. */
export interface RealtimeGrant {
  tenantId: string;
  /** The contact whose stream the token opens; null for an inbox token. */
  contactId: string | null;
  scope: RealtimeScope;
  role: RealtimeRole;
  agentId: string | null;
  name: string | null;
  apiKeyId: string | null;
  /** Epoch seconds. */
  iat: number;
  exp: number;
}

export type VerifyFailure = 'malformed' | 'bad_signature' | 'expired' | 'invalid_claims';
export type VerifyResult = { ok: true; claims: RealtimeGrant } | { ok: false; reason: VerifyFailure; detail?: string };

const encoder = new TextEncoder();
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const HS256 = 'HS256';

/** Signs claims for `ttlSeconds` from `nowMs`, with Eventline's own secret (no `kid`). */
export async function signRealtimeToken(
  secret: string,
  grant: { tenantId: string; contactId: string | null; role: RealtimeRole; agentId?: string | null; name?: string | null; keyId?: string | null },
  ttlSeconds: number,
  nowMs: number,
  header: { kid?: string } = {},
): Promise<{ token: string; claims: RealtimeClaims }> {
  if (!secret) throw new Error('realtime token secret is empty');
  if (grant.contactId === null && (grant.role !== 'agent' || !grant.agentId)) throw new Error('an inbox token is for one agent');
  const iat = Math.floor(nowMs / 1000);
  const claims: RealtimeClaims = {
    iss: TOKEN_ISSUER,
    sub: grant.role === 'agent' && grant.agentId ? grant.agentId : (grant.contactId ?? undefined),
    iat,
    exp: iat + ttlSeconds,
    tid: grant.tenantId,
    ...(grant.contactId === null ? { scp: 'inbox' as const } : { cid: grant.contactId }),
    role: grant.role,
  };
  if (grant.role === 'agent' && grant.name) claims.name = grant.name;
  if (grant.keyId) claims.akid = grant.keyId;
  const token = await new SignJWT({ ...claims })
    .setProtectedHeader({ alg: HS256, typ: 'JWT', ...(header.kid ? { kid: header.kid } : {}) })
    .sign(encoder.encode(secret));
  return { token, claims };
}

/**
 * The `kid` header: the tenant signing key that signed the token; null when there is none (Eventline
 * signed it); undefined when the token is not a JWT at all. Read before the signature is checked,
 * only to pick the key to check it with.
 */
export function tokenKeyId(token: string): string | null | undefined {
  if (token.length > MAX_TOKEN_LENGTH || token.split('.').length !== 3) return undefined;
  try {
    const { kid } = decodeProtectedHeader(token);
    if (kid === undefined) return null;
    return typeof kid === 'string' && kid.length > 0 && kid.length <= 128 ? kid : undefined;
  } catch {
    return undefined;
  }
}

const isStr = (v: unknown, max: number): v is string => typeof v === 'string' && v.length > 0 && v.length <= max;

/** The claims beyond what jose checks (signature, alg, exp, nbf), with the first wrong one named. */
function grantOf(p: Record<string, unknown>, nowSec: number): RealtimeGrant | string {
  if (!isStr(p.tid, 128)) return 'tid must be the tenant id';
  if (p.scp !== undefined && p.scp !== 'inbox') return 'scp, when given, must be inbox';
  const inbox = p.scp === 'inbox';
  if (inbox && p.cid !== undefined) return 'cid must be absent from an inbox token (scp inbox)';
  if (!inbox && (typeof p.cid !== 'string' || !UUID.test(p.cid))) return 'cid must be the contact id (a UUID)';
  const contactId = typeof p.cid === 'string' ? p.cid.toLowerCase() : null;
  if (p.role !== 'agent' && p.role !== 'client') return 'role must be agent or client';
  // A client sees one contact; an inbox spans an agent's many.
  if (inbox && p.role !== 'agent') return 'an inbox token (scp inbox) is for role agent only';
  if (p.role === 'agent' && !isStr(p.sub, 128)) return 'sub must be the agent id (1-128 characters) for role agent';
  if (p.role === 'client' && p.sub !== undefined && (typeof p.sub !== 'string' || p.sub.toLowerCase() !== contactId)) {
    return 'sub, when given for role client, must be the contact id (cid)';
  }
  if (p.name !== undefined && (p.role !== 'agent' || !isStr(p.name, 100))) return 'name is for role agent only, 1-100 characters';
  if (p.akid !== undefined && !isStr(p.akid, 128)) return 'akid must be an API key id';
  const iat = p.iat as number;
  const exp = p.exp as number;
  if (!Number.isSafeInteger(iat) || !Number.isSafeInteger(exp)) return 'iat and exp must be whole epoch seconds';
  if (iat > nowSec + IAT_SKEW_SECONDS) return 'iat is in the future';
  if (exp - iat > MAX_TTL_SECONDS) return `exp must be at most ${MAX_TTL_SECONDS} seconds after iat`;
  return {
    tenantId: p.tid,
    contactId,
    scope: inbox ? 'inbox' : 'contact',
    role: p.role,
    agentId: p.role === 'agent' ? (p.sub as string) : null,
    name: typeof p.name === 'string' ? p.name : null,
    apiKeyId: typeof p.akid === 'string' ? p.akid : null,
    iat,
    exp,
  };
}

/**
 * Checks the JWT with jose (HS256 only, signature in constant time by Web Crypto, `exp` and `nbf`
 * with no leeway, as the hub closes a socket at `exp` exactly), then Eventline's claims. The claims
 * are looked at only after the signature holds, so forged JSON never reaches the callers.
 */
export async function verifyRealtimeToken(secret: string, token: string, nowMs: number): Promise<VerifyResult> {
  if (!secret || token.length > MAX_TOKEN_LENGTH) return { ok: false, reason: 'malformed' };
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(token, encoder.encode(secret), { algorithms: [HS256], requiredClaims: ['iat', 'exp'], currentDate: new Date(nowMs) }));
  } catch (e) {
    if (e instanceof errors.JWSSignatureVerificationFailed) return { ok: false, reason: 'bad_signature' };
    if (e instanceof errors.JWTExpired) return { ok: false, reason: 'expired' };
    if (e instanceof errors.JWTClaimValidationFailed) return { ok: false, reason: 'invalid_claims', detail: e.message };
    return { ok: false, reason: 'malformed' };
  }
  const grant = grantOf(payload, Math.floor(nowMs / 1000));
  return typeof grant === 'string' ? { ok: false, reason: 'invalid_claims', detail: grant } : { ok: true, claims: grant };
}
