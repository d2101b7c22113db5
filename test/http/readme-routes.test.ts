/// <reference types="vite/client" />
import { describe, expect, it } from 'vitest';
import readme from '../../README.md?raw';
import api from '../../docs/api.md?raw';
import { call, json, newTenant, uuid } from '../support/api';

/** README and every page of docs/, by path: the routes any of them names must exist. */
const pages: Record<string, string> = {
  'README.md': readme,
  ...Object.fromEntries(
    Object.entries(import.meta.glob<string>('../../docs/*.md', { query: '?raw', import: 'default', eager: true })).map(([file, text]) => [file.replace('../../', ''), text]),
  ),
};
const everywhere = Object.values(pages).join('\n');

const METHOD = '(?:GET|POST|PUT|PATCH|DELETE)';
/** `GET /x`, `POST/GET /x`, `GET|DELETE /x`, with or without /api/v1, and anything after the path. */
const ROUTE = new RegExp(`\`(${METHOD}(?:[/|]${METHOD})*) (/[^\`\\s]*)`, 'g');

/** Served but not part of the API (the document, its page, the console's assets, the local cron triggers). */
const NOT_API = new Set(['/', '/docs', '/openapi.json', '/console/', '/__noop', '/cdn-cgi/handler/scheduled', '/__scheduled']);

function routesIn(text: string): string[] {
  return [...text.matchAll(ROUTE)].flatMap(([, methods, rawPath]) => {
    // Cut the query string and a trailing body or note; `…` marks an abbreviated path, not a route.
    const path = rawPath!.split(/[?\s]/)[0]!.replace(/^\/api\/v1(?=\/)/, '');
    if (path.includes('…') || NOT_API.has(path)) return [];
    return methods!.split(/[/|]/).map((m) => `${m} /api/v1${path}`);
  });
}

async function documented(): Promise<Set<string>> {
  const doc = await json<{ paths: Record<string, Record<string, unknown>> }>(await call('GET', '/openapi.json'));
  return new Set(Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)));
}

describe('README, docs/ and /openapi.json name the same routes', () => {
  it('reads README and the docs pages', () => {
    expect(Object.keys(pages)).toEqual(expect.arrayContaining(['README.md', 'docs/api.md', 'docs/realtime.md', 'docs/guarantees.md']));
  });

  it('the Endpoints table of docs/api.md lists every documented route, and only those', async () => {
    const section = api.slice(api.indexOf('## Endpoints'), api.indexOf('\n## ', api.indexOf('## Endpoints') + 1));
    const table = section.split('\n').filter((line) => line.startsWith('| ') && !line.startsWith('| Area'));
    const listed = new Set(routesIn(table.join('\n')));
    const doc = await documented();
    expect(listed.size).toBeGreaterThan(50);
    expect([...listed].filter((r) => !doc.has(r)), 'in README, not in /openapi.json').toEqual([]);
    expect([...doc].filter((r) => !listed.has(r)), 'in /openapi.json, not in README').toEqual([]);
  });

  it('every route README or docs/ names anywhere exists, under its v1 name', async () => {
    const named = routesIn(everywhere);
    const doc = await documented();
    expect(named.length).toBeGreaterThan(60);
    expect([...new Set(named)].filter((r) => !doc.has(r))).toEqual([]);
  });

  it('every route README or docs/ names is served: none answers "No route for"', async () => {
    const t = await newTenant();
    for (const route of new Set(routesIn(everywhere))) {
      const [method, path] = route.split(' ') as [string, string];
      if (path.startsWith('/api/v1/admin') || path === '/api/v1/health') continue;
      const concrete = path.replace(/\{[a-z_]+\}/g, (p) => (p === '{stream_id}' ? 'order-42' : p === '{name}' || p === '{key}' ? 'x' : uuid()));
      const res = await call(method, concrete, { key: t.key });
      // A resource that does not exist is a 404 too, so the app's "no route" problem is what tells them apart.
      if (res.headers.get('content-type')?.startsWith('text/event-stream')) {
        await res.body?.cancel(); // a live stream: being served is all this test asks
        continue;
      }
      const text = await res.text();
      expect(text, `${method} ${concrete}`).not.toContain('"detail":"No route for');
    }
  });
});
