import { describe, expect, it } from 'vitest';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { deterministicUuid } from '../../src/domain/ids';
import { isEventPattern, matchesPattern } from '../../src/domain/event-patterns';
import { matchesContactEvent } from '../../src/domain/webhook-filters';
import { businessTypeFor } from '../../src/domain/webhook-mapping';
import { RETRY_SCHEDULE_SECONDS, classifyStatus, deliveryRetryDelaySeconds, parseRetryAfter } from '../../src/domain/queue-retry';
import { generateSecret, signatureHeader } from '../../src/domain/webhook-signing';
import { webhookUrlProblem } from '../../src/domain/webhook-urls';

describe('domain → business mapping', () => {
  it('renames, hides internal types and passes the rest through', () => {
    expect(businessTypeFor('session.started')).toBe('session.created');
    expect(businessTypeFor('message.created')).toBe('message.received');
    expect(businessTypeFor('session.message_recorded')).toBeNull();
    expect(businessTypeFor('message.ai.process_image_requested')).toBeNull();
    expect(businessTypeFor('cron.cleanup.expired_sessions')).toBeNull();
    expect(businessTypeFor('contact.created')).toBe('contact.created');
    expect(businessTypeFor('campaign.activated')).toBe('campaign.activated');
  });
});

describe('event filters', () => {
  it('matches exact types, prefixes and *', () => {
    expect(matchesPattern('*', 'anything.at_all')).toBe(true);
    expect(matchesPattern('contact.*', 'contact.created')).toBe(true);
    expect(matchesPattern('contact.*', 'contact.tag.added')).toBe(true);
    expect(matchesPattern('contact.*', 'contact_list.created')).toBe(false);
    expect(matchesPattern('contact.created', 'contact.created')).toBe(true);
    expect(matchesPattern('contact.created', 'contact.created_twice')).toBe(false);
    for (const ok of ['*', 'contact.*', 'channel.history_import.*', 'contact.created']) expect(isEventPattern(ok, { allowAll: true })).toBe(true);
    for (const bad of ['', 'contact', 'Contact.created', 'contact.*.x', '**', 'contact.', '*.created']) expect(isEventPattern(bad, { allowAll: true })).toBe(false);
  });

  it('contact events need the opt-in, then filter by type and category', () => {
    const base = { events: ['*'], subscribeContactEvents: false, contactEventTypes: [], contactEventCategories: [] };
    expect(matchesContactEvent(base, { event_type: 'tag_added', category: 'tag' })).toBe(false);
    expect(matchesContactEvent({ ...base, subscribeContactEvents: true }, { event_type: 'tag_added', category: 'tag' })).toBe(true);
    expect(matchesContactEvent({ ...base, subscribeContactEvents: true, contactEventCategories: ['note'] }, { event_type: 'tag_added', category: 'tag' })).toBe(false);
    expect(matchesContactEvent({ ...base, subscribeContactEvents: true, contactEventTypes: ['tag_added'] }, { event_type: 'tag_added', category: 'tag' })).toBe(true);
  });
});

describe('webhook URL rules', () => {
  const refused = [
    'http://example.com/hook',
    'https://127.0.0.1/hook',
    'https://2130706433/hook',
    'https://0x7f.0.0.1/hook',
    'https://0177.0.0.1/hook',
    'https://127.1/hook',
    'https://0/hook',
    'https://[::1]/hook',
    'https://[::]/hook',
    'https://[::ffff:127.0.0.1]/hook',
    'https://[::ffff:a9fe:a9fe]/hook',
    'https://[fd00:ec2::254]/latest',
    'https://[fe80::1]/hook',
    'https://[64:ff9b::10.0.0.1]/hook',
    'https://169.254.169.254/latest/meta-data',
    'https://100.100.100.200/latest',
    'https://10.1.2.3/hook',
    'https://172.20.0.1/hook',
    'https://192.168.0.10/hook',
    'https://localhost/hook',
    'https://LOCALHOST./hook',
    'https://api.localhost/hook',
    'https://metadata.google.internal/computeMetadata/v1',
    'https://printer.local/hook',
    'https://intranet/hook',
    'https://user:pass@example.com/hook',
    'not a url',
    'ftp://example.com/hook',
  ];
  it.each(refused)('refuses %s', (url) => {
    expect(webhookUrlProblem(url, false)).not.toBeNull();
  });

  it('accepts public https URLs', () => {
    for (const url of ['https://example.com/hooks', 'https://hooks.example.co.uk:8443/x?y=1', 'https://8.8.8.8/hook', 'https://[2606:4700::1111]/hook']) {
      expect(webhookUrlProblem(url, false)).toBeNull();
    }
  });

  it('allows http and loopback only when private URLs are allowed', () => {
    expect(webhookUrlProblem('http://127.0.0.1:8080/hook', true)).toBeNull();
    expect(webhookUrlProblem('ftp://127.0.0.1/hook', true)).not.toBeNull();
  });
});

describe('retry schedule', () => {
  it('follows 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h within ±20%', () => {
    expect([...RETRY_SCHEDULE_SECONDS]).toEqual([5, 300, 1800, 7200, 18000, 36000, 36000]);
    RETRY_SCHEDULE_SECONDS.forEach((base, i) => {
      expect(deliveryRetryDelaySeconds(i + 1, 0)).toBe(Math.round(base * 0.8));
      expect(deliveryRetryDelaySeconds(i + 1, 0.999999)).toBe(Math.min(Math.round(base * 1.2), 43200));
    });
    expect(deliveryRetryDelaySeconds(10, 0.5)).toBe(36000);
  });

  it('reads Retry-After as seconds or an HTTP date, clamped to a queue delay', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('120', now)).toBe(120);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:02:00 GMT', now)).toBe(120);
    expect(parseRetryAfter('999999', now)).toBe(43200);
    expect(parseRetryAfter('soon', now)).toBeNull();
    expect(parseRetryAfter(null, now)).toBeNull();
  });

  it('only 2xx succeeds, 410 is gone, everything else retries', () => {
    expect(classifyStatus(200)).toBe('success');
    expect(classifyStatus(204)).toBe('success');
    expect(classifyStatus(301)).toBe('retryable');
    expect(classifyStatus(400)).toBe('retryable');
    expect(classifyStatus(410)).toBe('gone');
    expect(classifyStatus(503)).toBe('retryable');
    expect(classifyStatus(null)).toBe('retryable');
  });
});

describe('signing', () => {
  it('produces signatures the official standardwebhooks library verifies, in workerd', async () => {
    const secret = generateSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const id = await deterministicUuid('x');
    const ts = Math.floor(Date.now() / 1000);
    const body = JSON.stringify({ type: 'contact.created', timestamp: new Date().toISOString(), data: { a: 1 } });
    const header = await signatureHeader([secret], id, ts, body);
    expect(new StandardWebhook(secret).verify(body, { 'webhook-id': id, 'webhook-timestamp': String(ts), 'webhook-signature': header })).toEqual(JSON.parse(body));
    expect(() => new StandardWebhook(generateSecret()).verify(body, { 'webhook-id': id, 'webhook-timestamp': String(ts), 'webhook-signature': header })).toThrow();
    expect(() => new StandardWebhook(secret).verify(`${body} `, { 'webhook-id': id, 'webhook-timestamp': String(ts), 'webhook-signature': header })).toThrow();
  });

  it('derives stable UUIDs', async () => {
    expect(await deterministicUuid('a:b')).toBe(await deterministicUuid('a:b'));
    expect(await deterministicUuid('a:b')).not.toBe(await deterministicUuid('a:c'));
    expect(await deterministicUuid('a:b')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});
