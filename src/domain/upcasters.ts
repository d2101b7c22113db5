/**
 * Event schema versions and upcasters. Stored
 * events are never rewritten: every read path of the event store passes events through `upcast`,
 * which applies the registered steps from the stored `schema_version` up to the latest one.
 * To evolve an event type: register one `Upcaster` per step (from → from+1), and new writers append
 * with the new `schema_version`.
 */
export interface Upcaster {
  eventType: string;
  from: number;
  to: number;
  /** Pure: the payload at `from` → the payload at `to`. */
  up(payload: Record<string, unknown>): Record<string, unknown>;
}

const str = (v: unknown): string | null => (typeof v === 'string' && v.trim() !== '' ? v.trim() : null);

/**
 * contact.created v1 carried one free-text `name`; v2 splits it into `first_name` and `last_name`
 * (keeping `name` as the display name) and moves `phone`/`email` under the same keys as the
 * contact.phone_set / contact.email_set events (`phone_number`, `email_address`).
 */
export const contactCreatedV1toV2: Upcaster = {
  eventType: 'contact.created',
  from: 1,
  to: 2,
  up(p) {
    const { name, phone, email, ...rest } = p;
    const display = str(name);
    const [first, ...others] = display ? display.split(/\s+/) : [];
    return {
      ...rest,
      name: display,
      first_name: first ?? null,
      last_name: others.length ? others.join(' ') : null,
      phone_number: str(phone),
      email_address: str(email),
    };
  },
};

const REGISTRY: readonly Upcaster[] = [contactCreatedV1toV2];

const byType = new Map<string, Map<number, Upcaster>>();
for (const u of REGISTRY) {
  if (u.to !== u.from + 1) throw new Error(`upcaster ${u.eventType} must step one version (${u.from} → ${u.to})`);
  const steps = byType.get(u.eventType) ?? new Map<number, Upcaster>();
  steps.set(u.from, u);
  byType.set(u.eventType, steps);
}

/** The latest schema version of a type (1 when no upcaster is registered). */
export function latestSchemaVersion(eventType: string): number {
  const steps = byType.get(eventType);
  if (!steps) return 1;
  return Math.max(...[...steps.values()].map((u) => u.to));
}

/** True when events of this type stored at `version` read differently (a fast path for readers). */
export function needsUpcast(eventType: string, version: number): boolean {
  return version < latestSchemaVersion(eventType);
}

/** Applies the registered steps; answers the payload and the version it now has. */
export function upcast(eventType: string, version: number, payload: Record<string, unknown>): { version: number; payload: Record<string, unknown> } {
  const steps = byType.get(eventType);
  let v = version;
  let p = payload;
  while (steps) {
    const step = steps.get(v);
    if (!step) break;
    p = step.up(p);
    v = step.to;
  }
  return { version: v, payload: p };
}

/**
 * An event as every answer and every webhook shows it: upcast to the latest schema version of its type,
 * with the version it was written with beside it. Storage, the relay and the queues keep the stored form.
 */
export function upcastEvent<T extends { event_type: string; schema_version: number; payload: Record<string, unknown> }>(
  e: T,
): T & { stored_schema_version: number } {
  const up = upcast(e.event_type, e.schema_version, e.payload);
  return { ...e, payload: up.payload, schema_version: up.version, stored_schema_version: e.schema_version };
}

/** Every registered step, for GET /api/v1/log/schemas and the docs. */
export function listUpcasters(): { event_type: string; from: number; to: number }[] {
  return REGISTRY.map((u) => ({ event_type: u.eventType, from: u.from, to: u.to }));
}

/** `<event_type>:<version>` of every stored form that reads differently (lets SQL tell which rows need upcasting). */
export function upcastKeys(): string[] {
  return REGISTRY.map((u) => `${u.eventType}:${u.from}`);
}
