import { env, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { contactHubStub } from '../../src/hub';
import type { StreamHub } from '../../src/hub/hub';
import { hubName, hubOwnerOf } from '../../src/hub/types';
import { prepareEntry } from '../../src/domain/prepare';
import { uuid } from '../support/api';

describe("A hub's owner is its name", () => {
  it('reads the owner back from the name, stream ids with colons included', () => {
    const owner = { tenantId: 't_1', kind: 'stream' as const, id: 'order-a:b:c' };
    expect(hubOwnerOf(hubName(owner))).toEqual(owner);
    expect(hubOwnerOf(hubName({ tenantId: 't_1', kind: 'contact', id: 'c' }))).toEqual({ tenantId: 't_1', kind: 'contact', id: 'c' });
    expect(hubOwnerOf('no-owner-here')).toBeNull();
  });

  it('refuses a call that names another owner than the hub it reached, and writes nothing', async () => {
    const tenantId = `t_${uuid().replaceAll('-', '').slice(0, 20)}`;
    const contact = uuid();
    const mine = { tenantId, kind: 'contact' as const, id: contact };
    const entry = await prepareEntry({ event_type: 'note_added', category: 'note', source: 'agent', title: 'x' }, { idempotencyKey: null, correlationId: null, now: Date.now() });
    const result = await runInDurableObject(contactHubStub(env, tenantId, contact), (hub: StreamHub) => {
      const refused = [
        { ...mine, id: uuid() },
        { ...mine, tenantId: 't_other' },
        { ...mine, kind: 'stream' as const },
      ].map((other) => {
        try {
          hub.appendEntries(other, [entry]);
          return 'accepted';
        } catch (e) {
          return String(e);
        }
      });
      return { refused, stored: hub.countTimeline(mine, true), version: hub.version(mine) };
    });
    expect(result).toEqual({ refused: Array(3).fill('Error: hub owner mismatch'), stored: 0, version: 0 });
  });
});
