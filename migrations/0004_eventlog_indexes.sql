DROP INDEX `events_message`;--> statement-breakpoint
DROP INDEX `events_correlation`;--> statement-breakpoint
CREATE INDEX `events_idem_any` ON `events` (`tenant_id`,`idempotency_key`) WHERE idempotency_key IS NOT NULL;--> statement-breakpoint
CREATE INDEX `events_message` ON `events` (`tenant_id`,`message_id`,`timestamp`);--> statement-breakpoint
CREATE INDEX `events_correlation` ON `events` (`tenant_id`,`correlation_id`,`timestamp`);