#!/usr/bin/env node
// `node bench/ab-wrk.mjs <rootA> <rootB> [--rounds=3] [--seconds=6] [--state=tmpfs|disk] [--batch] [--pause=s] [--a:VAR=value …] [--b:VAR=value …]`:
// timeline appends/s of two checkouts of Eventline (or of one checkout with two settings), each run as
// `npm start` runs it (its own src/dev/runtime.mjs, assets included, wrangler.toml's [vars]; the rate
// limit off), loaded by wrk exactly as `npm run bench -- --peer` loads them (16 connections, 100
// contacts, bench/peer/post.lua). Both run at once; rounds alternate which goes first (A B, B A, …),
// so that load from anything else on the machine falls on both. Prints each round and the means.
// --batch: the bench's batch load instead (100 entries per request, 4 connections), in events/s.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [rootA, rootB] = process.argv.slice(2).filter((a) => !a.startsWith('--')).map((p) => path.resolve(p));
if (!rootA || !rootB) throw new Error('usage: node bench/ab-wrk.mjs <rootA> <rootB> [--rounds=3] [--seconds=6]');
const arg = (name, def) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? def;
const ROUNDS = Number(arg('rounds', 3));
const SECONDS = Number(arg('seconds', 6));
const STATE = arg('state', 'tmpfs');
const BATCH = process.argv.includes('--batch');
// Between loads: a batch load leaves seconds of relay and consumer work behind it.
const PAUSE_MS = Number(arg('pause', BATCH ? 10 : 3)) * 1000;
const UNIT = BATCH ? 'events/s' : 'appends/s';
const batchBody = JSON.stringify({
  events: Array.from({ length: 100 }, (_, i) => ({ event_type: 'note_added', category: 'note', source: 'agent', title: `Note ${i}`, description: 'bench', payload: { i } })),
});
const overrides = (side) =>
  Object.fromEntries(
    process.argv
      .filter((a) => a.startsWith(`--${side}:`))
      .map((a) => a.slice(4))
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
const postLua = path.join(import.meta.dirname, 'peer', 'post.lua');
const contactOf = (i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;


/** Our workerd children's pids (Miniflare spawns one per runtime). */
function workerdChildren() {
  const pids = new Set();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (stat.includes('(workerd)') && Number(fields[1]) === process.pid) pids.add(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** CPU seconds (user + system, all threads) a process has used so far. */
function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function run(cmd, args, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', () => resolve(out));
  });
}

async function start(root, side) {
  const { startEventline, tempState, applyMigrations } = await import(pathToFileURL(path.join(root, 'src', 'dev', 'runtime.mjs')).href);
  const state = tempState(STATE);
  const admin = randomBytes(12).toString('hex');
  const before = workerdChildren();
  const rt = await startEventline({
    persistRoot: state.dir,
    bindings: { ADMIN_TOKEN: admin, TOKEN_SIGNING_SECRET: randomBytes(12).toString('hex'), RATE_LIMIT_PER_MINUTE: '0', ...overrides(side) },
    stdio(stdout, stderr) {
      stdout.resume();
      stderr.resume();
    },
  });
  const pid = [...workerdChildren()].find((p) => !before.has(p));
  await applyMigrations(rt.mf);
  const res = await fetch(`${rt.url}/api/v1/admin/tenants`, { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: '{"name":"ab"}' });
  const key = (await res.json()).api_key.key;
  for (let i = 0; i < 100; i += 1) {
    const r = await fetch(`${rt.url}/api/v1/contacts/${contactOf(i)}/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: '{"event_type":"note_added","category":"note","source":"agent","title":"warm"}',
    });
    if (r.status !== 201) throw new Error(`${side}: prewarm failed ${r.status} ${await r.text()}`);
  }
  return {
    side,
    async load() {
      const env = { PATH_PREFIX: '/api/v1/contacts/', AUTH: `Bearer ${key}`, ...(BATCH ? { PATH_SUFFIX: '/events/batch', BODY: batchBody } : {}) };
      const cpu0 = pid ? cpuSeconds(pid) : NaN;
      const out = await run('wrk', ['-t2', `-c${BATCH ? 4 : 16}`, `-d${SECONDS}s`, '-s', postLua, rt.url], env);
      const non2xx = Number(out.match(/Non-2xx or 3xx responses:\s+(\d+)/)?.[1] ?? 0);
      // The runtime's CPU per append over the load and the pause after it, which lets its relay and
      // consumers drain (so their work for these appends counts too): less sensitive than appends/s to
      // what else runs on the machine meanwhile.
      await new Promise((r) => setTimeout(r, PAUSE_MS));
      const cpu = pid ? cpuSeconds(pid) - cpu0 : NaN;
      const requests = Number(out.match(/(\d+) requests in/)?.[1] ?? NaN) * (BATCH ? 100 : 1);
      return { rps: Number(out.match(/Requests\/sec:\s+([\d.]+)/)?.[1] ?? NaN) * (BATCH ? 100 : 1), non2xx, usPer: (cpu / requests) * 1e6 };
    },
    async stop() {
      await rt.dispose();
      rmSync(state.dir, { recursive: true, force: true });
    },
  };
}

const a = await start(rootA, 'a');
const b = await start(rootB, 'b');
// Let the warm-up's relay and consumers finish first (each load then waits for its own to drain).
await new Promise((r) => setTimeout(r, PAUSE_MS));
const got = { a: [], b: [] };
const cpu = { a: [], b: [] };
try {
  for (let round = 0; round < ROUNDS; round += 1) {
    for (const s of round % 2 === 0 ? [a, b] : [b, a]) {
      const r = await s.load();
      got[s.side].push(r.rps);
      cpu[s.side].push(r.usPer);
      console.log(`round ${round + 1} ${s.side.toUpperCase()}: ${r.rps.toFixed(1)} ${UNIT}, workerd ${r.usPer.toFixed(1)} µs CPU per event${r.non2xx ? ` (${r.non2xx} non-2xx)` : ''}`);
    }
  }
} finally {
  await a.stop();
  await b.stop();
}
const mean = (xs) => xs.reduce((x, y) => x + y, 0) / xs.length;
console.log(`A ${rootA} ${JSON.stringify(overrides('a'))}: mean ${mean(got.a).toFixed(1)} ${UNIT}, ${mean(cpu.a).toFixed(1)} µs CPU per event`);
console.log(`B ${rootB} ${JSON.stringify(overrides('b'))}: mean ${mean(got.b).toFixed(1)} ${UNIT} (B/A ${(mean(got.b) / mean(got.a)).toFixed(3)}), ${mean(cpu.b).toFixed(1)} µs CPU per event (B/A ${(mean(cpu.b) / mean(cpu.a)).toFixed(3)})`);
