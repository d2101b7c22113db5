-- The index of ids leaves out the events a hub sequenced under an id of its form (version 8): they are
-- found by (stream_id, stream_version) instead (src/db/events.ts idIndexed). One row written less per such event.
DROP INDEX `events_tenant_id`;--> statement-breakpoint
CREATE UNIQUE INDEX `events_tenant_id` ON `events` (`tenant_id`,`id`) WHERE stream_id IS NULL OR substr(id, 15, 1) <> '8';