import { env } from 'cloudflare:workers';
import { runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { StreamHub } from '../../src/hub/hub';
import { jsonBytes } from '../../src/domain/json';
import { LIMITS, RECORD_BYTES, entryRecordBytes } from '../../src/domain/limits';
import type { TimelineEntryRecord } from '../../src/domain/schemas/contact-events';
import { MESSAGE_BYTES } from '../../src/queues/messages';
import { call, eventually, json, uuid, shardOf } from '../support/api';
import { expectNothingWritten } from '../support/log';
import { expectProblem } from '../support/problem';
import { outbox, recordedHub } from '../support/relay';

/** JSON escapes a control character as \u0001: six bytes for one character, the worst case per character. */
const CTRL = '\u0001';

/** `base` plus a `pad` string so that the object is exactly `bytes` bytes of JSON. */
function sized(base: Record<string, unknown>, bytes: number): Record<string, unknown> {
  const pad = bytes - jsonBytes({ ...base, pad: '' });
  if (pad < 0) throw new Error('base too large');
  return { ...base, pad: 'x'.repeat(pad) };
}

/** Every field at its limit, in the characters JSON makes largest. */
const worstEntry = () => ({
  event_type: 'note_added',
  category: 'notification',
  priority: 'urgent',
  source: 'integration',
  title: CTRL.repeat(LIMITS.titleLength),
  description: CTRL.repeat(LIMITS.descriptionLength),
  integration_source: CTRL.repeat(100),
  payload: sized({ blob: CTRL.repeat(5000) }, LIMITS.payloadBytes),
  metadata: sized({}, LIMITS.metadataBytes),
});

describe(`Record limit: an event or timeline entry as stored is at most ${RECORD_BYTES} bytes of JSON`, () => {
  it('refuses the largest timeline entry the field limits allow (422 naming the limit), alone and in a batch, and writes nothing', async () => {
    const { t, contact } = await recordedHub();
    const body = worstEntry();
    const bytes = entryRecordBytes(body);
    // The figure the limit is set against: such an entry's record and its queue message.
    console.log(`worst-case timeline entry within the field limits: record ${bytes} bytes (queue message limit ${MESSAGE_BYTES})`);
    expect(bytes).toBeGreaterThan(MESSAGE_BYTES);

    const one = await expectProblem(await call('POST', `/api/v1/contacts/${contact}/events`, { key: t.key, body }), 422, ['(body)']);
    expect(one.errors![0]!.message).toMatch(new RegExp(`would be stored as ${bytes} bytes of JSON: .* at most ${RECORD_BYTES} bytes`));
    const ok = { event_type: 'note_added', category: 'note', source: 'agent' };
    await expectProblem(await call('POST', `/api/v1/contacts/${contact}/events/batch`, { key: t.key, body: { events: [ok, body] } }), 422, ['events.1']);
    await expectNothingWritten(t.id, [contact]);
  });

  it('takes an entry with every field at its limit in plain text, and relays it to D1 and both queues', async () => {
    const { t, contact, stub, rec } = await recordedHub();
    const body = { ...worstEntry(), title: 'x'.repeat(LIMITS.titleLength), description: 'x'.repeat(LIMITS.descriptionLength), integration_source: 'x'.repeat(100), payload: sized({}, LIMITS.payloadBytes) };
    console.log(`timeline entry with every field at its limit in ASCII: record ${entryRecordBytes(body)} bytes`);
    const res = await call('POST', `/api/v1/contacts/${contact}/events`, { key: t.key, body });
    expect(res.status).toBe(201);
    const { id } = await json<{ id: string }>(res);
    await eventually(async () => (await outbox(stub)).pending === 0, { timeoutMs: 5_000 });
    expect(rec.counts.d1.get(id)).toBe(1);
    expect(rec.counts.webhooks.get(id)).toBe(1);
    expect(rec.counts.analytics.get(id)).toBe(1);
  });

  it('the largest log event the field limits allow fits, and so does the timeline entry derived from it (its copied text cut to fit)', async () => {
    const { t, contact, stub, rec } = await recordedHub();
    const payloadTitle = CTRL.repeat(2000);
    const payloadDescription = CTRL.repeat(8000);
    const body = {
      event_type: 'note.added',
      source: 'workflow',
      contact_id: contact,
      session_id: uuid(),
      message_id: uuid(),
      payload: sized({ title: payloadTitle, description: payloadDescription }, LIMITS.payloadBytes),
      metadata: {
        correlation_id: CTRL.repeat(255),
        causation_id: CTRL.repeat(255),
        user_id: CTRL.repeat(255),
        user_agent: CTRL.repeat(1024),
        ip_address: '255.255.255.255',
        custom: sized({}, LIMITS.metadataBytes),
      },
    };
    const res = await call('POST', '/api/v1/events', { key: t.key, body });
    expect(res.status, await res.clone().text()).toBe(201);
    const event = await json<{ id: string }>(res);
    const eventBytes = jsonBytes(event);
    const derived = await runInDurableObject(stub, (hub: StreamHub) =>
      hub.listTimeline({ tenantId: t.id, kind: 'contact', id: contact }, { limit: 10, offset: 0, includeExpired: true }).events,
    );
    expect(derived.length).toBe(1);
    const entry = derived[0] as TimelineEntryRecord;
    const entryBytes = jsonBytes(entry);
    console.log(`largest log event within the field limits: record ${eventBytes} bytes; its derived timeline entry: ${entryBytes} bytes`);
    expect(eventBytes).toBeLessThanOrEqual(RECORD_BYTES);
    expect(entryBytes).toBeLessThanOrEqual(RECORD_BYTES);
    // The copies are cut (title to the field limit, description to fit); the payload keeps the full text.
    expect(entry.title).toBe(payloadTitle.slice(0, LIMITS.titleLength));
    expect(payloadDescription.startsWith(entry.description!)).toBe(true);
    expect(entry.description!.length).toBeLessThan(payloadDescription.length);
    expect(entry.payload.description).toBe(payloadDescription);

    await eventually(async () => (await outbox(stub)).pending === 0, { timeoutMs: 5_000 });
    for (const id of [event.id, entry.id]) {
      expect(rec.counts.d1.get(id), `d1 got ${id}`).toBe(1);
      expect(rec.counts.webhooks.get(id), `webhooks got ${id}`).toBe(1);
      expect(rec.counts.analytics.get(id), `analytics got ${id}`).toBe(1);
    }
    const backlog = await (await shardOf(t.id)).prepare('SELECT count(*) AS n FROM hub_relay_backlog WHERE tenant_id = ?').bind(t.id).first<{ n: number }>();
    expect(backlog!.n).toBe(0);
  });
});
