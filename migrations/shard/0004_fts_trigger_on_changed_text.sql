-- The full-text row is rewritten only when the text changes. `UPDATE OF title, description` fires
-- whenever the upsert's SET names them, which the relay's upsert always does: every receipt (read,
-- delivered) of an entry rewrote its full-text row, two rows written for no change.
DROP TRIGGER `contact_events_fts_au`;
--> statement-breakpoint
CREATE TRIGGER `contact_events_fts_au` AFTER UPDATE OF title, description ON `contact_events`
WHEN old.title IS NOT new.title OR old.description IS NOT new.description BEGIN
  INSERT INTO contact_events_fts(contact_events_fts, rowid, title, description) VALUES ('delete', old.rowid, old.title, old.description);
  INSERT INTO contact_events_fts(rowid, title, description) VALUES (new.rowid, new.title, new.description);
END;
