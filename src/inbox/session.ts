/**
 * The session the Worker verified (token or API key) and hands to the agent's inbox in
 * INBOX_SESSION_HEADER on the internal upgrade request; the inbox trusts it.
 */

/** Set by the Worker on the internal upgrade request (the inbox is reachable only through its binding). */
export const INBOX_SESSION_HEADER = 'x-eventline-inbox-session';

/** What the Worker verified about the caller (token or API key). */
export interface InboxSession {
  tenant_id: string;
  agent_id: string;
  name: string | null;
  /** Token expiry (ms); null for API-key sockets. */
  expires_at: number | null;
  /** The API key or signing key the token lives on: the socket is closed once it is revoked. Null: none to check. */
  key_id: string | null;
}

export function parseInboxSession(header: string | null): InboxSession | null {
  if (!header) return null;
  try {
    const s = JSON.parse(header) as Partial<InboxSession>;
    const str = (v: unknown, max: number) => typeof v === 'string' && v.length > 0 && v.length <= max;
    const valid = str(s.tenant_id, 128) && str(s.agent_id, 128) && (s.name === null || str(s.name, 100)) && (s.expires_at === null || Number.isSafeInteger(s.expires_at)) && (s.key_id === null || str(s.key_id, 128));
    return valid ? (s as InboxSession) : null;
  } catch {
    return null;
  }
}
