/**
 * The inbox's subscriptions, in its SQLite storage: a socket's attachment (2 KB) cannot hold 500
 * contact ids, and the state must outlive hibernation. `covered` is the socket's place in the
 * contact's history: every agent-visible entry up to it was sent to the socket (or it is catching up
 * to it), so a later push carrying only entries above it is in order with no gap, and anything at or
 * below it is a duplicate.
 */
export const INBOX_SCHEMA = [
  `CREATE TABLE IF NOT EXISTS subs (
     socket_id TEXT NOT NULL,
     contact_id TEXT NOT NULL,
     covered INTEGER NOT NULL,
     PRIMARY KEY (socket_id, contact_id)
   )`,
  `CREATE INDEX IF NOT EXISTS subs_contact ON subs (contact_id)`,
];

export type Sub = {
  socket_id: string;
  contact_id: string;
  covered: number;
};

export class Subscriptions {
  constructor(private readonly sql: SqlStorage) {
    for (const statement of INBOX_SCHEMA) sql.exec(statement);
  }

  get(socketId: string, contactId: string): Sub | null {
    return this.sql.exec<Sub>(`SELECT socket_id, contact_id, covered FROM subs WHERE socket_id = ? AND contact_id = ?`, socketId, contactId).toArray()[0] ?? null;
  }

  count(socketId: string): number {
    return this.sql.exec<{ n: number }>(`SELECT count(*) AS n FROM subs WHERE socket_id = ?`, socketId).one().n;
  }

  ofContact(contactId: string): Sub[] {
    return this.sql.exec<Sub>(`SELECT socket_id, contact_id, covered FROM subs WHERE contact_id = ?`, contactId).toArray();
  }

  /** Contacts of this socket. */
  ofSocket(socketId: string): string[] {
    return this.sql.exec<{ contact_id: string }>(`SELECT contact_id FROM subs WHERE socket_id = ?`, socketId).toArray().map((r) => r.contact_id);
  }

  watched(contactId: string): boolean {
    return this.sql.exec<{ n: number }>(`SELECT count(*) AS n FROM subs WHERE contact_id = ?`, contactId).one().n > 0;
  }

  add(socketId: string, contactId: string, covered: number): void {
    this.sql.exec(`INSERT INTO subs (socket_id, contact_id, covered) VALUES (?, ?, ?)`, socketId, contactId, covered);
  }

  setCovered(socketId: string, contactId: string, covered: number): void {
    this.sql.exec(`UPDATE subs SET covered = ? WHERE socket_id = ? AND contact_id = ?`, covered, socketId, contactId);
  }

  remove(socketId: string, contactId: string): boolean {
    return this.sql.exec(`DELETE FROM subs WHERE socket_id = ? AND contact_id = ?`, socketId, contactId).rowsWritten > 0;
  }

  /** Removes every subscription of a socket; returns its contacts. */
  removeSocket(socketId: string): string[] {
    return this.sql.exec<{ contact_id: string }>(`DELETE FROM subs WHERE socket_id = ? RETURNING contact_id`, socketId).toArray().map((r) => r.contact_id);
  }
}
