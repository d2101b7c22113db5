/**
 * What a contact hub's sockets and an agent inbox's sockets share: sending without throwing, closing
 * after an error frame, and the rules that end a socket's grant (its token expired, or the key that
 * issued it was revoked).
 */
import { isSigningKeyId } from '../domain/signing-keys';
import { CLOSE, MAX_FRAME_BYTES, frameBytes, problem, type Problem } from './protocol';

export const OPEN = 1;
/** At most one `typing` broadcast per socket per this long. */
export const TYPING_EVERY_MS = 1000;
/**
 * How often a Durable Object with token sockets asks D1 whether their API keys still stand (one read
 * for all its sockets). A revoked key's sockets are closed within this time; opening a new one is
 * refused at once by the Worker (within the key cache's 10 s in other isolates).
 */
export const KEY_CHECK_MS = 30_000;

/** Sends a text frame; false when the socket is closing or gone (its close handler tidies up). */
export function send(ws: WebSocket, frame: string): boolean {
  try {
    ws.send(frame);
    return true;
  } catch {
    return false;
  }
}

/** Sends an `error` frame (already encoded), then closes with `closeCode` when the error is fatal. */
export function sendErrorFrame(ws: WebSocket, frame: string, p: Problem, closeCode?: number): void {
  send(ws, frame);
  if (!closeCode) return;
  try {
    ws.close(closeCode, p.title);
  } catch {
    // Already closed.
  }
}

/**
 * A client message's admission, the same on every socket: at most MAX_FRAME_BYTES (else an error frame
 * and a close), a frame `parse` accepts (else an error frame), and a socket that has its session
 * (else an error frame and a close). Answers the frame and the session, or null once `refuse` has
 * answered the socket.
 */
export function admitMessage<F, A>(
  ws: WebSocket,
  message: string | ArrayBuffer,
  parse: (message: string | ArrayBuffer) => { ok: true; frame: F } | { ok: false; problem: Problem },
  refuse: (p: Problem, closeCode?: number) => void,
): { frame: F; att: A } | null {
  if (ws.readyState !== OPEN) return null;
  const size = typeof message === 'string' ? frameBytes(message) : message.byteLength;
  if (size > MAX_FRAME_BYTES) {
    refuse(problem('frame-too-large', 'Frame too large', 413, `Frames must be at most ${MAX_FRAME_BYTES} bytes.`), CLOSE.frameTooLarge);
    return null;
  }
  const parsed = parse(message);
  if (!parsed.ok) {
    refuse(parsed.problem);
    return null;
  }
  const att = ws.deserializeAttachment() as A | null;
  if (!att) {
    refuse(problem('internal', 'Internal error', 500, 'The socket has no session.'), CLOSE.internal);
    return null;
  }
  return { frame: parsed.frame, att };
}

/** What every socket keeps of its grant. */
export interface Grant {
  /** Token expiry (ms); null: never (API-key sockets). */
  expires_at: number | null;
  /** The key that issued the token; null: none to check. */
  key_id: string | null;
}

export interface GrantScan<A> {
  /** Open sockets whose token expired by `now`. */
  expired: [WebSocket, A][];
  /** The earliest expiry still ahead, or null. */
  nextExpiry: number | null;
  /** The other open sockets by the key that issued their token. */
  byKey: Map<string, [WebSocket, A][]>;
}

/** Sorts open sockets by what ends their grant. */
export function scanGrants<A extends Grant>(sockets: WebSocket[], now: number): GrantScan<A> {
  const scan: GrantScan<A> = { expired: [], nextExpiry: null, byKey: new Map() };
  for (const ws of sockets) {
    const att = ws.deserializeAttachment() as A | null;
    if (!att || ws.readyState !== OPEN) continue;
    if (att.expires_at !== null && att.expires_at <= now) {
      scan.expired.push([ws, att]);
      continue;
    }
    if (att.expires_at !== null) scan.nextExpiry = scan.nextExpiry === null ? att.expires_at : Math.min(scan.nextExpiry, att.expires_at);
    if (att.key_id !== null) scan.byKey.set(att.key_id, [...(scan.byKey.get(att.key_id) ?? []), [ws, att]]);
  }
  return scan;
}

/**
 * The sockets of `byKey` whose key is no longer active (one read for all keys, `activeKeys`), or null
 * when that read failed: the sockets stay and the caller asks again later.
 */
export async function revokedSockets<A>(
  byKey: Map<string, [WebSocket, A][]>,
  activeKeys: (keyIds: string[]) => Promise<string[]>,
  /** What the token opens, for the problem's detail: 'this stream', 'the inbox'. */
  opens: string,
): Promise<{ revoked: [WebSocket, A, Problem][]; kept: number } | null> {
  let active: Set<string>;
  try {
    active = new Set(await activeKeys([...byKey.keys()]));
  } catch (e) {
    console.error(JSON.stringify({ msg: 'socket key check failed', opens, error: String(e) }));
    return null;
  }
  const revoked: [WebSocket, A, Problem][] = [];
  let kept = 0;
  for (const [keyId, sockets] of byKey) {
    if (active.has(keyId)) kept += sockets.length;
    else for (const [ws, att] of sockets) revoked.push([ws, att, keyRevoked(keyId, opens)]);
  }
  return { revoked, kept };
}

/** The problem a socket whose token expired is closed with; `resume` says how to come back. */
export const tokenExpired = (resume: string): Problem =>
  problem('token-expired', 'Token expired', 401, `The realtime token expired: connect again with a new token and ${resume}.`);

function keyRevoked(keyId: string, opens: string): Problem {
  const signing = isSigningKeyId(keyId);
  return problem(
    'key-revoked',
    `${signing ? 'Signing' : 'API'} key revoked`,
    401,
    `The ${signing ? 'signing key' : 'API key'} that issued this realtime token was revoked: the token no longer opens ${opens}.`,
  );
}
