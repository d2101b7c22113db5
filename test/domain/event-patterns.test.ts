import { shardOf } from '../support/api';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { EVENT_PATTERN, isEventPattern, matchesPattern, typeFilter } from '../../src/domain/event-patterns';
import { EventPatternList, NewSubscription } from '../../src/domain/schemas/eventstore';
import { NewWebhook } from '../../src/domain/schemas/webhooks';

const GOOD = ['contact.created', 'contact.*', 'channel.history_import.*', 'a_1.b_2', 'contact.tag.added'];
const BAD = ['', 'contact', 'Contact.created', 'contact.*.x', '**', 'contact.', '*.created', 'contact.cre ated', 'contact.[ab]', 'contact.?'];

describe('the one event-pattern grammar', () => {
  it('is what the log query, the log consumers and the webhook subscriptions accept, the webhooks adding only *', () => {
    for (const p of [...GOOD, ...BAD, '*']) {
      const grammar = EVENT_PATTERN.test(p);
      // The query parameter is a comma-separated list, where an empty item is skipped rather than refused.
      if (p !== '') expect(EventPatternList.safeParse(p).success, p).toBe(grammar);
      expect(NewSubscription.safeParse({ name: 'consumer', event_types: [p] }).success, p).toBe(grammar);
      const webhook = NewWebhook.safeParse({ url: 'https://example.com/hook', events: [p] });
      const webhookFieldOk = !webhook.success ? !webhook.error.issues.some((i) => i.path[0] === 'events') : true;
      expect(webhookFieldOk, p).toBe(grammar || p === '*');
      expect(isEventPattern(p, { allowAll: true }), p).toBe(grammar || p === '*');
    }
  });

  it('matches in memory exactly what the log query matches in SQL (IN for types, GLOB for prefixes)', async () => {
    const types = ['contact.created', 'contact.tag.added', 'contact', 'contact_list.created', 'contactx.created', 'channel.history_import.done', 'a_1.b_2'];
    for (const pattern of GOOD) {
      const f = typeFilter([pattern])!;
      for (const type of types) {
        const row = await (await shardOf(type)).prepare(
          `SELECT (?1 IN (SELECT value FROM json_each(?2)) OR EXISTS (SELECT 1 FROM json_each(?3) AS g WHERE ?1 GLOB g.value)) AS hit`,
        )
          .bind(type, JSON.stringify(f.exact), JSON.stringify(f.globs))
          .first<{ hit: number }>();
        expect(row!.hit === 1, `${pattern} ~ ${type}`).toBe(matchesPattern(pattern, type));
      }
    }
  });
});
