/// <reference types="vite/client" />
import { describe, expect, it } from 'vitest';
import guarantees from '../../docs/guarantees.md?raw';

// The test files as text, keyed by their path under test/ (workerd has no file system to read them).
const sources: Record<string, string> = Object.fromEntries(
  Object.entries(import.meta.glob<string>('../**/*.test.ts', { query: '?raw', import: 'default', eager: true })).map(([file, text]) => [file.replace(/^\.\.\//, ''), text]),
);

/** Every `it`/`test` title of a file, as a pattern: template parts (`${ROUNDS}`) match anything. */
function titles(source: string): RegExp[] {
  const found: RegExp[] = [];
  for (const m of source.matchAll(/\b(?:it|test)(?:\.each\([^)]*\))?\(\s*(['"`])((?:\\.|(?!\1)[^\\])*)\1/g)) {
    const text = m[2]!.replace(/\\(['"`\\])/g, '$1');
    const pattern = text
      .split(/\$\{[^}]*\}/)
      .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('.+');
    found.push(new RegExp(`^${pattern}$`));
  }
  return found;
}

/** `- \`file\` — test name` lines, with the guarantee they sit under. */
function citations(): { guarantee: string; file: string; name: string }[] {
  const out: { guarantee: string; file: string; name: string }[] = [];
  let guarantee = '';
  for (const line of guarantees.split('\n')) {
    const heading = /^## (\d+)\. /.exec(line);
    if (heading) guarantee = heading[1]!;
    const cite = /^- `([^`]+\.test\.ts)` — (.+)$/.exec(line);
    if (cite) out.push({ guarantee, file: cite[1]!, name: cite[2]! });
  }
  return out;
}

describe('docs/guarantees.md', () => {
  it('writes down the ten guarantees, each with at least two tests', () => {
    const perGuarantee = new Map<string, number>();
    for (const c of citations()) perGuarantee.set(c.guarantee, (perGuarantee.get(c.guarantee) ?? 0) + 1);
    expect([...perGuarantee.keys()]).toEqual(['1', '2', '3', '4', '5', '6', '7', '8', '9', '10']);
    for (const [g, n] of perGuarantee) expect(n, `guarantee ${g}`).toBeGreaterThanOrEqual(2);
  });

  it('names only test files that exist', () => {
    const missing = citations().filter((c) => !(c.file in sources)).map((c) => c.file);
    expect(missing).toEqual([]);
  });

  it('names only tests that exist in the file it names', () => {
    const missing = citations()
      .filter((c) => c.file in sources && !titles(sources[c.file]!).some((t) => t.test(c.name)))
      .map((c) => `${c.file} — ${c.name}`);
    expect(missing).toEqual([]);
  });
});
