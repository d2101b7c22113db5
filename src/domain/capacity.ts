// Shard capacity: how full a tenant's shard is, and when to act. Pure: the byte counts come from D1.

/** D1's maximum database size (Cloudflare's published limit for a paid account): 10 GB. */
export const SHARD_LIMIT_BYTES = 10 * 1000 ** 3;

/** Past this share of the limit, GET /ops/stats warns: moving tenants takes time, and a full D1 refuses writes. */
export const CAPACITY_WARNING_AT = 0.8;

export interface Capacity {
  shard: number;
  bytes: number;
  limit_bytes: number;
  used: number;
  tenant_bytes: number;
  tenant_share: number;
  warning: string | null;
}

/**
 * `bytes`: the shard's database size; `tenantBytes`: the tenant's row contents there (an estimate
 * without index and page overhead), so `tenant_share` is the tenant's part of the shard, at most 1.
 */
export function capacityOf(shard: number, bytes: number, tenantBytes: number, limit = SHARD_LIMIT_BYTES): Capacity {
  const used = limit > 0 ? bytes / limit : 1;
  const round = (x: number) => Math.round(x * 10_000) / 10_000;
  return {
    shard,
    bytes,
    limit_bytes: limit,
    used: round(used),
    tenant_bytes: tenantBytes,
    tenant_share: bytes > 0 ? round(Math.min(1, tenantBytes / bytes)) : 0,
    warning:
      used >= CAPACITY_WARNING_AT
        ? `Shard ${shard} is ${Math.floor(used * 100)} % full (over ${CAPACITY_WARNING_AT * 100} %): move tenants to another shard (POST /api/v1/admin/tenants/{tenant_id}/move) or add a shard.`
        : null,
  };
}
