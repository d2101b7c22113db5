// Figures shared by the bench and its scenarios, so that every table computes them the same way.
import { spawn } from 'node:child_process';
import path from 'node:path';

/** The p-th percentile (nearest rank) of `values`, in any order; NaN when there are none. */
export function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** `v` to `digits` decimals; NaN and infinities pass through, so a missing figure stays visible. */
export function round(v, digits = 2) {
  return Number.isFinite(v) ? Math.round(v * 10 ** digits) / 10 ** digits : v;
}

/**
 * A child process run to its end without blocking this process's event loop: workerd writes the
 * Worker's log lines to a pipe this process reads, and a blocked reader stalls workerd (spawnSync did:
 * 31 instead of 712 appends/s).
 */
export function run(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/**
 * bench/probe-minimal.mjs at 16 connections on `stateKind`: its printed lines, and its req/s for one
 * commit (`commit`) and for one commit and the hand-off to a batcher (`handOff`) — what the runtime
 * allows an append, and an append shaped like Eventline's.
 */
export async function runProbe(stateKind) {
  const r = await run(process.execPath, [path.join(import.meta.dirname, 'probe-minimal.mjs'), `--state=${stateKind}`, '--connections=16']);
  if (r.status !== 0) throw new Error(`probe-minimal.mjs failed: ${r.stderr}`);
  const lines = r.stdout.trim().split('\n');
  const rps = (label) => Number(/(\d+) req\/s/.exec(lines.find((l) => l.includes(label))?.split(label)[1] ?? '')?.[1]);
  return { lines, commit: rps('one SQLite commit'), handOff: rps('hand-off') };
}
