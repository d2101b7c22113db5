import { Validator, type Schema } from '@cfworker/json-schema';
import { describe, expect, it } from 'vitest';
import doc from '../../docs/event-types.md?raw';
import { TIMELINE_CATALOG } from '../../src/domain/contact-event-types';
import { eventTypesMarkdown } from '../../src/domain/event-payloads';
import { EVENT_CATALOG } from '../../src/domain/event-types';
import { call, json, newTenant, uuid } from '../support/api';

interface TypeInfo {
  type: string;
  description: string;
  webhook_type: string | null;
  payload_schema: Schema & { properties?: Record<string, { type?: string }> };
}
interface Catalog {
  pattern: string;
  timeline_pattern: string;
  event_types: (TypeInfo & { aggregate: string })[];
  timeline_types: (TypeInfo & { category: string })[];
}

const valid = (schema: Schema, value: unknown) => new Validator(schema, '2020-12', false).validate(value).valid;

describe('GET /event-types: a JSON Schema of each predefined payload', () => {
  it('lists every predefined log and timeline type with its payload schema and webhook type', async () => {
    const t = await newTenant();
    const res = await call('GET', '/api/v1/event-types', { key: t.key });
    expect(res.status).toBe(200);
    const body = await json<Catalog>(res);
    expect(body.event_types.map((e) => e.type)).toEqual(Object.keys(EVENT_CATALOG));
    expect(body.timeline_types.map((e) => e.type)).toEqual(Object.keys(TIMELINE_CATALOG));
    for (const e of [...body.event_types, ...body.timeline_types]) {
      expect(e.payload_schema, e.type).toMatchObject({ type: 'object', properties: expect.any(Object) });
      expect(Object.keys(e.payload_schema.properties!).length, e.type).toBeGreaterThan(0);
      // An empty payload (the default) is valid for every type: the schemas describe, they do not require.
      expect(valid(e.payload_schema, {}), e.type).toBe(true);
    }
    const byType = new Map(body.event_types.map((e) => [e.type, e]));
    expect(byType.get('tag.added')!.payload_schema.properties!.tag).toMatchObject({ type: 'string' });
    expect(byType.get('session.started')!.webhook_type).toBe('session.created');
    expect(byType.get('agent.typing')!.webhook_type).toBeNull();
    expect(byType.get('contact.created')!.webhook_type).toBe('contact.created');
    const timeline = new Map(body.timeline_types.map((e) => [e.type, e]));
    expect(timeline.get('pipeline_stage_changed')).toMatchObject({ category: 'pipeline', webhook_type: 'contact_event.pipeline_stage_changed' });
    expect(new RegExp(body.timeline_pattern).test('pipeline_stage_changed')).toBe(true);

    // The CRM catalog's own examples fit; a field of the wrong type does not; other fields are allowed.
    const pipeline = timeline.get('pipeline_stage_changed')!.payload_schema;
    expect(valid(pipeline, { old_status: 'Lead', new_status: 'Qualified', pipeline_id: uuid() })).toBe(true);
    expect(valid(pipeline, { old_status: 3 })).toBe(false);
    expect(valid(timeline.get('contact_enriched')!.payload_schema, { enrichment_source: 'clearbit', fields_updated: ['company', 'industry'], extra: true })).toBe(true);
    expect(valid(timeline.get('contact_enriched')!.payload_schema, { fields_updated: 'company' })).toBe(false);
    expect(valid(byType.get('message.sent')!.payload_schema, { channel: 'whatsapp', direction: 'outbound' })).toBe(true);
    expect(valid(byType.get('message.sent')!.payload_schema, { direction: 'sideways' })).toBe(false);
  });

  it('does not enforce the schemas; custom types take any payload', async () => {
    const t = await newTenant();
    const offSchema = await call('POST', '/api/v1/events', { key: t.key, body: { event_type: 'tag.added', source: 'manual', payload: { tag: 5 } } });
    expect(offSchema.status).toBe(201);
    const custom = await call('POST', '/api/v1/events', { key: t.key, body: { event_type: 'invoice.paid', source: 'system', payload: { amount: 199.9, lines: [1, 2] } } });
    expect(custom.status).toBe(201);
    const body = await json<Catalog>(await call('GET', '/api/v1/event-types', { key: t.key }));
    expect(body.event_types.some((e) => e.type === 'invoice.paid')).toBe(false);
  });
});

describe('docs/event-types.md', () => {
  it('is the catalog, generated (npm run docs:event-types), and names every predefined type and field', () => {
    expect(doc, 'docs/event-types.md is out of date: run npm run docs:event-types').toBe(eventTypesMarkdown());
    for (const type of [...Object.keys(EVENT_CATALOG), ...Object.keys(TIMELINE_CATALOG)]) expect(doc).toContain(`### \`${type}\``);
    expect(doc).toContain('| `tag` | string |');
    expect(doc).toContain('Webhook deliveries: `session.created`.');
  });
});
