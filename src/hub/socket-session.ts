import type { RealtimeRole } from '../domain/realtime-token';

/**
 * The session the Worker verified (token or API key) and hands to the hub in SESSION_HEADER on the
 * internal upgrade request; a hub is reachable only through its namespace binding, so that header
 * cannot come from outside.
 */
export const SESSION_HEADER = 'x-eventline-socket-session';

/** What the Worker verified about the caller; the hub trusts it. */
export interface SocketSession {
  tenant_id: string;
  contact_id: string;
  role: RealtimeRole;
  agent_id: string | null;
  name: string | null;
  /** Resume point: entries with a higher sequence are sent first. Null: from now on. */
  after: number | null;
  /** When the realtime token expires (ms since the epoch); null for API-key sockets, which do not. */
  expires_at: number | null;
  /** The key the token lives on (the API key that asked for it, or the tenant's signing key that signed it): the socket is closed once that key is revoked. Null for API-key sockets (checked per request) and keyless tokens. */
  key_id: string | null;
}

export function parseSession(header: string | null): SocketSession | null {
  if (!header) return null;
  try {
    const s = JSON.parse(header) as Partial<SocketSession>;
    const str = (v: unknown, max: number) => typeof v === 'string' && v.length > 0 && v.length <= max;
    const valid =
      str(s.tenant_id, 128) &&
      str(s.contact_id, 128) &&
      (s.role === 'agent' || s.role === 'client') &&
      (s.agent_id === null || str(s.agent_id, 128)) &&
      (s.name === null || str(s.name, 100)) &&
      (s.after === null || (Number.isSafeInteger(s.after) && (s.after as number) >= 0)) &&
      (s.expires_at === null || Number.isSafeInteger(s.expires_at)) &&
      (s.key_id === null || str(s.key_id, 128));
    return valid ? (s as SocketSession) : null;
  } catch {
    return null;
  }
}

