-- relay_outbox keyed by its primary key alone: WITHOUT ROWID (one row written per event, not a table row
-- and a key index), and no index by created_at (one more row written per event). The table only holds
-- events whose queue send has not been confirmed yet, so the sweep cron reads it whole, with no order.
CREATE TABLE `__new_relay_outbox` (
	`tenant_id` text NOT NULL,
	`event_id` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`tenant_id`, `event_id`)
) WITHOUT ROWID;
--> statement-breakpoint
INSERT INTO `__new_relay_outbox` (`tenant_id`, `event_id`, `created_at`) SELECT `tenant_id`, `event_id`, `created_at` FROM `relay_outbox`;
--> statement-breakpoint
DROP TABLE `relay_outbox`;
--> statement-breakpoint
ALTER TABLE `__new_relay_outbox` RENAME TO `relay_outbox`;
--> statement-breakpoint
-- The tenant fences of migrations/shard/0002_tenant_fences.sql, for the new table.
CREATE TRIGGER `fence_relay_outbox_insert` BEFORE INSERT ON `relay_outbox` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = NEW.tenant_id) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_relay_outbox_update` BEFORE UPDATE ON `relay_outbox` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = NEW.tenant_id) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_relay_outbox_delete` BEFORE DELETE ON `relay_outbox` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = OLD.tenant_id AND f.deleting = 0) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
