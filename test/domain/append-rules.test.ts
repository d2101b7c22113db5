import { describe, expect, it } from 'vitest';
import { expectedVersionMismatch, matchesExpectedVersion } from '../../src/domain/expected-version';
import { decideAppend } from '../../src/domain/idempotency';
import type { EventRecord } from '../../src/domain/schemas/events';
import { LOG_TO_TIMELINE_SOURCE, deriveTimelineEntry } from '../../src/domain/timeline-derivation';

describe('the expected-version rule', () => {
  it('matches any, no_stream only at 0, stream_exists only above 0, a number only at that version', () => {
    expect([0, 3].map((v) => matchesExpectedVersion(v, 'any'))).toEqual([true, true]);
    expect([0, 3].map((v) => matchesExpectedVersion(v, 'no_stream'))).toEqual([true, false]);
    expect([0, 3].map((v) => matchesExpectedVersion(v, 'stream_exists'))).toEqual([false, true]);
    expect([2, 3, 4].map((v) => matchesExpectedVersion(v, 3))).toEqual([false, true, false]);
  });

  it('says why a version does not match, in the words of the 409', () => {
    expect(expectedVersionMismatch(3, 'any')).toBeNull();
    expect(expectedVersionMismatch(3, 'no_stream')).toBe('The stream already exists at version 3.');
    expect(expectedVersionMismatch(0, 'stream_exists')).toBe('The stream does not exist.');
    expect(expectedVersionMismatch(2, 5)).toBe('Expected version 5, but the stream is at version 2.');
  });
});

describe('the idempotent-append decision', () => {
  const item = { id: 'e1', idempotencyKey: 'k1', requestHash: 'h1' };
  it('is fresh when nothing holds the id or key', () => {
    expect(decideAppend('Event', undefined, item)).toEqual({ kind: 'fresh' });
  });
  it('replays the same body', () => {
    expect(decideAppend('Event', { id: 'e1', request_hash: 'h1' }, item)).toEqual({ kind: 'replay' });
  });
  it('conflicts on another body, naming the id or the key that matched', () => {
    expect(decideAppend('Event', { id: 'e1', request_hash: 'h2' }, item)).toEqual({ kind: 'conflict', detail: 'Event e1 already exists with a different body.' });
    expect(decideAppend('Contact event', { id: 'e0', request_hash: 'h2' }, item)).toEqual({
      kind: 'conflict',
      detail: 'Idempotency key k1 was used with a different body.',
    });
    // A derived entry is stored without a hash: a client's entry under its id is never its replay.
    expect(decideAppend('Contact event', { id: 'e1', request_hash: null }, item).kind).toBe('conflict');
  });
});

describe('deriving a timeline entry from a log event', () => {
  const event = (over: Partial<EventRecord>): EventRecord => ({
    id: 'ev-1',
    event_type: 'session.started',
    source: 'manual',
    contact_id: 'c-1',
    session_id: 's-1',
    message_id: null,
    payload: { title: 'Hello', description: 'First visit' },
    metadata: { user_id: '0b7e2a4c-1f1e-4c1a-9d7e-2a4c1f1e4c1a' },
    stream_id: 'contact-c-1',
    sequence_number: 7,
    schema_version: 1,
    timestamp: '2026-01-02T03:04:05.000Z',
    created_at: '2026-01-02T03:04:06.000Z',
    ...over,
  });

  it('maps a mapped type of a contact to an entry sharing its sequence number, origin and source', () => {
    const entry = deriveTimelineEntry(event({}), 7, Date.parse('2026-01-02T03:04:06.000Z'), 'entry-1');
    expect(entry).toMatchObject({
      id: 'entry-1',
      contact_id: 'c-1',
      sequence_number: 7,
      session_id: 's-1',
      title: 'Hello',
      description: 'First visit',
      source: LOG_TO_TIMELINE_SOURCE.manual,
      triggered_by: '0b7e2a4c-1f1e-4c1a-9d7e-2a4c1f1e4c1a',
      metadata: { origin_event_type: 'session.started' },
      origin_event_id: 'ev-1',
      occurred_at: '2026-01-02T03:04:05.000Z',
      created_at: '2026-01-02T03:04:06.000Z',
    });
    expect(LOG_TO_TIMELINE_SOURCE.manual).toBe('agent');
  });

  it('derives nothing for an event without a contact or of an unmapped type', () => {
    expect(deriveTimelineEntry(event({ contact_id: null }), 7, 0, 'x')).toBeNull();
    expect(deriveTimelineEntry(event({ event_type: 'custom.unmapped_thing' }), 7, 0, 'x')).toBeNull();
  });
});
