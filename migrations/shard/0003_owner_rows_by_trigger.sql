-- id_owners has no index by owner (one more row written per id): an id's row leaves with the row it points to,
-- and an erase deletes by the ids its hub holds (src/db/erase.ts).
CREATE TRIGGER `events_owner_ad` AFTER DELETE ON `events` BEGIN
  DELETE FROM id_owners WHERE tenant_id = old.tenant_id AND kind = 'event' AND id = old.id;
END;
--> statement-breakpoint
CREATE TRIGGER `contact_events_owner_ad` AFTER DELETE ON `contact_events` BEGIN
  DELETE FROM id_owners WHERE tenant_id = old.tenant_id AND kind = 'entry' AND id = old.id;
END;
