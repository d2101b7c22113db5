// Writes docs/event-types.md from the payload catalog (src/domain/event-payloads.ts), so that the
// doc says what the code says; test/http/event-types.test.ts fails when the two differ.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(path.join(tmpdir(), 'eventline-doc-'));
try {
  const out = path.join(dir, 'event-payloads.mjs');
  await build({ entryPoints: [path.join(root, 'src/domain/event-payloads.ts')], bundle: true, format: 'esm', platform: 'node', outfile: out, logLevel: 'error' });
  const { eventTypesMarkdown } = await import(pathToFileURL(out).href);
  writeFileSync(path.join(root, 'docs/event-types.md'), eventTypesMarkdown());
} finally {
  rmSync(dir, { recursive: true, force: true });
}
