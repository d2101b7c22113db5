import { describe, expect, it } from 'vitest';
import { call, newTenant, uuid } from '../support/api';
import { expectNothingWritten } from '../support/log';
import { expectProblem } from '../support/problem';

const good = (extra: Record<string, unknown> = {}) => ({ event_type: 'message.sent', source: 'system', payload: { n: 1 }, ...extra });

/** POSTs to /api/v1/events a body that must be refused, then checks the problem and that nothing was written. */
async function refused(body: unknown, status: number, paths: string[], opts: { headers?: Record<string, string>; contacts?: string[]; path?: string } = {}) {
  const t = await newTenant();
  const res = await call('POST', opts.path ?? '/api/v1/events', { key: t.key, body, headers: opts.headers });
  const problem = await expectProblem(res, status, paths);
  await expectNothingWritten(t.id, opts.contacts ?? []);
  return problem;
}

describe('bad input on POST /events: 4xx problem+json naming each bad field, nothing written', () => {
  it('malformed JSON → 400', async () => {
    const contact = uuid();
    const p = await refused(`{"event_type":"contact.created","source":"system","contact_id":"${contact}",`, 400, ['(body)'], { contacts: [contact] });
    expect(p.type).toBe('https://eventline.dev/problems/bad-request');
    expect(p.detail).toMatch(/not valid JSON/);
  });

  it('wrong content type → 415', async () => {
    const contact = uuid();
    const p = await refused(JSON.stringify(good({ contact_id: contact })), 415, ['header.content-type'], {
      headers: { 'content-type': 'text/plain' },
      contacts: [contact],
    });
    expect(p.type).toBe('https://eventline.dev/problems/unsupported-media-type');
  });

  it('unknown fields, top level and in metadata → 422', async () => {
    const contact = uuid();
    const p = await refused(good({ contact_id: contact, colour: 'red', metadata: { correlation_id: 'c1', tracing: true } }), 422, ['colour', 'metadata.tracing'], {
      contacts: [contact],
    });
    expect(p.type).toBe('https://eventline.dev/problems/validation');
    expect(p.errors!.find((e) => e.path === 'colour')!.message).toBe('is not a known field');
  });

  it('wrong types → 422 naming every field', async () => {
    await refused({ event_type: 5, source: 'system', payload: 'text', timestamp: 1760000000000, metadata: { user_id: 7 } }, 422, [
      'event_type',
      'payload',
      'timestamp',
      'metadata.user_id',
    ]);
  });

  it('missing required fields → 422', async () => {
    const p = await refused({ payload: {} }, 422, ['event_type', 'source']);
    expect(p.errors!.every((e) => e.message === 'is required')).toBe(true);
  });

  it('bad UUIDs → 422', async () => {
    await refused(good({ id: '42', contact_id: 'not-a-uuid', session_id: '0b6f8a4e-3a52-4c1e-9d35', message_id: 12 }), 422, [
      'id',
      'contact_id',
      'session_id',
      'message_id',
    ]);
  });

  it('bad enum → 422', async () => {
    const p = await refused(good({ source: 'email' }), 422, ['source']);
    expect(p.errors![0]!.message).toMatch(/system, webhook, manual, cron, workflow/);
  });

  it.each([['Contact.Created'], ['contact'], ['contact..created'], ['contact.created.'], ['contact-created.x'], [`a.${'b'.repeat(99)}`], ['']])(
    'bad event type %j → 422',
    async (type) => {
      await refused(good({ event_type: type }), 422, ['event_type']);
    },
  );

  it('a bad timestamp and a bad IP address → 422', async () => {
    await refused(good({ timestamp: '2025-10-10 15:00', metadata: { ip_address: '300.1.1.1' } }), 422, ['timestamp', 'metadata.ip_address']);
  });

  it('body over 1 MiB → 413', async () => {
    const contact = uuid();
    const p = await refused(good({ contact_id: contact, payload: { blob: 'x'.repeat(1024 * 1024) } }), 413, ['(body)'], { contacts: [contact] });
    expect(p.type).toBe('https://eventline.dev/problems/payload-too-large');
  });

  it('body over 1 MiB without a content-length (streamed) → 413', async () => {
    const t = await newTenant();
    const text = JSON.stringify(good({ payload: { blob: 'x'.repeat(1024 * 1024) } }));
    const stream = new Blob([text]).stream();
    const { exports } = await import('cloudflare:workers');
    const res = await exports.default.fetch(
      new Request('http://eventline.test/api/v1/events', {
        method: 'POST',
        headers: { authorization: `Bearer ${t.key}`, 'content-type': 'application/json' },
        body: stream,
        // @ts-expect-error: workerd needs duplex for a streamed request body
        duplex: 'half',
      }),
    );
    await expectProblem(res, 413, ['(body)']);
    await expectNothingWritten(t.id);
  });

  it('payload over 64 KiB → 422', async () => {
    const contact = uuid();
    const p = await refused(good({ contact_id: contact, payload: { blob: 'x'.repeat(64 * 1024) } }), 422, ['payload'], { contacts: [contact] });
    expect(p.errors![0]!.message).toMatch(/65536 bytes/);
  });

  it('metadata.custom over 16 KiB → 422', async () => {
    await refused(good({ metadata: { custom: { blob: 'x'.repeat(16 * 1024) } } }), 422, ['metadata.custom']);
  });

  it('Idempotency-Key over 255 characters → 422', async () => {
    await refused(good(), 422, ['header.idempotency-key'], { headers: { 'idempotency-key': 'k'.repeat(256) } });
  });

  it('an empty JSON body → 400; no body at all → 422 naming the required fields', async () => {
    const t = await newTenant();
    await expectProblem(await call('POST', '/api/v1/events', { key: t.key, headers: { 'content-type': 'application/json' } }), 400, ['(body)']);
    const p = await expectProblem(await call('POST', '/api/v1/events', { key: t.key }), 422, ['event_type', 'source']);
    expect(p.errors!.every((e) => e.message === 'is required')).toBe(true);
    await expectNothingWritten(t.id);
  });
});

describe('bad input on POST /events/batch', () => {
  it('more than 1,000 events → 422', async () => {
    const events = Array.from({ length: 1001 }, () => good());
    const p = await refused({ events }, 422, ['events'], { path: '/api/v1/events/batch' });
    expect(p.errors![0]!.message).toMatch(/at most 1000/);
  });

  it('no events → 422', async () => {
    await refused({ events: [] }, 422, ['events'], { path: '/api/v1/events/batch' });
  });

  it('one bad item in 1,000 (over 10 contacts and no contact) → 422 naming it; nothing written anywhere, hubs included', async () => {
    const contacts = Array.from({ length: 10 }, uuid);
    const events = Array.from({ length: 1000 }, (_, i) => good({ payload: { i }, ...(i % 2 ? { contact_id: contacts[i % 10] } : {}) }));
    events[537] = good({ event_type: 'Not A Type', contact_id: contacts[7] });
    events[938] = good({ source: 'pigeon' });
    await refused({ events }, 422, ['events.537.event_type', 'events.938.source'], { path: '/api/v1/events/batch', contacts });
  });

  it('a repeated client id inside a batch → 422', async () => {
    const id = uuid();
    await refused({ events: [good({ id }), good(), good({ id })] }, 422, ['events.2.id'], { path: '/api/v1/events/batch' });
  });

  it('an unknown field in one item → 422', async () => {
    await refused({ events: [good(), good({ extra: 1 })], more: true }, 422, ['events.1.extra', 'more'], { path: '/api/v1/events/batch' });
  });
});

describe('bad input on reads', () => {
  const get = async (path: string, paths: string[], status = 422) => {
    const t = await newTenant();
    return expectProblem(await call('GET', path, { key: t.key }), status, paths);
  };

  it('from after to → 422 naming both', async () => {
    const p = await get('/api/v1/events?from=2025-10-10&to=2025-10-01', ['query.from', 'query.to']);
    expect(p.detail).toMatch(/after/);
  });

  it('stats: from after to → 422', async () => {
    await get('/api/v1/events/stats?from=2025-10-10T00:00:00Z&to=2025-10-09T00:00:00Z', ['query.from', 'query.to']);
  });

  it.each([['0'], ['1001'], ['-5'], ['ten'], ['2.5']])('limit=%s → 422', async (limit) => {
    await get(`/api/v1/events?limit=${limit}`, ['query.limit']);
  });

  it('bad filters → 422 naming each', async () => {
    await get('/api/v1/events?type=Bad&source=email&contact_id=x&session_id=y&message_id=z&from=yesterday&to=2025-13-45', [
      'query.type',
      'query.source',
      'query.contact_id',
      'query.session_id',
      'query.message_id',
      'query.from',
      'query.to',
    ]);
  });

  it('an unknown query parameter → 422', async () => {
    const p = await get('/api/v1/events?event_type=message.sent', ['query.event_type']);
    expect(p.errors![0]!.message).toBe('is not a known field');
  });

  it('a cursor not issued by the API → 422', async () => {
    await get('/api/v1/events?cursor=bm90LWEtY3Vyc29y', ['query.cursor']);
  });

  it('a bad id in the path → 422', async () => {
    await get('/api/v1/events/not-a-uuid', ['param.event_id']);
  });

  it('count without contact_id or session_id → 422', async () => {
    await get('/api/v1/events/count', ['query.contact_id']);
  });

  it('bad group_by and export format → 422', async () => {
    await get('/api/v1/events/stats?group_by=day', ['query.group_by']);
    await get('/api/v1/events/export?format=xml', ['query.format']);
  });

  it('an unknown event id → 404', async () => {
    await get(`/api/v1/events/${uuid()}`, undefined as unknown as string[], 404);
  });
});
