-- contact_events keyed by the hub's own key, (tenant_id, contact_id, sequence_number): the primary key
-- on (tenant_id, id) was an index of ids, one more row written per entry, that no query needs (an id is
-- found through its hub: the hash it carries, or id_owners). Rows keep their rowid, which the full-text
-- index refers to; the triggers go with the old table and are made again below.
CREATE TABLE `__new_contact_events` (
	`tenant_id` text NOT NULL,
	`id` text NOT NULL,
	`contact_id` text NOT NULL,
	`sequence_number` integer NOT NULL,
	`session_id` text,
	`event_type` text NOT NULL,
	`category` text NOT NULL,
	`priority` text NOT NULL,
	`title` text,
	`description` text,
	`payload` text NOT NULL,
	`metadata` text NOT NULL,
	`source` text NOT NULL,
	`triggered_by` text,
	`integration_source` text,
	`is_realtime` integer NOT NULL,
	`delivered` integer NOT NULL,
	`delivered_at` integer,
	`read` integer NOT NULL,
	`read_at` integer,
	`visible_to_client` integer NOT NULL,
	`visible_to_agent` integer NOT NULL,
	`expires_at` integer,
	`occurred_at` integer NOT NULL,
	`created_at` integer NOT NULL,
	`origin_event_id` text,
	`revision` integer NOT NULL
);
--> statement-breakpoint
INSERT INTO `__new_contact_events`("rowid", "tenant_id", "id", "contact_id", "sequence_number", "session_id", "event_type", "category", "priority", "title", "description", "payload", "metadata", "source", "triggered_by", "integration_source", "is_realtime", "delivered", "delivered_at", "read", "read_at", "visible_to_client", "visible_to_agent", "expires_at", "occurred_at", "created_at", "origin_event_id", "revision") SELECT "rowid", "tenant_id", "id", "contact_id", "sequence_number", "session_id", "event_type", "category", "priority", "title", "description", "payload", "metadata", "source", "triggered_by", "integration_source", "is_realtime", "delivered", "delivered_at", "read", "read_at", "visible_to_client", "visible_to_agent", "expires_at", "occurred_at", "created_at", "origin_event_id", "revision" FROM `contact_events`;--> statement-breakpoint
DROP TABLE `contact_events`;--> statement-breakpoint
ALTER TABLE `__new_contact_events` RENAME TO `contact_events`;--> statement-breakpoint
CREATE UNIQUE INDEX `contact_events_seq` ON `contact_events` (`tenant_id`,`contact_id`,`sequence_number`);--> statement-breakpoint
CREATE INDEX `contact_events_type` ON `contact_events` (`tenant_id`,`event_type`,`occurred_at`);--> statement-breakpoint
CREATE INDEX `contact_events_category` ON `contact_events` (`tenant_id`,`category`,`occurred_at`);--> statement-breakpoint
CREATE INDEX `contact_events_session` ON `contact_events` (`tenant_id`,`session_id`,`occurred_at`) WHERE session_id IS NOT NULL;--> statement-breakpoint
CREATE INDEX `contact_events_tenant_time` ON `contact_events` (`tenant_id`,`occurred_at`);--> statement-breakpoint
CREATE INDEX `contact_events_expired` ON `contact_events` (`expires_at`) WHERE expires_at IS NOT NULL;--> statement-breakpoint
CREATE TRIGGER `contact_events_fts_ai` AFTER INSERT ON `contact_events` BEGIN
  INSERT INTO contact_events_fts(rowid, title, description) VALUES (new.rowid, new.title, new.description);
END;
--> statement-breakpoint
CREATE TRIGGER `contact_events_fts_ad` AFTER DELETE ON `contact_events` BEGIN
  INSERT INTO contact_events_fts(contact_events_fts, rowid, title, description) VALUES ('delete', old.rowid, old.title, old.description);
END;
--> statement-breakpoint
CREATE TRIGGER `contact_events_fts_au` AFTER UPDATE OF title, description ON `contact_events`
WHEN old.title IS NOT new.title OR old.description IS NOT new.description BEGIN
  INSERT INTO contact_events_fts(contact_events_fts, rowid, title, description) VALUES ('delete', old.rowid, old.title, old.description);
  INSERT INTO contact_events_fts(rowid, title, description) VALUES (new.rowid, new.title, new.description);
END;
--> statement-breakpoint
CREATE TRIGGER `contact_events_owner_ad` AFTER DELETE ON `contact_events` BEGIN
  DELETE FROM id_owners WHERE tenant_id = old.tenant_id AND kind = 'entry' AND id = old.id;
END;
--> statement-breakpoint
CREATE TRIGGER `fence_contact_events_insert` BEFORE INSERT ON `contact_events` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = NEW.tenant_id) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_contact_events_update` BEFORE UPDATE ON `contact_events` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = NEW.tenant_id) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_contact_events_delete` BEFORE DELETE ON `contact_events` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = OLD.tenant_id AND f.deleting = 0) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
-- The relay's upsert is by key: a different entry at a stored key is refused (and parked by its hub, for
-- operations to see), as the key on (tenant_id, id) refused it.
CREATE TRIGGER `contact_events_key_held` BEFORE UPDATE OF id ON `contact_events` WHEN old.id IS NOT new.id BEGIN
  SELECT RAISE(ABORT, 'UNIQUE constraint failed: contact_events.tenant_id, contact_events.contact_id, contact_events.sequence_number (held by another id)');
END;
--> statement-breakpoint
-- Entries whose id names no registered hub of their contact (ids chosen by clients, or given before the
-- hub's key was registered) were found by this table's index of ids: the owner index holds them now.
INSERT OR IGNORE INTO id_owners (tenant_id, kind, id, owner)
SELECT ce.tenant_id, 'entry', ce.id, 'contact:' || ce.contact_id FROM contact_events AS ce
WHERE NOT (substr(ce.id, 15, 1) = '8' AND EXISTS (SELECT 1 FROM hub_keys AS k WHERE k.tenant_id = ce.tenant_id
  AND k.hash = substr(ce.id, 1, 8) || substr(ce.id, 10, 4) || substr(ce.id, 16, 3) AND k.owner = 'contact:' || ce.contact_id));
