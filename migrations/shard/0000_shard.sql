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
CREATE INDEX `contact_events_session` ON `contact_events` (`tenant_id`,`session_id`,`occurred_at`) WHERE session_id IS NOT NULL;--> statement-breakpoint
CREATE INDEX `contact_events_tenant_time` ON `contact_events` (`tenant_id`,`occurred_at`);--> statement-breakpoint
CREATE INDEX `contact_events_expired` ON `contact_events` (`expires_at`) WHERE expires_at IS NOT NULL;--> statement-breakpoint
CREATE TABLE `events` (
	`tenant_id` text NOT NULL,
	`position` integer NOT NULL,
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
	`request_hash` text,
	PRIMARY KEY(`tenant_id`, `position`)
) WITHOUT ROWID;
--> statement-breakpoint
CREATE UNIQUE INDEX `events_tenant_id` ON `events` (`tenant_id`,`id`);--> statement-breakpoint
CREATE UNIQUE INDEX `events_tenant_idem` ON `events` (`tenant_id`,`idempotency_key`) WHERE idempotency_key IS NOT NULL AND contact_id IS NULL AND stream_id IS NULL;--> statement-breakpoint
CREATE INDEX `events_idem_any` ON `events` (`tenant_id`,`idempotency_key`) WHERE idempotency_key IS NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX `events_stream` ON `events` (`tenant_id`,`stream_id`,`stream_version`) WHERE stream_id IS NOT NULL;--> statement-breakpoint
CREATE INDEX `events_tenant_time` ON `events` (`tenant_id`,`timestamp`);--> statement-breakpoint
CREATE INDEX `events_type` ON `events` (`tenant_id`,`event_type`,`timestamp`);--> statement-breakpoint
CREATE INDEX `events_source` ON `events` (`tenant_id`,`source`,`timestamp`);--> statement-breakpoint
CREATE INDEX `events_contact` ON `events` (`tenant_id`,`contact_id`,`timestamp`) WHERE contact_id IS NOT NULL;--> statement-breakpoint
CREATE INDEX `events_session` ON `events` (`tenant_id`,`session_id`,`timestamp`) WHERE session_id IS NOT NULL;--> statement-breakpoint
CREATE INDEX `events_message` ON `events` (`tenant_id`,`message_id`,`timestamp`) WHERE message_id IS NOT NULL;--> statement-breakpoint
CREATE INDEX `events_correlation` ON `events` (`tenant_id`,`correlation_id`,`timestamp`) WHERE correlation_id IS NOT NULL;--> statement-breakpoint
CREATE TABLE `id_owners` (
	`tenant_id` text NOT NULL,
	`kind` text NOT NULL,
	`id` text NOT NULL,
	`owner` text NOT NULL,
	PRIMARY KEY(`tenant_id`, `kind`, `id`)
) WITHOUT ROWID;
--> statement-breakpoint
CREATE TABLE `log_heads` (
	`tenant_id` text PRIMARY KEY NOT NULL,
	`last_position` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `processed_events` (
	`consumer` text NOT NULL,
	`tenant_id` text NOT NULL,
	`event_id` text NOT NULL,
	`processed_at` integer NOT NULL,
	PRIMARY KEY(`consumer`, `tenant_id`, `event_id`)
) WITHOUT ROWID;
--> statement-breakpoint
CREATE TABLE `relay_outbox` (
	`tenant_id` text NOT NULL,
	`event_id` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`tenant_id`, `event_id`)
);
--> statement-breakpoint
CREATE INDEX `relay_outbox_created` ON `relay_outbox` (`created_at`);--> statement-breakpoint
CREATE TABLE `tenant_fences` (
	`tenant_id` text PRIMARY KEY NOT NULL,
	`moved_to` integer NOT NULL,
	`deleting` integer DEFAULT 0 NOT NULL,
	`fenced_at` integer NOT NULL
);
--> statement-breakpoint
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
--> statement-breakpoint
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
CREATE INDEX `relay_parked_time` ON `relay_parked` (`tenant_id`,`parked_at`);--> statement-breakpoint
CREATE TABLE `webhook_attempts` (
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
);
--> statement-breakpoint
CREATE TABLE `webhook_deliveries` (
	`tenant_id` text NOT NULL,
	`id` text NOT NULL,
	`subscription_id` text NOT NULL,
	`event_id` text NOT NULL,
	`event_type` text NOT NULL,
	`body` text NOT NULL,
	`status` text NOT NULL,
	`generation` integer DEFAULT 1 NOT NULL,
	`generation_attempts` integer DEFAULT 0 NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`lease_until` integer,
	`lease_owner` text,
	`last_status_code` integer,
	`last_error` text,
	`next_attempt_at` integer,
	`dead_lettered_at` integer,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`completed_at` integer,
	PRIMARY KEY(`tenant_id`, `id`)
);
--> statement-breakpoint
CREATE UNIQUE INDEX `webhook_deliveries_event_sub` ON `webhook_deliveries` (`tenant_id`,`event_id`,`subscription_id`);--> statement-breakpoint
CREATE INDEX `webhook_deliveries_sub_time` ON `webhook_deliveries` (`tenant_id`,`subscription_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `webhook_deliveries_sub_status` ON `webhook_deliveries` (`tenant_id`,`subscription_id`,`status`,`created_at`);--> statement-breakpoint
CREATE TABLE `webhook_subscriptions` (
	`tenant_id` text NOT NULL,
	`id` text NOT NULL,
	`name` text NOT NULL,
	`url` text NOT NULL,
	`events` text NOT NULL,
	`subscribe_contact_events` integer NOT NULL,
	`contact_event_types` text NOT NULL,
	`contact_event_categories` text NOT NULL,
	`active` integer NOT NULL,
	`headers` text NOT NULL,
	`secret` text NOT NULL,
	`previous_secret` text,
	`previous_secret_expires_at` integer,
	`retry_count` integer NOT NULL,
	`timeout_seconds` integer NOT NULL,
	`disabled_reason` text,
	`disabled_at` integer,
	`failing_since` integer,
	`last_triggered_at` integer,
	`last_success_at` integer,
	`last_failure_at` integer,
	`success_count` integer DEFAULT 0 NOT NULL,
	`failure_count` integer DEFAULT 0 NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`tenant_id`, `id`)
);
--> statement-breakpoint
CREATE INDEX `webhook_subscriptions_active` ON `webhook_subscriptions` (`tenant_id`,`active`);