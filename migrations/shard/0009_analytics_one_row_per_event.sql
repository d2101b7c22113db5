-- One rollup row counts a log event and the timeline entry it derives (events, entries), instead of a
-- row per kind: a log event with a derived entry writes one bucket row, not two. Rows of kind 'event'
-- keep their type and source in event_type/source; rows of kind 'contact_event' move theirs to
-- entry_type/entry_source/category. WITHOUT ROWID: a new bucket is one row written (no separate
-- primary-key index). The tenant-fence triggers are recreated with the tables.
CREATE TABLE `__new_analytics_hourly` (
	`tenant_id` text NOT NULL,
	`hour` integer NOT NULL,
	`event_type` text NOT NULL,
	`source` text NOT NULL,
	`entry_type` text NOT NULL,
	`entry_source` text NOT NULL,
	`category` text NOT NULL,
	`events` integer NOT NULL,
	`entries` integer NOT NULL,
	PRIMARY KEY(`tenant_id`, `hour`, `event_type`, `source`, `entry_type`, `entry_source`, `category`)
) WITHOUT ROWID;
--> statement-breakpoint
INSERT INTO `__new_analytics_hourly` (`tenant_id`, `hour`, `event_type`, `source`, `entry_type`, `entry_source`, `category`, `events`, `entries`)
SELECT `tenant_id`, `hour`,
  CASE `kind` WHEN 'event' THEN `event_type` ELSE '' END,
  CASE `kind` WHEN 'event' THEN `source` ELSE '' END,
  CASE `kind` WHEN 'event' THEN '' ELSE `event_type` END,
  CASE `kind` WHEN 'event' THEN '' ELSE `source` END,
  CASE `kind` WHEN 'event' THEN '' ELSE `category` END,
  sum(CASE `kind` WHEN 'event' THEN `count` ELSE 0 END),
  sum(CASE `kind` WHEN 'event' THEN 0 ELSE `count` END)
FROM `analytics_hourly` GROUP BY 1, 2, 3, 4, 5, 6, 7;
--> statement-breakpoint
DROP TABLE `analytics_hourly`;
--> statement-breakpoint
ALTER TABLE `__new_analytics_hourly` RENAME TO `analytics_hourly`;
--> statement-breakpoint
CREATE TRIGGER `fence_analytics_hourly_insert` BEFORE INSERT ON `analytics_hourly` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = NEW.tenant_id) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_analytics_hourly_update` BEFORE UPDATE ON `analytics_hourly` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = NEW.tenant_id) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_analytics_hourly_delete` BEFORE DELETE ON `analytics_hourly` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = OLD.tenant_id AND f.deleting = 0) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TABLE `__new_analytics_daily` (
	`tenant_id` text NOT NULL,
	`day` integer NOT NULL,
	`event_type` text NOT NULL,
	`source` text NOT NULL,
	`entry_type` text NOT NULL,
	`entry_source` text NOT NULL,
	`category` text NOT NULL,
	`events` integer NOT NULL,
	`entries` integer NOT NULL,
	PRIMARY KEY(`tenant_id`, `day`, `event_type`, `source`, `entry_type`, `entry_source`, `category`)
) WITHOUT ROWID;
--> statement-breakpoint
INSERT INTO `__new_analytics_daily` (`tenant_id`, `day`, `event_type`, `source`, `entry_type`, `entry_source`, `category`, `events`, `entries`)
SELECT `tenant_id`, `day`,
  CASE `kind` WHEN 'event' THEN `event_type` ELSE '' END,
  CASE `kind` WHEN 'event' THEN `source` ELSE '' END,
  CASE `kind` WHEN 'event' THEN '' ELSE `event_type` END,
  CASE `kind` WHEN 'event' THEN '' ELSE `source` END,
  CASE `kind` WHEN 'event' THEN '' ELSE `category` END,
  sum(CASE `kind` WHEN 'event' THEN `count` ELSE 0 END),
  sum(CASE `kind` WHEN 'event' THEN 0 ELSE `count` END)
FROM `analytics_daily` GROUP BY 1, 2, 3, 4, 5, 6, 7;
--> statement-breakpoint
DROP TABLE `analytics_daily`;
--> statement-breakpoint
ALTER TABLE `__new_analytics_daily` RENAME TO `analytics_daily`;
--> statement-breakpoint
CREATE TRIGGER `fence_analytics_daily_insert` BEFORE INSERT ON `analytics_daily` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = NEW.tenant_id) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_analytics_daily_update` BEFORE UPDATE ON `analytics_daily` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = NEW.tenant_id) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_analytics_daily_delete` BEFORE DELETE ON `analytics_daily` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = OLD.tenant_id AND f.deleting = 0) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
