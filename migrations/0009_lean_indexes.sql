DROP INDEX `contact_events_session`;--> statement-breakpoint
CREATE INDEX `contact_events_session` ON `contact_events` (`tenant_id`,`session_id`,`occurred_at`) WHERE session_id IS NOT NULL;--> statement-breakpoint
DROP INDEX `events_contact`;--> statement-breakpoint
DROP INDEX `events_session`;--> statement-breakpoint
DROP INDEX `events_message`;--> statement-breakpoint
DROP INDEX `events_correlation`;--> statement-breakpoint
CREATE INDEX `events_contact` ON `events` (`tenant_id`,`contact_id`,`timestamp`) WHERE contact_id IS NOT NULL;--> statement-breakpoint
CREATE INDEX `events_session` ON `events` (`tenant_id`,`session_id`,`timestamp`) WHERE session_id IS NOT NULL;--> statement-breakpoint
CREATE INDEX `events_message` ON `events` (`tenant_id`,`message_id`,`timestamp`) WHERE message_id IS NOT NULL;--> statement-breakpoint
CREATE INDEX `events_correlation` ON `events` (`tenant_id`,`correlation_id`,`timestamp`) WHERE correlation_id IS NOT NULL;