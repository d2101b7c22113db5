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