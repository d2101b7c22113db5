/**
 * Minting realtime tokens on a tenant's own backend, with one of its signing keys
 * (`POST /api/v1/realtime/signing-keys`): no round trip to Eventline per token. The secret signs;
 * keep this module on the server — a browser gets only the token it returns.
 */
import { SignJWT } from 'jose';

export interface SigningKey {
  /** `rsk_…`, from the create answer; it goes in the token's `kid` header. */
  id: string;
  /** `evlrt_…`, shown once by the create answer. */
  secret: string;
}

export type RealtimeTokenGrant = {
  tenantId: string;
  /** Seconds the token is valid: 1..86,400 (the server refuses more). Default 3,600. */
  ttlSeconds?: number;
} & (
  | ({ contactId: string; scope?: 'contact' } & ({ role: 'agent'; agentId: string; name?: string } | { role: 'client' }))
  /** An agent's inbox (`GET /api/v1/inbox/stream`): no contact; the socket subscribes to contacts. */
  | { scope: 'inbox'; role: 'agent'; agentId: string; name?: string }
);

/**
 * An HS256 JWT with the claims of docs/realtime-tokens.md: `tid`, `cid` (or `scp: "inbox"`), `role`,
 * `sub`, `name`, `iat`, `exp`.
 */
export async function signRealtimeToken(key: SigningKey, grant: RealtimeTokenGrant): Promise<string> {
  const ttl = grant.ttlSeconds ?? 3600;
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > 86_400) throw new RangeError('ttlSeconds must be a whole number from 1 to 86400');
  const agent = grant.role === 'agent' ? grant : null;
  const scope = grant.scope === 'inbox' ? { scp: 'inbox' } : { cid: grant.contactId };
  return new SignJWT({ tid: grant.tenantId, ...scope, role: grant.role, ...(agent?.name ? { name: agent.name } : {}) })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: key.id })
    .setSubject(grant.role === 'agent' ? grant.agentId : grant.contactId)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttl)
    .sign(new TextEncoder().encode(key.secret));
}
