CREATE TABLE `api_keys` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`name` text NOT NULL,
	`prefix` text NOT NULL,
	`hash` text NOT NULL,
	`created_at` integer NOT NULL,
	`last_used_at` integer,
	`revoked_at` integer,
	FOREIGN KEY (`tenant_id`) REFERENCES `tenants`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `api_keys_prefix` ON `api_keys` (`prefix`);--> statement-breakpoint
CREATE INDEX `api_keys_tenant` ON `api_keys` (`tenant_id`,`created_at`);--> statement-breakpoint
CREATE TABLE `contact_events` (
	`tenant_id` text NOT NULL,
	`id` text NOT NULL,
	`contact_id` text NOT NULL,
	`sequence_number` integer NOT NULL,
	`session_id` text,
	`event_type` text NOT NULL,
	`category` text NOT NULL,
	`priority` text NOT NULL,
	`title` text,
	`description` text,
	`payload` text NOT NULL,
	`metadata` text NOT NULL,
	`source` text NOT NULL,
	`triggered_by` text,
	`integration_source` text,
	`is_realtime` integer NOT NULL,
	`delivered` integer NOT NULL,
	`delivered_at` integer,
	`read` integer NOT NULL,
	`read_at` integer,
	`visible_to_client` integer NOT NULL,
	`visible_to_agent` integer NOT NULL,
	`expires_at` integer,
	`occurred_at` integer NOT NULL,
	`created_at` integer NOT NULL,
	`origin_event_id` text,
	`revision` integer NOT NULL,
	PRIMARY KEY(`tenant_id`, `id`)
);
--> statement-breakpoint
CREATE UNIQUE INDEX `contact_events_seq` ON `contact_events` (`tenant_id`,`contact_id`,`sequence_number`);--> statement-breakpoint
CREATE INDEX `contact_events_type` ON `contact_events` (`tenant_id`,`event_type`,`occurred_at`);--> statement-breakpoint
CREATE INDEX `contact_events_category` ON `contact_events` (`tenant_id`,`category`,`occurred_at`);--> statement-breakpoint
CREATE INDEX `contact_events_session` ON `contact_events` (`tenant_id`,`session_id`,`occurred_at`);--> statement-breakpoint
CREATE INDEX `contact_events_tenant_time` ON `contact_events` (`tenant_id`,`occurred_at`);--> statement-breakpoint
CREATE INDEX `contact_events_expired` ON `contact_events` (`expires_at`) WHERE expires_at IS NOT NULL;--> statement-breakpoint
CREATE TABLE `events` (
	`position` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`tenant_id` text NOT NULL,
	`id` text NOT NULL,
	`event_type` text NOT NULL,
	`source` text NOT NULL,
	`contact_id` text,
	`session_id` text,
	`message_id` text,
	`payload` text NOT NULL,
	`metadata` text NOT NULL,
	`correlation_id` text,
	`causation_id` text,
	`stream_id` text,
	`stream_version` integer,
	`schema_version` integer DEFAULT 1 NOT NULL,
	`timestamp` integer NOT NULL,
	`created_at` integer NOT NULL,
	`idempotency_key` text,
	`request_hash` text
);
--> statement-breakpoint
CREATE UNIQUE INDEX `events_tenant_id` ON `events` (`tenant_id`,`id`);--> statement-breakpoint
CREATE UNIQUE INDEX `events_tenant_idem` ON `events` (`tenant_id`,`idempotency_key`) WHERE idempotency_key IS NOT NULL AND contact_id IS NULL AND stream_id IS NULL;--> statement-breakpoint
CREATE UNIQUE INDEX `events_stream` ON `events` (`tenant_id`,`stream_id`,`stream_version`) WHERE stream_id IS NOT NULL;--> statement-breakpoint
CREATE INDEX `events_tenant_time` ON `events` (`tenant_id`,`timestamp`);--> statement-breakpoint
CREATE INDEX `events_type` ON `events` (`tenant_id`,`event_type`,`timestamp`);--> statement-breakpoint
CREATE INDEX `events_source` ON `events` (`tenant_id`,`source`,`timestamp`);--> statement-breakpoint
CREATE INDEX `events_contact` ON `events` (`tenant_id`,`contact_id`,`timestamp`);--> statement-breakpoint
CREATE INDEX `events_session` ON `events` (`tenant_id`,`session_id`,`timestamp`);--> statement-breakpoint
CREATE INDEX `events_message` ON `events` (`tenant_id`,`message_id`);--> statement-breakpoint
CREATE INDEX `events_correlation` ON `events` (`tenant_id`,`correlation_id`,`position`);--> statement-breakpoint
CREATE TABLE `processed_events` (
	`consumer` text NOT NULL,
	`tenant_id` text NOT NULL,
	`event_id` text NOT NULL,
	`processed_at` integer NOT NULL,
	PRIMARY KEY(`consumer`, `tenant_id`, `event_id`)
);
--> statement-breakpoint
CREATE TABLE `relay_outbox` (
	`tenant_id` text NOT NULL,
	`event_id` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`tenant_id`, `event_id`)
);
--> statement-breakpoint
CREATE INDEX `relay_outbox_created` ON `relay_outbox` (`created_at`);--> statement-breakpoint
CREATE TABLE `tenants` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`settings` text DEFAULT '{}' NOT NULL,
	`created_at` integer NOT NULL
);
