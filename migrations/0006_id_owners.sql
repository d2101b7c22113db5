CREATE TABLE `id_owners` (
	`tenant_id` text NOT NULL,
	`kind` text NOT NULL,
	`id` text NOT NULL,
	`owner` text NOT NULL,
	PRIMARY KEY(`tenant_id`, `kind`, `id`)
);
--> statement-breakpoint
CREATE INDEX `id_owners_owner` ON `id_owners` (`tenant_id`,`owner`);