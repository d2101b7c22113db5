/// <reference types="vite/types/importMeta.d.ts" />
import { describe, expect, it } from 'vitest';

// The source text of every module under src/domain, read at build time by Vite.
const sources = import.meta.glob<string>('../../src/domain/**/*.ts', { query: '?raw', import: 'default', eager: true });

const importsOf = (text: string): string[] => [...text.matchAll(/\b(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)].map((m) => m[1]!);

describe('layers', () => {
  it('finds the domain modules', () => {
    expect(Object.keys(sources).length).toBeGreaterThan(20);
  });

  it('domain/ imports only domain/ and packages: never contact-hub/, queues/, db/, http/ or other layers', () => {
    const outside = Object.entries(sources).flatMap(([file, text]) => {
      const depth = file.replace('../../src/domain/', '').split('/').length - 1;
      return importsOf(text)
        .filter((spec) => spec.startsWith('.'))
        // A relative import leaves domain/ when it climbs more levels than the file is deep.
        .filter((spec) => spec.split('/').filter((part) => part === '..').length > depth)
        .map((spec) => `${file} → ${spec}`);
    });
    expect(outside).toEqual([]);
  });
});
