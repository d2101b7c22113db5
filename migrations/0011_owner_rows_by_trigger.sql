-- id_owners is read by primary key only; its index by owner (one more row written per id) served only
-- the erase. An id's row now leaves with the row it points to, and an erase deletes by the ids its hub holds.
DROP INDEX `id_owners_owner`;
--> statement-breakpoint
CREATE TRIGGER `events_owner_ad` AFTER DELETE ON `events` BEGIN
  DELETE FROM id_owners WHERE tenant_id = old.tenant_id AND kind = 'event' AND id = old.id;
END;
--> statement-breakpoint
CREATE TRIGGER `contact_events_owner_ad` AFTER DELETE ON `contact_events` BEGIN
  DELETE FROM id_owners WHERE tenant_id = old.tenant_id AND kind = 'entry' AND id = old.id;
END;
