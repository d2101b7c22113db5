-- Full-text search over timeline titles and descriptions (GET /api/v1/contact-events/search).
-- External-content FTS5 table kept in step with contact_events by triggers.
CREATE VIRTUAL TABLE `contact_events_fts` USING fts5(title, description, content='contact_events', content_rowid='rowid');
--> statement-breakpoint
CREATE TRIGGER `contact_events_fts_ai` AFTER INSERT ON `contact_events` BEGIN
  INSERT INTO contact_events_fts(rowid, title, description) VALUES (new.rowid, new.title, new.description);
END;
--> statement-breakpoint
CREATE TRIGGER `contact_events_fts_ad` AFTER DELETE ON `contact_events` BEGIN
  INSERT INTO contact_events_fts(contact_events_fts, rowid, title, description) VALUES ('delete', old.rowid, old.title, old.description);
END;
--> statement-breakpoint
CREATE TRIGGER `contact_events_fts_au` AFTER UPDATE OF title, description ON `contact_events` BEGIN
  INSERT INTO contact_events_fts(contact_events_fts, rowid, title, description) VALUES ('delete', old.rowid, old.title, old.description);
  INSERT INTO contact_events_fts(rowid, title, description) VALUES (new.rowid, new.title, new.description);
END;
