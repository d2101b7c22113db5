-- webhook_attempts keyed by its primary key alone: WITHOUT ROWID, so an attempt is one row written,
-- not a table row and a key index. Its rows are read by that key only (a delivery's attempts, in order).
CREATE TABLE `__new_webhook_attempts` (
	`tenant_id` text NOT NULL,
	`delivery_id` text NOT NULL,
	`attempt` integer NOT NULL,
	`subscription_id` text NOT NULL,
	`event_id` text NOT NULL,
	`status_code` integer,
	`duration_ms` integer NOT NULL,
	`response_body` text,
	`error` text,
	`next_attempt_at` integer,
	`started_at` integer NOT NULL,
	PRIMARY KEY(`tenant_id`, `delivery_id`, `attempt`)
) WITHOUT ROWID;
--> statement-breakpoint
INSERT INTO `__new_webhook_attempts` (`tenant_id`, `delivery_id`, `attempt`, `subscription_id`, `event_id`, `status_code`, `duration_ms`, `response_body`, `error`, `next_attempt_at`, `started_at`)
SELECT `tenant_id`, `delivery_id`, `attempt`, `subscription_id`, `event_id`, `status_code`, `duration_ms`, `response_body`, `error`, `next_attempt_at`, `started_at` FROM `webhook_attempts`;
--> statement-breakpoint
DROP TABLE `webhook_attempts`;
--> statement-breakpoint
ALTER TABLE `__new_webhook_attempts` RENAME TO `webhook_attempts`;
--> statement-breakpoint
-- The tenant fences of migrations/shard/0002_tenant_fences.sql, for the new table.
CREATE TRIGGER `fence_webhook_attempts_insert` BEFORE INSERT ON `webhook_attempts` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = NEW.tenant_id) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_webhook_attempts_update` BEFORE UPDATE ON `webhook_attempts` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = NEW.tenant_id) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_webhook_attempts_delete` BEFORE DELETE ON `webhook_attempts` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = OLD.tenant_id AND f.deleting = 0) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
