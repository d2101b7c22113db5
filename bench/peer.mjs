// `npm run bench -- --peer`: Eventline side by side with the architecture it replaces — a PostgreSQL 15
// transactional outbox with a NOTIFY trigger, a LISTEN relay and a Node WebSocket hub (bench/peer/) —
// loaded the same way in the same run, so that every figure reads as a ratio:
// - appends/s: wrk, 2 threads, 16 connections, timeline appends to 100 contacts (bench/peer/post.lua);
// - append → frame p50/p99: 300 sequential appends to one contact, each timed until its frame arrives
//   on a WebSocket subscribed to that contact (bench/peer/latency.mjs, the same client for both);
// - the floors: a no-op request on each server, and the minimal Durable Object probes
//   (bench/probe-minimal.mjs: one commit; one commit and the hand-off to a batcher): what the local
//   runtime itself allows.
// Rounds alternate which system goes first, so that load from anything else on the machine (it is
// shared) falls on both. Needs `wrk` and PostgreSQL 15 (Debian: apt-get install wrk postgresql; the
// bench installs them when run as root) and the peer's node_modules (installed here with npm ci).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { round, run, runProbe } from './lib.mjs';

const here = import.meta.dirname;
const peerDir = path.join(here, 'peer');
const ROUNDS = Number(process.argv.find((a) => a.startsWith('--rounds='))?.slice(9) ?? 2);
const WRK_SECONDS = Number(process.argv.find((a) => a.startsWith('--wrk-seconds='))?.slice(14) ?? 8);
const LATENCY_N = 300;
const contactOf = (i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;

function has(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).status === 0;
}

function ensureTools() {
  const missing = [];
  if (!has('wrk')) missing.push('wrk');
  if (!has('pg_ctlcluster')) missing.push('postgresql');
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) throw new Error(`--peer needs ${missing.join(' and ')}: sudo apt-get install -y ${missing.join(' ')}`);
  process.stderr.write(`Installing ${missing.join(', ')} with apt-get…\n`);
  const r = spawnSync('apt-get', ['install', '-y', ...missing], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (r.status !== 0) throw new Error(`apt-get install ${missing.join(' ')} failed`);
}

async function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function startPeer() {
  if (process.getuid?.() !== 0) throw new Error('--peer starts PostgreSQL with bench/peer/setup-pg.sh, which needs root');
  const setup = spawnSync('bash', [path.join(peerDir, 'setup-pg.sh')], { encoding: 'utf8' });
  if (setup.status !== 0) throw new Error(`setup-pg.sh failed:\n${setup.stdout}\n${setup.stderr}`);
  if (!existsSync(path.join(peerDir, 'node_modules', 'pg'))) {
    process.stderr.write('Installing the peer server\'s dependencies (npm ci in bench/peer)…\n');
    const ci = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: peerDir, stdio: ['ignore', 'ignore', 'inherit'] });
    if (ci.status !== 0) throw new Error('npm ci in bench/peer failed');
  }
  const port = await freePort();
  const child = spawn(process.execPath, [path.join(peerDir, 'server.mjs')], { cwd: peerDir, env: { ...process.env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/noop`)).ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the peer server did not start:\n${log}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return { url, stop: () => child.kill('SIGTERM') };
}

/** wrk's Requests/sec, non-2xx count and latency percentiles. */
async function wrk(url, { script, env = {}, seconds = WRK_SECONDS }) {
  const args = ['-t2', '-c16', `-d${seconds}s`, '--latency', ...(script ? ['-s', path.join(peerDir, script)] : []), url];
  const r = await run('wrk', args, { env: { ...process.env, ...env } });
  if (r.status !== 0) throw new Error(`wrk failed: ${r.stderr}`);
  const out = r.stdout;
  const num = (re) => Number(out.match(re)?.[1] ?? NaN);
  const ms = (re) => {
    const m = out.match(re);
    if (!m) return NaN;
    const v = Number(m[1]);
    return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
  };
  return {
    rps: num(/Requests\/sec:\s+([\d.]+)/),
    non2xx: num(/Non-2xx or 3xx responses:\s+(\d+)/) || 0,
    errors: out.match(/Socket errors:.*/)?.[0] ?? '',
    p50: ms(/\s50%\s+([\d.]+)(us|ms|s)/),
    p99: ms(/\s99%\s+([\d.]+)(us|ms|s)/),
  };
}

async function latency(appendUrl, wsUrl, headers = []) {
  const r = await run(process.execPath, [path.join(peerDir, 'latency.mjs'), appendUrl, wsUrl, String(LATENCY_N), ...headers], { cwd: peerDir });
  if (r.status !== 0) throw new Error(`latency.mjs failed: ${r.stdout}\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;

export async function peerComparison({ url, adminToken, newTenant, quiesce, stateKind }) {
  ensureTools();
  process.stderr.write('Starting the PostgreSQL outbox peer (bench/peer)…\n');
  const peer = await startPeer();
  const rows = [];
  const add = (scenario, metric, value, unit, target = '', pass = null) => rows.push({ scenario, metric, value: round(value), unit, target, pass });
  try {
    const tenant = await newTenant(url, adminToken, 'bench-peer');
    const auth = `Bearer ${tenant.key}`;
    // One append per contact first: the measured window holds no hub's first start (nor the peer's first row).
    for (let i = 0; i < 100; i += 1) {
      for (const [base, prefix, headers] of [
        [url, '/api/v1/contacts/', { authorization: auth }],
        [peer.url, '/contacts/', {}],
      ]) {
        const res = await fetch(`${base}${prefix}${contactOf(i)}/events`, {
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/json' },
          body: JSON.stringify({ event_type: 'note_added', category: 'note', source: 'agent', title: 'warm', payload: {} }),
        });
        if (res.status !== 201) throw new Error(`prewarm append to ${base} failed: ${res.status} ${await res.text()}`);
      }
    }
    const systems = {
      peer: () => wrk(peer.url, { script: 'post.lua' }),
      eventline: () => wrk(url, { script: 'post.lua', env: { PATH_PREFIX: '/api/v1/contacts/', AUTH: auth } }),
    };
    const appends = { peer: [], eventline: [] };
    for (let round = 0; round < ROUNDS; round += 1) {
      for (const name of round % 2 === 0 ? ['peer', 'eventline'] : ['eventline', 'peer']) {
        await quiesce();
        const r = await systems[name]();
        process.stderr.write(`  round ${round + 1} ${name}: ${r.rps} appends/s${r.non2xx ? ` (${r.non2xx} non-2xx)` : ''}\n`);
        appends[name].push(r);
      }
    }
    const pa = mean(appends.peer.map((r) => r.rps));
    const ea = mean(appends.eventline.map((r) => r.rps));
    add('appends', `PostgreSQL outbox appends/s (wrk 16 conns, mean of ${ROUNDS})`, pa, 'appends/s');
    add('appends', `Eventline appends/s (wrk 16 conns, mean of ${ROUNDS})`, ea, 'appends/s');
    add('appends', 'Eventline / peer appends/s', ea / pa, '×', '≥ 1.0×', ea / pa >= 1);
    add('appends', 'PostgreSQL outbox append p50 / p99 (wrk)', mean(appends.peer.map((r) => r.p50)), `ms (p99 ${round(mean(appends.peer.map((r) => r.p99)))})`);
    add('appends', 'Eventline append p50 / p99 (wrk)', mean(appends.eventline.map((r) => r.p50)), `ms (p99 ${round(mean(appends.eventline.map((r) => r.p99)))})`);
    const failures = appends.eventline.reduce((a, r) => a + r.non2xx, 0) + appends.peer.reduce((a, r) => a + r.non2xx, 0);
    if (failures) add('appends', 'non-2xx answers under wrk (both systems)', failures, 'requests', '0', false);

    // Append → frame, one contact, sequential; alternating order again.
    const lat = { peer: [], eventline: [] };
    const lc = '00000000-0000-4000-8000-999999999999';
    const latencyOf = {
      peer: () => latency(`${peer.url}/contacts/${lc}/events`, `${peer.url.replace('http', 'ws')}/contacts/${lc}/stream`),
      eventline: () => latency(`${url}/api/v1/contacts/${lc}/events`, `${url.replace('http', 'ws')}/api/v1/contacts/${lc}/stream`, [`authorization=${auth}`]),
    };
    for (let round = 0; round < ROUNDS; round += 1) {
      for (const name of round % 2 === 0 ? ['eventline', 'peer'] : ['peer', 'eventline']) {
        await quiesce();
        lat[name].push(await latencyOf[name]());
      }
    }
    for (const q of ['p50', 'p99']) {
      const p = mean(lat.peer.map((r) => r[`delivered_ms_${q}`]));
      const e = mean(lat.eventline.map((r) => r[`delivered_ms_${q}`]));
      add('append → frame', `PostgreSQL outbox ${q} (${LATENCY_N} sequential, mean of ${ROUNDS})`, p, 'ms');
      add('append → frame', `Eventline ${q}`, e, 'ms');
      const target = q === 'p50' ? 1 : 1.5;
      add('append → frame', `Eventline / peer ${q}`, e / p, '×', `≤ ${target}×`, e / p <= target);
    }
    add('append → frame', 'Eventline append answer p50 (same runs)', mean(lat.eventline.map((r) => r.append_ms_p50)), 'ms');

    // The floors, on both servers, and what the runtime allows a Durable Object append.
    await quiesce();
    const pn = await wrk(`${peer.url}/noop`, { seconds: 4 });
    const en = await wrk(`${url}/__noop`, { seconds: 4 });
    add('floor', 'PostgreSQL outbox server no-op (wrk 16 conns)', pn.rps, 'req/s');
    add('floor', 'Eventline no-op GET /__noop (wrk 16 conns)', en.rps, 'req/s');
    add('floor', 'Eventline appends / Eventline no-op', ea / en.rps, '×');
    await quiesce();
    const probe = await runProbe(stateKind);
    for (const line of probe.lines) add('probe', line, null, '');
    add('probe', 'Eventline appends / probe commit', ea / probe.commit, '×');
    add('probe', 'Eventline appends / probe commit + hand-off', ea / probe.handOff, '×');
  } finally {
    peer.stop();
  }
  return rows;
}
