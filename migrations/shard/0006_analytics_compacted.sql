CREATE TABLE `analytics_compacted` (
	`tenant_id` text PRIMARY KEY NOT NULL,
	`through_day` integer NOT NULL
);
--> statement-breakpoint
-- The tenant fences of migrations/shard/0002_tenant_fences.sql, for the new table.
CREATE TRIGGER `fence_analytics_compacted_insert` BEFORE INSERT ON `analytics_compacted` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = NEW.tenant_id) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_analytics_compacted_update` BEFORE UPDATE ON `analytics_compacted` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = NEW.tenant_id) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_analytics_compacted_delete` BEFORE DELETE ON `analytics_compacted` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = OLD.tenant_id AND f.deleting = 0) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
