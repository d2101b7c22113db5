import type { EventRecord } from '../domain/schemas/events';
import { upcast } from '../domain/upcasters';

export type StoredEventRecord = Omit<EventRecord, 'position'> & { position: number | null; stored_schema_version: number };

/** A committed event as the event store serves it: upcast to its latest schema version (storage untouched). */
export function storedEvent(e: EventRecord, position: number | null): StoredEventRecord {
  const up = upcast(e.event_type, e.schema_version, e.payload);
  return { ...e, payload: up.payload, schema_version: up.version, stored_schema_version: e.schema_version, position };
}
