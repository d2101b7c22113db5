import { it } from 'vitest';
import { newTenant, uuid } from '../support/api';
import { connectInbox, subscribeAll } from '../support/inbox';
import { appendEntries } from '../support/sockets';

it('measures', async () => {
  const t = await newTenant();
  const contacts = Array.from({ length: 200 }, () => uuid());
  for (let i = 0; i < 200; i += 50) await Promise.all(contacts.slice(i, i + 50).map((c) => appendEntries(t, c, Array.from({ length: 20 }, (_, j) => ({ title: `u${j}` })))));
  const inbox = await connectInbox(t, 'ann');
  const t0 = Date.now();
  await subscribeAll(inbox, contacts.map((contact_id) => ({ contact_id, after: 0 })), 30_000);
  const openMs = Date.now() - t0;
  const inbox2 = await connectInbox(t, 'bob');
  const t1 = Date.now();
  await subscribeAll(inbox2, contacts.map((contact_id) => ({ contact_id })), 30_000);
  console.log(JSON.stringify({ live_only_open_ms: Date.now() - t1 }));
  const inbox3 = await connectInbox(t, 'cy');
  const t2 = Date.now();
  await subscribeAll(inbox3, contacts.slice(0, 1).map((contact_id) => ({ contact_id, after: 0 })), 30_000);
  console.log(JSON.stringify({ one_open_ms: Date.now() - t2 }));
  inbox2.close(); inbox3.close();
  const lat: number[] = [];
  for (let i = 0; i < 100; i++) {
    const c = contacts[i % 200]!;
    const before = inbox.frames.length;
    const s = Date.now();
    const p = appendEntries(t, c, [{ title: `live${i}` }]);
    await inbox.until((fs) => { for (let k = before; k < fs.length; k++) { const f = fs[k]!; if (f.type === 'event' && f.contact_id === c) return true; } return false; }, 5000);
    lat.push(Date.now() - s);
    await p;
  }
  lat.sort((a, b) => a - b);
  const q = (p: number) => lat[Math.floor(p * (lat.length - 1))]!.toFixed(2);
  console.log(JSON.stringify({ open_ms: openMs.toFixed(0), events: inbox.events().length, p50: q(0.5), p99: q(0.99), max: q(1) }));
  inbox.close();
}, 120_000);
