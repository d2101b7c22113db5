import { createRoute, z } from '@hono/zod-openapi';
import { getMove, insertMove, liftFence, type MoveRow } from '../db/moves';
import { shardAt, shardBindings, tenantShard } from '../db/shards';
import { getTenant } from '../db/tenants';
import { problemResponses } from '../domain/schemas/common';
import { iso, isoOrNull } from '../domain/time';
import { requireAdmin } from './auth';
import { router } from './context';
import { conflict, notFound, validationFailed } from './problem';

// Moving a tenant between shards (src/moves/mover.ts says how).
export const adminMoves = router();
adminMoves.use('/admin/*', requireAdmin);

export const Move = z
  .object({
    state: z.enum(['copying', 'syncing', 'verifying', 'switched', 'deleting', 'done', 'failed']).openapi({
      description:
        'copying (rows copied while the tenant keeps appending) → syncing (old shard fenced, changes since brought over) → verifying (every row compared) → switched (the directory names the new shard) → deleting (old rows) → done; failed leaves the tenant where it was.',
    }),
    from_shard: z.number().int(),
    to_shard: z.number().int(),
    copied_rows: z.number().int(),
    repaired_rows: z.number().int().openapi({ description: 'Rows added, changed or deleted after their copy (the sync pass).' }),
    verified_rows: z.number().int(),
    deleted_rows: z.number().int().openapi({ description: 'Rows deleted from the old shard.' }),
    error: z.string().nullable().openapi({ description: 'The last error of a step (it is retried) or why the move failed.' }),
    started_at: z.string(),
    updated_at: z.string(),
    switched_at: z.string().nullable(),
    finished_at: z.string().nullable(),
  })
  .openapi('TenantMove');

export const moveView = (m: MoveRow): z.infer<typeof Move> => ({
  state: m.state,
  from_shard: m.fromShard,
  to_shard: m.toShard,
  copied_rows: m.copiedRows,
  repaired_rows: m.repairedRows,
  verified_rows: m.verifiedRows,
  deleted_rows: m.deletedRows,
  error: m.error,
  started_at: iso(m.startedAt),
  updated_at: iso(m.updatedAt),
  switched_at: isoOrNull(m.switchedAt),
  finished_at: isoOrNull(m.finishedAt),
});

const ENDED = new Set<MoveRow['state']>(['done', 'failed']);

adminMoves.openapi(
  createRoute({
    operationId: 'moveTenant',
    method: 'post',
    path: '/admin/tenants/{tenant_id}/move',
    tags: ['Admin'],
    security: [{ adminToken: [] }],
    summary: 'Move a tenant to another shard (while it keeps appending)',
    description:
      "Copies the tenant's rows to the shard, fences the old one, brings over what changed, verifies every row, switches the directory and deletes the old rows. Positions, ids, webhooks and subscriptions stay as they are. During the switch (seconds) the tenant's D1 writes answer 503 with Retry-After; hubs and queue consumers hold theirs and retry. Progress: GET /admin/tenants.",
    request: {
      params: z.object({ tenant_id: z.string().min(1).max(63) }),
      body: { required: true, content: { 'application/json': { schema: z.strictObject({ shard: z.number().int().min(0) }) } } },
    },
    responses: {
      202: { description: 'Started', content: { 'application/json': { schema: z.object({ move: Move }) } } },
      ...problemResponses(401, 404, 409, 422),
    },
  }),
  async (c) => {
    const { tenant_id } = c.req.valid('param');
    const { shard } = c.req.valid('json');
    const count = shardBindings(c.env).length;
    if (shard >= count) throw validationFailed([{ path: 'shard', message: `must be a shard number below ${count} (wrangler.toml SHARDS)` }]);
    if (!(await getTenant(c.env.DB, tenant_id))) throw notFound(`Tenant ${tenant_id}`);
    const running = await getMove(c.env.DB, tenant_id);
    if (running && !ENDED.has(running.state)) throw conflict(`Tenant ${tenant_id} is already moving (${running.state}).`);
    const from = (await tenantShard(c.env, tenant_id)).index;
    if (from === shard) throw conflict(`Tenant ${tenant_id} is already on shard ${shard}.`);
    // A fence on the target from an earlier move away from it would refuse the copy.
    await liftFence(shardAt(c.env, shard).db, tenant_id);
    await insertMove(c.env.DB, { tenantId: tenant_id, fromShard: from, toShard: shard, now: Date.now() });
    await c.env.TENANT_MOVER.get(c.env.TENANT_MOVER.idFromName(tenant_id)).start(tenant_id);
    return c.json({ move: moveView((await getMove(c.env.DB, tenant_id))!) }, 202);
  },
);
