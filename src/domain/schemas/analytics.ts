import { z } from '@hono/zod-openapi';
import { GROUP_BYS, ROLLUP_KINDS } from '../analytics';
import { SETTING_BOUNDS } from '../settings';

export const AnalyticsQuery = z.object({
  from: z.string().optional().openapi({ description: 'Start (date, ISO date-time or epoch ms), rounded down to the hour. Default: `to` minus 7 days.' }),
  to: z.string().optional().openapi({ description: 'End, exclusive, rounded up to the hour. Default: the end of the current hour.' }),
  group_by: z.enum(GROUP_BYS, { message: `must be one of ${GROUP_BYS.join(', ')}` }).default('type'),
  kind: z.enum(ROLLUP_KINDS, { message: `must be one of ${ROLLUP_KINDS.join(', ')}` }).optional().openapi({
    description: '`event` (the log) or `contact_event` (timeline entries). Default: `contact_event` when grouping or filtering by category, else `event`.',
  }),
  type: z.string().min(1).max(100).optional(),
  source: z.string().min(1).max(50).optional(),
  category: z.string().min(1).max(50).optional(),
});

export const AnalyticsResult = z
  .object({
    from: z.string(),
    to: z.string(),
    kind: z.enum(ROLLUP_KINDS),
    group_by: z.enum(GROUP_BYS),
    total: z.number().int(),
    groups: z.array(z.object({ key: z.string(), count: z.number().int() })),
  })
  .openapi('AnalyticsResult');

const setting = (name: keyof typeof SETTING_BOUNDS, description: string) => {
  const b = SETTING_BOUNDS[name];
  return z
    .number({ message: 'must be a number' })
    .int({ message: 'must be an integer' })
    .min(b.min, { message: `must be at least ${b.min}` })
    .max(b.max, { message: `must be at most ${b.max}` })
    .openapi({ description: `${description} ${b.min}..${b.max}, default ${b.default}.` });
};

export const Settings = z
  .object({
    event_retention_days: setting('event_retention_days', 'Log events older than this are archived to R2 and deleted from D1.'),
    contact_event_expired_grace_days: setting(
      'contact_event_expired_grace_days',
      'Timeline entries expired longer ago than this are deleted by the cleanup cron.',
    ),
  })
  .openapi('Settings');

export const SettingsPatch = z
  .strictObject({
    event_retention_days: setting('event_retention_days', 'null resets to the default.').nullable().optional(),
    contact_event_expired_grace_days: setting('contact_event_expired_grace_days', 'null resets to the default.').nullable().optional(),
  })
  .openapi('SettingsPatch');

export const Archive = z
  .object({
    key: z.string().openapi({ example: 't_abc/2025-10-01/000000000001-000000004711.ndjson.gz' }),
    day: z.string().openapi({ example: '2025-10-01' }),
    count: z.number().int(),
    bytes: z.number().int().openapi({ description: 'Size of the gzip object.' }),
    sha256: z.string().openapi({ description: 'SHA-256 (hex) of the uncompressed NDJSON.' }),
    first_position: z.number().int(),
    last_position: z.number().int(),
    created_at: z.string(),
  })
  .openapi('Archive');

// Always true: every section is read from tables the migrations create. Kept for clients that test it.
const Available = z.literal(true).openapi({ description: 'Always true.' });
const Lag = z.object({ available: Available, items: z.array(z.object({ name: z.string(), lag: z.number().int() })), max_lag: z.number().int() });

export const OpsStats = z
  .object({
    time: z.string(),
    events: z.object({ total: z.number().int(), last_hour: z.number().int().openapi({ description: 'By created_at (arrival in D1).' }) }),
    relay: z.object({
      worker_outbox: z.object({ pending: z.number().int(), oldest_age_ms: z.number().int().nullable() }),
      hubs: z.object({
        backlogged: z.number().int(),
        pending: z.number().int(),
        oldest_age_ms: z.number().int().nullable(),
        details: z.array(z.object({ hub: z.string(), pending: z.number().int(), oldest_age_ms: z.number().int().nullable(), failures: z.number().int(), last_error: z.string().nullable(), reported_at: z.string() })),
        note: z.string(),
      }),
      parked: z.object({
        count: z.number().int(),
        by_reason: z.record(z.string(), z.number().int()).openapi({ description: 'oversized: over the queue message limit; rejected: a deterministic error; failed_alone: failed alone while the destination took other records.' }),
        details: z.array(
          z.object({
            hub: z.string(),
            outbox_id: z.number().int(),
            destination: z.string().openapi({ description: 'd1, webhooks or analytics' }),
            kind: z.string(),
            record_id: z.string(),
            bytes: z.number().int(),
            reason: z.string(),
            error: z.string(),
            parked_at: z.string(),
          }),
        ),
        note: z.string(),
      }),
    }),
    webhook_deliveries: z.object({ available: Available, by_status: z.record(z.string(), z.number().int()), pending: z.number().int(), failed: z.number().int(), dead_lettered: z.number().int() }),
    subscriptions: Lag,
    projections: Lag,
    analytics: z.object({ counted_last_hour: z.number().int().openapi({ description: 'Log events counted by the rollups whose hour bucket is the current hour.' }) }),
    archives: z.object({ objects: z.number().int(), events: z.number().int(), pending: z.number().int() }),
    capacity: z
      .object({
        shard: z.number().int().openapi({ description: "The event-store shard that holds the tenant's data." }),
        bytes: z.number().int().openapi({ description: "The shard's database size (D1's size_after)." }),
        limit_bytes: z.number().int().openapi({ description: "D1's maximum database size, 10 GB." }),
        used: z.number().openapi({ description: 'bytes / limit_bytes.' }),
        tenant_bytes: z.number().int().openapi({ description: "The tenant's log and timeline row contents on the shard (an estimate: without index and page overhead)." }),
        tenant_share: z.number().openapi({ description: 'tenant_bytes / bytes (0…1).' }),
        warning: z.string().nullable().openapi({ description: 'Set once the shard is past 80 % of the limit.' }),
      })
      .openapi({ description: "How full the tenant's shard is." }),
  })
  .openapi('OpsStats');
