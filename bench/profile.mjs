#!/usr/bin/env node
// `node bench/profile.mjs [--seconds=6] [--state=tmpfs|disk] [--batch] [--out=dir]`: a CPU profile of the Worker
// (and every other JavaScript isolate workerd runs: Durable Objects share the Worker's) under the load
// bench/ab-wrk.mjs applies (wrk, 16 connections, timeline appends to 100 contacts). The runtime is
// npm start's (src/dev/runtime.mjs) with Miniflare's inspector on; each target's profile is written as
// a .cpuprofile (open it in Chrome DevTools) and its top functions by self time are printed.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { applyMigrations, startEventline, tempState } from '../src/dev/runtime.mjs';

const arg = (name, def) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? def;
const SECONDS = Number(arg('seconds', 6));
const BATCH = process.argv.includes('--batch');
const OUT = path.resolve(arg('out', 'bench/results/profile'));
const INSPECTOR = 9329;
const postLua = path.join(import.meta.dirname, 'peer', 'post.lua');
const contactOf = (i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;

const state = tempState(arg('state', 'tmpfs'));
const admin = randomBytes(12).toString('hex');
const rt = await startEventline({
  persistRoot: state.dir,
  bindings: { ADMIN_TOKEN: admin, TOKEN_SIGNING_SECRET: randomBytes(12).toString('hex'), RATE_LIMIT_PER_MINUTE: '0' },
  stdio(stdout, stderr) {
    stdout.resume();
    stderr.resume();
  },
  shared: { inspectorPort: INSPECTOR },
});
await applyMigrations(rt.mf);
const res = await fetch(`${rt.url}/api/v1/admin/tenants`, { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: '{"name":"profile"}' });
const key = (await res.json()).api_key.key;
for (let i = 0; i < 100; i += 1) {
  await fetch(`${rt.url}/api/v1/contacts/${contactOf(i)}/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: '{"event_type":"note_added","category":"note","source":"agent","title":"warm"}',
  });
}

class Session {
  constructor(url) {
    this.ws = new WebSocket(url);
    this.id = 0;
    this.waiting = new Map();
    this.ws.on('message', (d) => {
      const m = JSON.parse(d);
      if (m.id && this.waiting.has(m.id)) this.waiting.get(m.id)(m);
    });
    this.open = new Promise((r) => this.ws.once('open', r));
  }
  call(method, params = {}) {
    const id = ++this.id;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }
}

const targets = await (await fetch(`http://127.0.0.1:${INSPECTOR}/json`)).json();
const sessions = [];
for (const t of targets) {
  const s = new Session(t.webSocketDebuggerUrl);
  await s.open;
  await s.call('Profiler.enable');
  await s.call('Profiler.setSamplingInterval', { interval: 200 });
  await s.call('Profiler.start');
  sessions.push({ t, s });
}
// --batch: the bench's batch load instead (100 entries per request, 4 connections, as `npm run bench`).
const batchBody = JSON.stringify({
  events: Array.from({ length: 100 }, (_, i) => ({ event_type: 'note_added', category: 'note', source: 'agent', title: `Note ${i}`, description: 'bench', payload: { i } })),
});
const load = { PATH_PREFIX: '/api/v1/contacts/', AUTH: `Bearer ${key}`, ...(BATCH ? { PATH_SUFFIX: '/events/batch', BODY: batchBody } : {}) };
const wrk = await new Promise((resolve) => {
  const child = spawn('wrk', ['-t2', `-c${BATCH ? 4 : 16}`, `-d${SECONDS}s`, '-s', postLua, rt.url], { env: { ...process.env, ...load }, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.on('close', () => resolve(out));
});
console.log(`${BATCH ? 'batch requests' : 'appends'}/s under the profiler: ${wrk.match(/Requests\/sec:\s+([\d.]+)/)?.[1]}`);
mkdirSync(OUT, { recursive: true });
for (const { t, s } of sessions) {
  const { result } = await s.call('Profiler.stop');
  const profile = result.profile;
  const name = (t.title || t.id).replace(/[^\w.-]+/g, '_');
  writeFileSync(path.join(OUT, `${name}.cpuprofile`), JSON.stringify(profile));
  // Self time per function, and per file.
  const dt = new Map();
  for (let i = 0; i < profile.samples.length; i += 1) dt.set(profile.samples[i], (dt.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i] ?? 0));
  const byFn = new Map();
  let total = 0;
  for (const n of profile.nodes) {
    const us = dt.get(n.id) ?? 0;
    total += us;
    const f = n.callFrame;
    const k = `${f.functionName || '(anon)'} ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}`;
    byFn.set(k, (byFn.get(k) ?? 0) + us);
  }
  console.log(`\n== ${t.title} (${(total / 1e6).toFixed(2)} s sampled)`);
  for (const [k, us] of [...byFn].sort((x, y) => y[1] - x[1]).slice(0, 40)) console.log(`${((100 * us) / total).toFixed(1).padStart(5)}%  ${k}`);
  s.ws.close();
}
await rt.dispose();
rmSync(state.dir, { recursive: true, force: true });
