CREATE TABLE `realtime_signing_keys` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`name` text NOT NULL,
	`sealed_secret` text NOT NULL,
	`created_at` integer NOT NULL,
	`revoked_at` integer
);
--> statement-breakpoint
CREATE INDEX `realtime_signing_keys_tenant` ON `realtime_signing_keys` (`tenant_id`,`created_at`);