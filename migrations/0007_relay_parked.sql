CREATE TABLE `relay_parked` (
	`tenant_id` text NOT NULL,
	`hub` text NOT NULL,
	`outbox_id` integer NOT NULL,
	`destination` text NOT NULL,
	`kind` text NOT NULL,
	`record_id` text NOT NULL,
	`bytes` integer NOT NULL,
	`reason` text NOT NULL,
	`error` text NOT NULL,
	`parked_at` integer NOT NULL,
	PRIMARY KEY(`tenant_id`, `hub`, `outbox_id`, `destination`)
);
--> statement-breakpoint
CREATE INDEX `relay_parked_time` ON `relay_parked` (`tenant_id`,`parked_at`);