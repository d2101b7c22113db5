CREATE TABLE `analytics_daily` (
	`tenant_id` text NOT NULL,
	`kind` text NOT NULL,
	`day` integer NOT NULL,
	`event_type` text NOT NULL,
	`source` text NOT NULL,
	`category` text NOT NULL,
	`count` integer NOT NULL,
	PRIMARY KEY(`tenant_id`, `kind`, `day`, `event_type`, `source`, `category`)
);
--> statement-breakpoint
CREATE TABLE `analytics_hourly` (
	`tenant_id` text NOT NULL,
	`kind` text NOT NULL,
	`hour` integer NOT NULL,
	`event_type` text NOT NULL,
	`source` text NOT NULL,
	`category` text NOT NULL,
	`count` integer NOT NULL,
	PRIMARY KEY(`tenant_id`, `kind`, `hour`, `event_type`, `source`, `category`)
);
--> statement-breakpoint
CREATE TABLE `archives` (
	`tenant_id` text NOT NULL,
	`id` text NOT NULL,
	`key` text NOT NULL,
	`day` integer NOT NULL,
	`first_position` integer NOT NULL,
	`last_position` integer NOT NULL,
	`count` integer NOT NULL,
	`sha256` text NOT NULL,
	`bytes` integer NOT NULL,
	`status` text NOT NULL,
	`created_at` integer NOT NULL,
	`completed_at` integer,
	PRIMARY KEY(`tenant_id`, `id`)
);
--> statement-breakpoint
CREATE INDEX `archives_tenant_day` ON `archives` (`tenant_id`,`day`);--> statement-breakpoint
CREATE INDEX `archives_status` ON `archives` (`tenant_id`,`status`);--> statement-breakpoint
CREATE TABLE `hub_relay_backlog` (
	`tenant_id` text NOT NULL,
	`hub` text NOT NULL,
	`pending` integer NOT NULL,
	`oldest_at` integer,
	`failures` integer NOT NULL,
	`last_error` text,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`tenant_id`, `hub`)
);
