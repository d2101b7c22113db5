// The shell examples of README.md and of the docs/ pages, pasted in order: every ```sh block that talks
// to the API (not the ones that install, test or deploy) runs in one bash session against a local
// Worker, as a reader would run them after `npm start`: README first (it sets the variables), then the
// pages in the order README's quick start gives. A command that fails, or a request answered 4xx/5xx,
// fails the test and names the file and line.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ADMIN_TOKEN, startServer } from './server.mjs';

const root = path.resolve(import.meta.dirname, '../..');

/** The pages whose examples run, in this order; README's quick start says the same order. */
export const PAGES = ['README.md', 'docs/api.md', 'docs/timeline.md', 'docs/realtime.md', 'docs/realtime-tokens.md', 'docs/webhooks.md', 'docs/event-store.md'];
const read = (file) => readFileSync(path.join(root, file), 'utf8');

/** The ```sh blocks of a page, with the file and the line each starts on. */
export function shellBlocks(markdown, file = 'README.md') {
  const blocks = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() !== '```sh') continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && lines[end].trim() !== '```') end++;
    blocks.push({ file, line: start + 1, lines: lines.slice(start, end) });
    i = end;
  }
  return blocks;
}

// Blocks that install, test or deploy (npm, npx wrangler) are not examples of the API.
const isApiExample = (block) => !block.lines.some((l) => /^\s*(npm|npx)\s/.test(l));

// `NAME=value  # ← yours: …` marks a value each reader replaces; the runner puts in its own.
const PLACEHOLDER = /^(\w+)=\S*\s+# ← yours\b/;

/** One bash script of the blocks, placeholders filled in, and for each script line its `file:line`. */
export function script(blocks, values) {
  const out = [];
  const origin = [];
  const used = new Set();
  for (const block of blocks) {
    block.lines.forEach((text, k) => {
      const m = PLACEHOLDER.exec(text);
      if (m) {
        if (!(m[1] in values)) throw new Error(`${block.file}:${block.line + k}: no value for the placeholder ${m[1]}`);
        used.add(m[1]);
        text = `${m[1]}=${JSON.stringify(values[m[1]])}`;
      }
      out.push(text);
      origin.push({ file: block.file, line: block.line + k });
    });
  }
  return { text: out.join('\n'), origin, used };
}

// Run before the pages' own lines: curl fails on a 4xx/5xx (the examples use plain `curl -s`), and a
// failure names the line. `set -e` stops at the first one, as a reader would.
const PRELUDE = [
  'set -euo pipefail',
  // `|| return`: the failure surfaces at the page's line, where the ERR trap reads LINENO.
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

test('every page with shell examples runs, in the order README gives', () => {
  const withExamples = ['README.md', ...readdirSync(path.join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)]
    .filter((file) => shellBlocks(read(file), file).some(isApiExample));
  assert.deepEqual([...withExamples].sort(), [...PAGES].sort(), 'a page with examples is missing from PAGES, or PAGES names a page without any');
  // README's quick start names the pages after itself in the runner's order.
  const readme = read('README.md');
  const start = readme.indexOf('The shell examples of this README');
  const paragraph = readme.slice(start, readme.indexOf('\n\n', start));
  assert.ok(start >= 0, "README's quick start no longer says in which order the examples run");
  assert.deepEqual([...paragraph.matchAll(/\]\((docs\/[a-z-]+\.md)\)/g)].map((m) => m[1]), PAGES.slice(1));
});

test('README and docs shell examples run in order against a local Worker', async () => {
  const res = await fetch(`${server.url}/api/v1/admin/tenants`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'readme' }),
  });
  assert.equal(res.status, 201);
  const { api_key } = await res.json();

  const texts = Object.fromEntries(PAGES.map((file) => [file, read(file)]));
  const blocks = PAGES.flatMap((file) => shellBlocks(texts[file], file).filter(isApiExample));
  assert.ok(blocks.length >= 8, `found only ${blocks.length} example blocks`);
  const { text, origin, used } = script(blocks, { KEY: api_key.key, ADMIN_TOKEN });
  assert.deepEqual([...used].sort(), ['ADMIN_TOKEN', 'KEY']);
  // The pages' local address is where `npm start` listens; here the Worker is on a free port.
  const body = text.replaceAll('http://127.0.0.1:8787', server.url);

  const run = spawnSync('bash', ['-c', [...PRELUDE, body].join('\n')], { cwd: work, encoding: 'utf8', timeout: 180_000 });
  const at = /README_FAILED_AT_SCRIPT_LINE (\d+)/.exec(run.stderr);
  const from = at ? origin[Number(at[1]) - 1] : undefined;
  const where = from ? `${from.file}:${from.line}: ${texts[from.file].split('\n')[from.line - 1].trim()}` : 'no line reported';
  assert.equal(run.status, 0, `shell examples failed at ${where}\n--- stdout\n${run.stdout.slice(-3000)}\n--- stderr\n${run.stderr.slice(-3000)}`);
});
