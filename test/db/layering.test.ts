import { describe, expect, it } from 'vitest';

// The sources as text, bundled by Vite (workerd has no file system).
const SOURCES = import.meta.glob<string>(['../../src/**/*.ts', '!../../src/worker-configuration.d.ts'], { query: '?raw', import: 'default', eager: true });

const files = (pred: (path: string) => boolean) => Object.entries(SOURCES).filter(([path]) => pred(path));
const inDb = (path: string) => path.includes('/src/db/');

describe('db/ is the one place of D1 SQL and row types', () => {
  it('sees the sources', () => {
    expect(files(inDb).length).toBeGreaterThan(10);
  });

  it('no module outside src/db prepares a D1 statement', () => {
    // Durable Object storage (`ctx.storage.sql.exec`) is the hubs' own SQLite, not D1.
    const offenders = files((p) => !inDb(p)).filter(([, text]) => /\.prepare\(/.test(text)).map(([p]) => p);
    expect(offenders).toEqual([]);
  });

  it('no row type of a D1 table is written by hand: each is D1Row<typeof table> of the schema', () => {
    const offenders = files(inDb).flatMap(([p, text]) => [...text.matchAll(/^export (?:interface (\w+Row)\b|type (\w+Row)\s*=\s*\{)/gm)].map((m) => `${p}: ${m[1] ?? m[2]}`));
    expect(offenders).toEqual([]);
  });
});
