CREATE TABLE `event_subscriptions` (
	`tenant_id` text NOT NULL,
	`name` text NOT NULL,
	`kind` text DEFAULT 'external' NOT NULL,
	`event_types` text DEFAULT '[]' NOT NULL,
	`checkpoint` integer DEFAULT 0 NOT NULL,
	`status` text DEFAULT 'active' NOT NULL,
	`error_count` integer DEFAULT 0 NOT NULL,
	`last_error` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`tenant_id`, `name`)
);
--> statement-breakpoint
CREATE INDEX `event_subscriptions_kind` ON `event_subscriptions` (`kind`,`status`);--> statement-breakpoint
CREATE TABLE `projection_rows` (
	`tenant_id` text NOT NULL,
	`projection` text NOT NULL,
	`generation` integer NOT NULL,
	`key` text NOT NULL,
	`state` text NOT NULL,
	`event_count` integer NOT NULL,
	`last_position` integer NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`tenant_id`, `projection`, `generation`, `key`)
);
--> statement-breakpoint
CREATE INDEX `projection_rows_updated` ON `projection_rows` (`tenant_id`,`projection`,`generation`,`updated_at`);--> statement-breakpoint
CREATE TABLE `projection_state` (
	`tenant_id` text NOT NULL,
	`name` text NOT NULL,
	`generation` integer DEFAULT 1 NOT NULL,
	`rebuild_generation` integer,
	`rebuild_checkpoint` integer,
	`rebuild_started_at` integer,
	`rebuilt_at` integer,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`tenant_id`, `name`)
);
--> statement-breakpoint
CREATE TABLE `stream_snapshots` (
	`tenant_id` text NOT NULL,
	`stream_id` text NOT NULL,
	`version` integer NOT NULL,
	`state` text NOT NULL,
	`source` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`tenant_id`, `stream_id`, `version`)
);
--> statement-breakpoint
CREATE INDEX `events_tenant_position` ON `events` (`tenant_id`,`position`);