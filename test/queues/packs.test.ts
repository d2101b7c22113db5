import { describe, expect, it } from 'vitest';
import { floorHour } from '../../src/domain/analytics';
import { HOUR_MS } from '../../src/domain/time';
import { PACK_BYTES, packRelayMessages, relayMessageId, unpackRelay, type RelayMessage, type RelayQueueBody } from '../../src/queues/messages';
import { utf8Bytes } from '../../src/domain/json';
import { call, json, newTenant, shardOf, uuid } from '../support/api';
import { ENTRIES_PER_MARKER, entriesCountMessages } from '../../src/domain/relay-message';
import { deliverAnalytics, shuffle } from '../support/analytics';

const event = (tenantId: string, i: number, text = ''): RelayMessage => ({
  kind: 'event',
  tenant_id: tenantId,
  event: {
    id: uuid(), event_type: 'message.sent', source: 'system', contact_id: null, session_id: null, message_id: null,
    payload: { i, text }, metadata: {}, stream_id: null, sequence_number: null, schema_version: 1,
    timestamp: new Date(floorHour(Date.now()) - 3 * HOUR_MS + i).toISOString(), created_at: new Date().toISOString(),
  },
});

describe('relay packs (many records of one tenant in one queue message)', () => {
  it('keep each tenant apart and in order, every record once, each pack under the byte limit', () => {
    // Multi-byte text: 3 bytes per character in UTF-8, so a count of characters would overfill packs.
    const text = '€'.repeat(2_000);
    const records = Array.from({ length: 300 }, (_, i) => event(i % 3 === 0 ? 't_a' : 't_b', i, text));
    const packs = packRelayMessages(records);
    expect(packs.length).toBeGreaterThan(2);
    expect(packs.length).toBeLessThan(records.length / 5);
    for (const body of packs) {
      expect(utf8Bytes(JSON.stringify(body))).toBeLessThanOrEqual(PACK_BYTES + 1_000);
      expect(utf8Bytes(JSON.stringify(body))).toBeLessThanOrEqual(128 * 1024);
      expect(new Set(unpackRelay(body).map((m) => m.tenant_id))).toEqual(new Set([body.tenant_id]));
    }
    for (const tenant of ['t_a', 't_b']) {
      const out = packs.flatMap(unpackRelay).filter((m) => m.tenant_id === tenant).map(relayMessageId);
      expect(out).toEqual(records.filter((m) => m.tenant_id === tenant).map(relayMessageId));
    }
    // A lone record travels as itself.
    const one = event('t_c', 1);
    expect(packRelayMessages([one])).toEqual([one]);
    expect(utf8Bytes('aé€')).toBe(6);
  });

  it('are counted once per record by the analytics consumer, with packs and singles replayed and shuffled', async () => {
    const t = await newTenant();
    const records = Array.from({ length: 150 }, (_, i) => event(t.id, i));
    const packs = packRelayMessages(records);
    expect(packs.every((p) => p.kind === 'pack')).toBe(true);
    for (const round of [1, 2]) {
      const result = await deliverAnalytics(shuffle([...packs, ...records.slice(0, 10 * round)], round));
      expect(result.ackAll).toBe(true);
    }
    const from = new Date(floorHour(Date.now()) - 5 * HOUR_MS).toISOString();
    const to = new Date(Date.now() + HOUR_MS).toISOString();
    const res = await call('GET', `/api/v1/analytics/events?from=${from}&to=${to}&group_by=type`, { key: t.key });
    expect(res.status).toBe(200);
    const body = await json<{ total: number; groups: { key: string; count: number }[] }>(res);
    expect(body.total).toBe(150);
    expect(body.groups).toEqual([{ key: 'message.sent', count: 150 }]);
  });

  it('a malformed record inside a pack, or a malformed pack, is dropped on its own; the rest counts', async () => {
    const t = await newTenant();
    const good = [event(t.id, 1), event(t.id, 2)];
    const pack = { kind: 'pack' as const, tenant_id: t.id, messages: [good[0]!, { kind: 'event', tenant_id: t.id } as unknown as RelayMessage, good[1]!] };
    const broken = { kind: 'pack', tenant_id: t.id, messages: 'not a list' } as unknown as RelayQueueBody;
    expect(unpackRelay(broken)).toEqual([broken]);
    expect((await deliverAnalytics([pack, broken])).ackAll).toBe(true);
    const from = new Date(floorHour(Date.now()) - 5 * HOUR_MS).toISOString();
    const res = await call('GET', `/api/v1/analytics/events?from=${from}&to=${new Date(Date.now() + HOUR_MS).toISOString()}&group_by=type`, { key: t.key });
    expect((await json<{ total: number }>(res)).total).toBe(2);
  });
});

describe("a batch's entries in analytics messages (one processed marker per message)", () => {
  it('count once each, under one marker per message, however often the messages come', async () => {
    const t = await newTenant();
    const at = new Date(floorHour(Date.now()) - 2 * HOUR_MS).toISOString();
    const entries = Array.from({ length: ENTRIES_PER_MARKER + 10 }, () => ({ id: uuid(), event_type: 'note_added', source: 'agent' as const, category: 'note' as const, occurred_at: at }));
    const messages = entriesCountMessages(t.id, entries);
    expect(messages.map((m) => (m.kind === 'contact_events' ? m.contact_events.length : 0))).toEqual([ENTRIES_PER_MARKER, 10]);
    for (const round of [1, 2]) expect((await deliverAnalytics(shuffle([...messages, messages[1]!], round))).ackAll).toBe(true);
    const from = new Date(floorHour(Date.now()) - 5 * HOUR_MS).toISOString();
    const res = await call('GET', `/api/v1/analytics/events?kind=contact_event&from=${from}&to=${new Date(Date.now() + HOUR_MS).toISOString()}&group_by=type`, { key: t.key });
    expect((await json<{ total: number }>(res)).total).toBe(entries.length);
    const markers = await (await shardOf(t.id)).prepare('SELECT event_id FROM processed_events WHERE tenant_id = ? ORDER BY event_id').bind(t.id).all<{ event_id: string }>();
    expect(markers.results.map((m) => m.event_id)).toEqual([entries[0]!.id, entries[ENTRIES_PER_MARKER]!.id].sort());
  });
});
