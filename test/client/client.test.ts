import { describe, expect, it } from 'vitest';
import { EventlineClient, readByRange, type ConnectionState, type ReadRange, type TimelineEntry } from '../../packages/client/src/realtime';
import { BASE, call, eventually, json, newTenant, uuid, type Tenant } from '../support/api';
import { FetchWebSocket } from '../support/fetch-websocket';

async function token(t: Tenant, contactId: string, role: 'agent' | 'client', agentId = uuid()): Promise<string> {
  const res = await call('POST', '/api/v1/realtime/tokens', {
    key: t.key,
    body: role === 'agent' ? { contact_id: contactId, role, agent_id: agentId, name: 'Ada' } : { contact_id: contactId, role },
  });
  expect(res.status).toBe(201);
  return (await json<{ token: string }>(res)).token;
}

async function append(t: Tenant, contactId: string, n: number, extra: Record<string, unknown> = {}): Promise<TimelineEntry> {
  const res = await call('POST', `/api/v1/contacts/${contactId}/events`, {
    key: t.key,
    body: { event_type: 'note_added', category: 'note', source: 'agent', title: `note ${n}`, visible_to_client: true, ...extra },
  });
  expect(res.status).toBe(201);
  return json<TimelineEntry>(res);
}

function watch(client: EventlineClient) {
  const seen: number[] = [];
  const states: ConnectionState[] = [];
  client.on('entry', (e) => seen.push(e.sequence_number));
  client.on('state', (s) => states.push(s));
  return { seen, states };
}

describe('realtime client against the real hub', () => {
  it('replays history then live entries, each once and in order', async () => {
    const t = await newTenant();
    const contact = uuid();
    for (let i = 1; i <= 5; i++) await append(t, contact, i);
    const client = new EventlineClient({ baseUrl: BASE, token: await token(t, contact, 'agent'), WebSocket: FetchWebSocket });
    const { seen, states } = watch(client);
    client.connect();
    await eventually(async () => seen.length === 5);
    for (let i = 6; i <= 8; i++) await append(t, contact, i);
    await eventually(async () => seen.length === 8);
    expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(states[0]).toBe('connecting');
    expect(states).toContain('open');
    client.close();
    expect(client.state).toBe('closed');
  });

  it('sees every entry exactly once across forced disconnects while entries keep arriving', async () => {
    const t = await newTenant();
    const contact = uuid();
    const client = new EventlineClient({
      baseUrl: BASE,
      token: await token(t, contact, 'client'),
      WebSocket: FetchWebSocket,
      backoff: { initialMs: 5, maxMs: 30 },
    });
    const { seen, states } = watch(client);
    client.connect();
    await eventually(async () => client.state === 'open');
    const total = 60;
    const writer = (async () => {
      for (let i = 1; i <= total; i++) {
        await append(t, contact, i);
        if (i % 20 === 10) client.disconnect();
      }
    })();
    await writer;
    await eventually(async () => seen.length >= total, { timeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 100));
    expect(seen).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(states.filter((s) => s === 'reconnecting').length).toBeGreaterThanOrEqual(3);
    expect(client.lastSequence).toBe(total);
    client.close();
  });

  it('acks what it received, so realtime entries become delivered', async () => {
    const t = await newTenant();
    const contact = uuid();
    const entry = await append(t, contact, 1, { is_realtime: true });
    const client = new EventlineClient({ baseUrl: BASE, token: await token(t, contact, 'client'), WebSocket: FetchWebSocket });
    const { seen } = watch(client);
    client.connect();
    await eventually(async () => seen.length === 1);
    await eventually(async () => {
      const page = await json<{ events: TimelineEntry[] }>(await call('GET', `/api/v1/contacts/${contact}/events`, { key: t.key }));
      return page.events.find((e) => e.id === entry.id)?.delivered === true;
    });
    client.close();
  });

  it('sends read and receives the read receipt; typing reaches the other side', async () => {
    const t = await newTenant();
    const contact = uuid();
    const entry = await append(t, contact, 1);
    const agent = new EventlineClient({ baseUrl: BASE, token: await token(t, contact, 'agent'), WebSocket: FetchWebSocket });
    const customer = new EventlineClient({ baseUrl: BASE, token: await token(t, contact, 'client'), WebSocket: FetchWebSocket });
    const reads: string[] = [];
    const typing: (string | null)[] = [];
    agent.on('read', (r) => reads.push(r.id));
    agent.on('typing', (x) => typing.push(x.role));
    agent.connect();
    customer.connect();
    await eventually(async () => agent.state === 'open' && customer.state === 'open' && agent.lastSequence === 1);
    customer.markRead(entry.id);
    await eventually(async () => reads.includes(entry.id));
    customer.typing();
    await eventually(async () => typing.includes('client'));
    agent.close();
    customer.close();
  });

  it('emits read_range for a mark-read up to a sequence number; readByRange picks exactly the entries the hub marked', async () => {
    const t = await newTenant();
    const contact = uuid();
    const held: TimelineEntry[] = [];
    const agent = new EventlineClient({ baseUrl: BASE, token: await token(t, contact, 'agent'), WebSocket: FetchWebSocket });
    const ranges: ReadRange[] = [];
    agent.on('entry', (e) => held.push(e));
    agent.on('read_range', (r) => ranges.push(r));
    await append(t, contact, 1);
    await append(t, contact, 2, { expires_at: new Date(Date.now() + 300).toISOString() });
    await append(t, contact, 3);
    await append(t, contact, 4);
    agent.connect();
    await eventually(async () => agent.state === 'open' && held.length === 4);
    await new Promise((r) => setTimeout(r, 400));
    const res = await call('POST', `/api/v1/contacts/${contact}/events/mark-read`, { key: t.key, body: { up_to: 3 } });
    expect(await json(res)).toMatchObject({ marked: 2, up_to: 3 });
    await eventually(async () => ranges.length === 1);
    const range = ranges[0]!;
    expect(held.filter((e) => readByRange(e, range)).map((e) => e.sequence_number)).toEqual([1, 3]);
    const hub = await json<{ events: TimelineEntry[] }>(await call('GET', `/api/v1/contacts/${contact}/events?include_expired=true`, { key: t.key }));
    expect(hub.events.filter((e) => e.read).map((e) => e.sequence_number).sort()).toEqual([1, 3]);
    agent.close();
  });

  it('renews an expired token through the token function and resumes without a gap or a repeat', async () => {
    const t = await newTenant();
    const contact = uuid();
    const issued: string[] = [];
    // The first token lives one second; the next ones an hour.
    const fresh = async () => {
      const res = await call('POST', '/api/v1/realtime/tokens', {
        key: t.key,
        body: { contact_id: contact, role: 'client', ttl_seconds: issued.length === 0 ? 1 : 3600 },
      });
      const { token: value } = await json<{ token: string }>(res);
      issued.push(value);
      return value;
    };
    const client = new EventlineClient({ baseUrl: BASE, token: fresh, WebSocket: FetchWebSocket });
    const { seen, states } = watch(client);
    const errors: unknown[] = [];
    client.on('error', (e) => errors.push(e));
    client.connect();
    await eventually(async () => client.state === 'open');
    await append(t, contact, 1);
    await eventually(async () => seen.length === 1);
    // Past the first token's expiry, appends keep coming; the hub closes the socket with 4401.
    await new Promise((r) => setTimeout(r, 1300));
    for (let i = 2; i <= 6; i++) await append(t, contact, i);
    await eventually(async () => seen.length === 6, { timeoutMs: 10_000 });
    expect(seen).toEqual([1, 2, 3, 4, 5, 6]);
    expect(issued.length).toBeGreaterThanOrEqual(2);
    expect(states).toContain('reconnecting');
    expect(client.state).toBe('open');
    expect(errors).toEqual([]);
    client.close();
  });

  it('gives up with an error on a token the hub refuses', async () => {
    const t = await newTenant();
    const contact = uuid();
    const good = await token(t, contact, 'agent');
    const forged = good.slice(0, -4) + (good.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    const client = new EventlineClient({ baseUrl: BASE, token: forged, WebSocket: FetchWebSocket, backoff: { initialMs: 5, maxMs: 10 } });
    const errors: [number, number | undefined, string][] = [];
    client.on('error', (p) => errors.push([p.status, p.close_code, p.detail]));
    client.connect();
    await eventually(async () => client.state === 'closed');
    // The server's own problem, once, with the close code a browser sees too.
    expect(errors).toEqual([[401, 4401, 'The realtime token signature is not valid.']]);
    expect(FetchWebSocket.opened.filter((ws) => ws.url.includes(forged.slice(-10)))).toHaveLength(1);
  });

  it('gives up on a token for another contact (4403), and on a refused fresh token from a token function', async () => {
    const t = await newTenant();
    const contact = uuid();
    const other = uuid();
    const forA = await token(t, contact, 'client');
    const wrong = new EventlineClient({ url: `${BASE}/api/v1/contacts/${other}/stream`, token: forA, WebSocket: FetchWebSocket });
    const wrongErrors: (number | undefined)[] = [];
    wrong.on('error', (p) => wrongErrors.push(p.close_code));
    wrong.connect();
    await eventually(async () => wrong.state === 'closed');
    expect(wrongErrors).toEqual([4403]);

    // A token function whose tokens are refused at once: renewing cannot help, so no retry loop.
    let asked = 0;
    const refusedFn = new EventlineClient({
      baseUrl: BASE,
      token: () => {
        asked += 1;
        return forA.slice(0, -4) + (forA.endsWith('AAAA') ? 'BBBB' : 'AAAA');
      },
      WebSocket: FetchWebSocket,
    });
    refusedFn.connect();
    await eventually(async () => refusedFn.state === 'closed');
    await new Promise((r) => setTimeout(r, 200));
    expect(asked).toBe(1);
  });

  it('resets its resume point when the hub does not know it, and hands over the whole history once', async () => {
    const t = await newTenant();
    const contact = uuid();
    for (let i = 1; i <= 3; i++) await append(t, contact, i);
    // A resume point from somewhere else (stale local state): above the contact's last number.
    const client = new EventlineClient({ baseUrl: BASE, token: await token(t, contact, 'client'), after: 50, WebSocket: FetchWebSocket });
    const { seen } = watch(client);
    const resets: { requested_after: number; last_sequence_number: number }[] = [];
    client.on('reset', (r) => resets.push(r));
    client.connect();
    await eventually(async () => seen.length === 3);
    await append(t, contact, 4);
    await eventually(async () => seen.length === 4);
    expect(resets).toEqual([{ requested_after: 50, last_sequence_number: 3 }]);
    expect(seen).toEqual([1, 2, 3, 4]);
    expect(client.lastSequence).toBe(4);
    client.close();
  });
});
