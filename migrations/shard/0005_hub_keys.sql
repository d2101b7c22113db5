CREATE TABLE `hub_keys` (
	`tenant_id` text NOT NULL,
	`hash` text NOT NULL,
	`owner` text NOT NULL,
	PRIMARY KEY(`tenant_id`, `hash`)
) WITHOUT ROWID;
--> statement-breakpoint
-- The tenant fences of migrations/shard/0002_tenant_fences.sql, for the new table.
CREATE TRIGGER `fence_hub_keys_insert` BEFORE INSERT ON `hub_keys` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = NEW.tenant_id) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_hub_keys_update` BEFORE UPDATE ON `hub_keys` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = NEW.tenant_id) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_hub_keys_delete` BEFORE DELETE ON `hub_keys` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = OLD.tenant_id AND f.deleting = 0) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
