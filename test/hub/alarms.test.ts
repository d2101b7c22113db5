import { env } from 'cloudflare:workers';
import { runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { contactHubStub } from '../../src/hub';
import { AlarmScheduler } from '../../src/hub/alarms';
import { newTenant, uuid } from '../support/api';
import { appendEntries, closeSocketsAfterEach, connectAs } from '../support/sockets';

const { track } = closeSocketsAfterEach();
const alarmOf = (stub: ReturnType<typeof contactHubStub>) => runInDurableObject(stub, (_hub, state) => state.storage.getAlarm());

// Each setAlarm is billed as a Durable Object row written: the hub sets its one alarm only when it must.
describe("the hub's alarm", () => {
  it('after firing, is armed once, for the earliest time its jobs still want', async () => {
    const set: number[] = [];
    const storage = { setAlarm: async (at: number) => void set.push(at), getAlarm: async () => null } as unknown as DurableObjectStorage;
    const alarms = new AlarmScheduler(storage);
    const now = Date.now();
    await alarms.fire([() => now + 600_000, () => null, async () => now + 30_000]);
    expect(set).toEqual([now + 30_000]);
    await alarms.fire([() => null, () => null]);
    expect(set).toEqual([now + 30_000]);
  });

  it('arms the safety alarm 5 s after a commit when none is due sooner than 30 s', async () => {
    const t = await newTenant();
    const contact = uuid();
    const before = Date.now();
    await appendEntries(t, contact, [{ title: 'one' }]);
    const at = await alarmOf(contactHubStub(env, t.id, contact));
    expect(at).toBeGreaterThanOrEqual(before + 5_000);
    expect(at).toBeLessThanOrEqual(Date.now() + 5_000);
  });

  it('takes an alarm already due within 30 s (a token socket\'s key check) as the safety alarm of a commit', async () => {
    const t = await newTenant();
    const contact = uuid();
    await track(connectAs(t, contact, { role: 'client' }));
    const stub = contactHubStub(env, t.id, contact);
    const keyCheck = await alarmOf(stub);
    expect(keyCheck).toBeGreaterThan(Date.now() + 20_000);
    await appendEntries(t, contact, [{ title: 'one' }, { title: 'two' }]);
    await appendEntries(t, contact, [{ title: 'three' }]);
    expect(await alarmOf(stub)).toBe(keyCheck);
  });
});
