/// <reference types="vite/types/importMeta.d.ts" />
import { describe, expect, it } from 'vitest';

// The source text of every module, read at build time by Vite.
const all = import.meta.glob<string>(['../../src/**/*.ts', '!../../src/worker-configuration.d.ts'], { query: '?raw', import: 'default', eager: true });
const sources = Object.entries(all).map(([file, text]) => ({ file: file.replace('../../src/', ''), text }));
const domain = sources.filter((s) => s.file.startsWith('domain/'));

const importsOf = (text: string): string[] => [...text.matchAll(/\b(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)].map((m) => m[1]!);

/** Where `pattern` occurs: `file: line` for each line that holds it. */
const occurrences = (pattern: RegExp, files = sources) =>
  files.flatMap(({ file, text }) => text.split('\n').flatMap((line, i) => (pattern.test(line) ? [`${file}:${i + 1}: ${line.trim()}`] : [])));

describe('layers', () => {
  it('reads the sources', () => {
    expect(domain.length).toBeGreaterThan(20);
    expect(sources.length).toBeGreaterThan(80);
  });

  it('domain/ imports only domain/ and packages: never hub/, queues/, db/, http/ or other layers', () => {
    const outside = domain.flatMap(({ file, text }) => {
      const depth = file.split('/').length - 2;
      return importsOf(text)
        .filter((spec) => spec.startsWith('.'))
        // A relative import leaves domain/ when it climbs more levels than the file is deep in it.
        .filter((spec) => spec.split('/').filter((part) => part === '..').length > depth)
        .map((spec) => `${file} → ${spec}`);
    });
    expect(outside).toEqual([]);
  });
});

describe('one place per rule', () => {
  it('defines the units of time once, in domain/time.ts', () => {
    const defined = occurrences(/\b(?:const|let|var)\s+(?:SECOND|MINUTE|HOUR|DAY|WEEK)_MS\b/).filter((o) => !o.startsWith('domain/time.ts:'));
    expect(defined).toEqual([]);
  });

  it('takes every queue retry delay from domain/queue-retry.ts', () => {
    // A retry's delay is a call of a function of that module (or a value one returned), never arithmetic in place.
    const inline = occurrences(/\.retry(?:All)?\(\{\s*delaySeconds:\s*(?:Math\.|\d)/);
    expect(inline).toEqual([]);
    const owners = sources.filter(({ text }) => /\b(?:export\s+)?(?:const|function)\s+\w*[Rr]etry\w*Delay\w*/.test(text)).map((s) => s.file);
    expect(owners).toEqual(['domain/queue-retry.ts']);
  });

  it('has one grammar of event-type patterns', () => {
    const grammars = occurrences(/\\+\.\\+\*/).map((o) => o.split(':')[0]);
    expect([...new Set(grammars)]).toEqual(['domain/event-patterns.ts']);
  });

  it('builds HTTP problem bodies only in src/http/problem.ts, with typed errors built from named fields', () => {
    // The socket protocol's frames carry a problem too (src/hub/protocol.ts builds them).
    const builders = occurrences(/eventline\.dev\/problems|['"]content-type['"]:\s*['"]application\/problem\+json/)
      .map((o) => o.split(':')[0])
      .filter((f) => f !== 'http/problem.ts' && f !== 'hub/protocol.ts');
    expect(builders).toEqual([]);
    expect(occurrences(/new ApiError\((?!\{)/)).toEqual([]);
  });

  it('has one cursor codec, and one base64url codec under it and the realtime tokens', () => {
    const codecs = occurrences(/\bfunction\s+(?:encode|decode)\w*Cursor\b|\b(?:const|function)\s+\w*(?:[Bb]ase|[Bb])64[Uu]rl\w*/).map((o) => o.split(':')[0]);
    expect([...new Set(codecs)].sort()).toEqual(['domain/base64url.ts', 'domain/cursor.ts']);
    // webhook-signing.ts writes standard base64 (the Standard Webhooks format); the browser client
    // (packages/client, not scanned here) reads token claims without importing server code.
    const raw = occurrences(/\b(?:btoa|atob)\(/).map((o) => o.split(':')[0]);
    expect([...new Set(raw)].sort()).toEqual(['domain/base64url.ts', 'domain/webhook-signing.ts']);
  });
});
