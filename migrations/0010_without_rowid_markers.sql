-- id_owners and processed_events are looked up only by their primary key: as WITHOUT ROWID tables the
-- key is the row, so an insert writes one row instead of a row plus its primary-key index entry
-- (D1 bills both). drizzle's schema cannot say WITHOUT ROWID: this migration is hand-written.
CREATE TABLE `id_owners_new` (
	`tenant_id` text NOT NULL,
	`kind` text NOT NULL,
	`id` text NOT NULL,
	`owner` text NOT NULL,
	PRIMARY KEY(`tenant_id`, `kind`, `id`)
) WITHOUT ROWID;
--> statement-breakpoint
INSERT INTO `id_owners_new` (`tenant_id`, `kind`, `id`, `owner`) SELECT `tenant_id`, `kind`, `id`, `owner` FROM `id_owners`;
--> statement-breakpoint
DROP TABLE `id_owners`;
--> statement-breakpoint
ALTER TABLE `id_owners_new` RENAME TO `id_owners`;
--> statement-breakpoint
CREATE INDEX `id_owners_owner` ON `id_owners` (`tenant_id`,`owner`);
--> statement-breakpoint
CREATE TABLE `processed_events_new` (
	`consumer` text NOT NULL,
	`tenant_id` text NOT NULL,
	`event_id` text NOT NULL,
	`processed_at` integer NOT NULL,
	PRIMARY KEY(`consumer`, `tenant_id`, `event_id`)
) WITHOUT ROWID;
--> statement-breakpoint
INSERT INTO `processed_events_new` (`consumer`, `tenant_id`, `event_id`, `processed_at`) SELECT `consumer`, `tenant_id`, `event_id`, `processed_at` FROM `processed_events`;
--> statement-breakpoint
DROP TABLE `processed_events`;
--> statement-breakpoint
ALTER TABLE `processed_events_new` RENAME TO `processed_events`;
