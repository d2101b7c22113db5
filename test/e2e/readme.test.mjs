// README's shell examples, pasted in order: every ```sh block that talks to the API (not the ones that
// install, test or deploy) runs in one bash session against a local Worker, as a reader would run
// them after `npm start`. A command that fails, or a request answered 4xx/5xx, fails the test and
// names the README line.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ADMIN_TOKEN, startServer } from './server.mjs';

const root = path.resolve(import.meta.dirname, '../..');
const README = path.join(root, 'README.md');

/** The ```sh blocks, with the README line each starts on. */
export function shellBlocks(markdown) {
  const blocks = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() !== '```sh') continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && lines[end].trim() !== '```') end++;
    blocks.push({ line: start + 1, lines: lines.slice(start, end) });
    i = end;
  }
  return blocks;
}

// Blocks that install, test or deploy (npm, npx wrangler) are not examples of the API.
const isApiExample = (block) => !block.lines.some((l) => /^\s*(npm|npx)\s/.test(l));

// `NAME=value  # ← yours: …` marks a value each reader replaces; the runner puts in its own.
const PLACEHOLDER = /^(\w+)=\S*\s+# ← yours\b/;

/** One bash script of the blocks, placeholders filled in, and for each script line its README line. */
export function script(blocks, values) {
  const out = [];
  const origin = [];
  const used = new Set();
  for (const block of blocks) {
    block.lines.forEach((text, k) => {
      const m = PLACEHOLDER.exec(text);
      if (m) {
        if (!(m[1] in values)) throw new Error(`README.md:${block.line + k}: no value for the placeholder ${m[1]}`);
        used.add(m[1]);
        text = `${m[1]}=${JSON.stringify(values[m[1]])}`;
      }
      out.push(text);
      origin.push(block.line + k);
    });
  }
  return { text: out.join('\n'), origin, used };
}

// Run before the README's own lines: curl fails on a 4xx/5xx (the examples use plain `curl -s`), and a
// failure names the line. `set -e` stops at the first one, as a reader would.
const PRELUDE = [
  'set -euo pipefail',
  // `|| return`: the failure surfaces at the README's line, where the ERR trap reads LINENO.
  'curl() { command curl --fail-with-body --show-error --max-time 30 "$@" || return $?; }',
  'trap \'echo "README_FAILED_AT_SCRIPT_LINE $((LINENO - 3))" >&2\' ERR',
];

let server;
let work;
before(async () => {
  server = await startServer();
  work = mkdtempSync(path.join(tmpdir(), 'eventline-readme-'));
});
after(async () => {
  await server?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('README shell examples run in order against a local Worker', async () => {
  const res = await fetch(`${server.url}/api/v1/admin/tenants`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'readme' }),
  });
  assert.equal(res.status, 201);
  const { api_key } = await res.json();

  const markdown = readFileSync(README, 'utf8');
  const blocks = shellBlocks(markdown).filter(isApiExample);
  assert.ok(blocks.length >= 5, `found only ${blocks.length} example blocks`);
  const { text, origin, used } = script(blocks, { KEY: api_key.key, ADMIN_TOKEN });
  assert.deepEqual([...used].sort(), ['ADMIN_TOKEN', 'KEY']);
  // The README's local address is where `npm start` listens; here the Worker is on a free port.
  const body = text.replaceAll('http://127.0.0.1:8787', server.url);

  const run = spawnSync('bash', ['-c', [...PRELUDE, body].join('\n')], { cwd: work, encoding: 'utf8', timeout: 120_000 });
  const at = /README_FAILED_AT_SCRIPT_LINE (\d+)/.exec(run.stderr);
  const line = at ? origin[Number(at[1]) - 1] : undefined;
  const where = line ? `README.md:${line}: ${markdown.split('\n')[line - 1].trim()}` : 'no line reported';
  assert.equal(run.status, 0, `README examples failed at ${where}\n--- stdout\n${run.stdout.slice(-3000)}\n--- stderr\n${run.stderr.slice(-3000)}`);
});
