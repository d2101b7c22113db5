-- A tenant moved away from this shard (tenant_fences): its writes here fail, so that a writer that still
-- resolves this shard from a stale directory cache retries on the new one instead of writing where nobody
-- reads. Deletes are refused too until the move itself deletes the old rows (deleting = 1).
CREATE TRIGGER `fence_contact_events_insert` BEFORE INSERT ON `contact_events` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = NEW.tenant_id) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_contact_events_update` BEFORE UPDATE ON `contact_events` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = NEW.tenant_id) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_contact_events_delete` BEFORE DELETE ON `contact_events` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = OLD.tenant_id AND f.deleting = 0) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_events_insert` BEFORE INSERT ON `events` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = NEW.tenant_id) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_events_update` BEFORE UPDATE ON `events` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = NEW.tenant_id) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_events_delete` BEFORE DELETE ON `events` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = OLD.tenant_id AND f.deleting = 0) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_id_owners_insert` BEFORE INSERT ON `id_owners` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = NEW.tenant_id) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_id_owners_update` BEFORE UPDATE ON `id_owners` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = NEW.tenant_id) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_id_owners_delete` BEFORE DELETE ON `id_owners` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = OLD.tenant_id AND f.deleting = 0) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_log_heads_insert` BEFORE INSERT ON `log_heads` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = NEW.tenant_id) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_log_heads_update` BEFORE UPDATE ON `log_heads` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = NEW.tenant_id) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_log_heads_delete` BEFORE DELETE ON `log_heads` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = OLD.tenant_id AND f.deleting = 0) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_processed_events_insert` BEFORE INSERT ON `processed_events` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = NEW.tenant_id) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_processed_events_update` BEFORE UPDATE ON `processed_events` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = NEW.tenant_id) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_processed_events_delete` BEFORE DELETE ON `processed_events` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = OLD.tenant_id AND f.deleting = 0) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_relay_outbox_insert` BEFORE INSERT ON `relay_outbox` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = NEW.tenant_id) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_relay_outbox_update` BEFORE UPDATE ON `relay_outbox` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = NEW.tenant_id) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_relay_outbox_delete` BEFORE DELETE ON `relay_outbox` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = OLD.tenant_id AND f.deleting = 0) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_event_subscriptions_insert` BEFORE INSERT ON `event_subscriptions` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = NEW.tenant_id) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_event_subscriptions_update` BEFORE UPDATE ON `event_subscriptions` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = NEW.tenant_id) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_event_subscriptions_delete` BEFORE DELETE ON `event_subscriptions` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = OLD.tenant_id AND f.deleting = 0) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_projection_rows_insert` BEFORE INSERT ON `projection_rows` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = NEW.tenant_id) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_projection_rows_update` BEFORE UPDATE ON `projection_rows` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = NEW.tenant_id) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_projection_rows_delete` BEFORE DELETE ON `projection_rows` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = OLD.tenant_id AND f.deleting = 0) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_projection_state_insert` BEFORE INSERT ON `projection_state` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = NEW.tenant_id) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_projection_state_update` BEFORE UPDATE ON `projection_state` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = NEW.tenant_id) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_projection_state_delete` BEFORE DELETE ON `projection_state` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = OLD.tenant_id AND f.deleting = 0) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_stream_snapshots_insert` BEFORE INSERT ON `stream_snapshots` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = NEW.tenant_id) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_stream_snapshots_update` BEFORE UPDATE ON `stream_snapshots` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = NEW.tenant_id) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_stream_snapshots_delete` BEFORE DELETE ON `stream_snapshots` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = OLD.tenant_id AND f.deleting = 0) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_analytics_daily_insert` BEFORE INSERT ON `analytics_daily` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = NEW.tenant_id) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_analytics_daily_update` BEFORE UPDATE ON `analytics_daily` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = NEW.tenant_id) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_analytics_daily_delete` BEFORE DELETE ON `analytics_daily` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = OLD.tenant_id AND f.deleting = 0) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_analytics_hourly_insert` BEFORE INSERT ON `analytics_hourly` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = NEW.tenant_id) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_analytics_hourly_update` BEFORE UPDATE ON `analytics_hourly` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = NEW.tenant_id) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_analytics_hourly_delete` BEFORE DELETE ON `analytics_hourly` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = OLD.tenant_id AND f.deleting = 0) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_archives_insert` BEFORE INSERT ON `archives` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = NEW.tenant_id) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_archives_update` BEFORE UPDATE ON `archives` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = NEW.tenant_id) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_archives_delete` BEFORE DELETE ON `archives` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = OLD.tenant_id AND f.deleting = 0) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_hub_relay_backlog_insert` BEFORE INSERT ON `hub_relay_backlog` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = NEW.tenant_id) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_hub_relay_backlog_update` BEFORE UPDATE ON `hub_relay_backlog` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = NEW.tenant_id) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_hub_relay_backlog_delete` BEFORE DELETE ON `hub_relay_backlog` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = OLD.tenant_id AND f.deleting = 0) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_relay_parked_insert` BEFORE INSERT ON `relay_parked` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = NEW.tenant_id) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_relay_parked_update` BEFORE UPDATE ON `relay_parked` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = NEW.tenant_id) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_relay_parked_delete` BEFORE DELETE ON `relay_parked` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = OLD.tenant_id AND f.deleting = 0) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_webhook_attempts_insert` BEFORE INSERT ON `webhook_attempts` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = NEW.tenant_id) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_webhook_attempts_update` BEFORE UPDATE ON `webhook_attempts` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = NEW.tenant_id) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_webhook_attempts_delete` BEFORE DELETE ON `webhook_attempts` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = OLD.tenant_id AND f.deleting = 0) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_webhook_deliveries_insert` BEFORE INSERT ON `webhook_deliveries` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = NEW.tenant_id) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_webhook_deliveries_update` BEFORE UPDATE ON `webhook_deliveries` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = NEW.tenant_id) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_webhook_deliveries_delete` BEFORE DELETE ON `webhook_deliveries` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = OLD.tenant_id AND f.deleting = 0) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_webhook_subscriptions_insert` BEFORE INSERT ON `webhook_subscriptions` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = NEW.tenant_id) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_webhook_subscriptions_update` BEFORE UPDATE ON `webhook_subscriptions` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = NEW.tenant_id) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
--> statement-breakpoint
CREATE TRIGGER `fence_webhook_subscriptions_delete` BEFORE DELETE ON `webhook_subscriptions` WHEN EXISTS (SELECT 1 FROM tenant_fences f WHERE f.tenant_id = OLD.tenant_id AND f.deleting = 0) BEGIN
  SELECT RAISE(ABORT, 'eventline: tenant moved');
END;
