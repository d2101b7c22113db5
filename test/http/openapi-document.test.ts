import { describe, expect, it } from 'vitest';
import { call, json } from '../support/api';

interface Operation {
  operationId?: string;
  security?: Record<string, string[]>[];
}
interface OpenApiDoc {
  info: { license?: { name: string } };
  servers?: { url: string }[];
  security: Record<string, string[]>[];
  paths: Record<string, Record<string, Operation>>;
}

async function document(): Promise<OpenApiDoc> {
  const res = await call('GET', '/openapi.json');
  expect(res.status).toBe(200);
  return json<OpenApiDoc>(res);
}

const operations = (doc: OpenApiDoc) =>
  Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ route: `${method.toUpperCase()} ${path}`, op })));

describe('/openapi.json for generated clients', () => {
  it('gives every operation its own camelCase operationId', async () => {
    const ops = operations(await document());
    expect(ops.length).toBeGreaterThan(50);
    expect(ops.filter(({ op }) => !op.operationId).map(({ route }) => route)).toEqual([]);
    // Verb first, then the resource: appendEvent, listContactEvents.
    expect(ops.filter(({ op }) => !/^[a-z]+[A-Z][A-Za-z]*$/.test(op.operationId!)).map(({ route, op }) => `${route}: ${op.operationId}`)).toEqual([]);
    const seen = new Map<string, string>();
    const shared: string[] = [];
    for (const { route, op } of ops) {
      const other = seen.get(op.operationId!);
      if (other) shared.push(`${op.operationId}: ${other} and ${route}`);
      seen.set(op.operationId!, route);
    }
    expect(shared).toEqual([]);
  });

  it('names a server and a licence', async () => {
    const doc = await document();
    expect(doc.servers).toEqual([expect.objectContaining({ url: '/' })]);
    expect(doc.info.license?.name).toBeTruthy();
  });

  it('says which key each operation needs: none for health, the admin token for admin routes, an API key elsewhere', async () => {
    const doc = await document();
    expect(doc.security).toEqual([{ apiKey: [] }]);
    for (const { route, op } of operations(doc)) {
      if (route === 'GET /api/v1/health') expect(op.security, route).toEqual([]);
      else if (route.includes(' /api/v1/admin/')) expect(op.security, route).toEqual([{ adminToken: [] }]);
      else expect(op.security, route).toBeUndefined();
    }
  });
});

describe('health', () => {
  it('needs no key, as documented', async () => {
    const res = await call('GET', '/api/v1/health');
    expect(res.status).toBe(200);
  });

  it('answers 422 naming an unknown query parameter', async () => {
    const res = await call('GET', '/api/v1/health?verbose=1');
    expect(res.status).toBe(422);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    const body = await json<{ errors: { path: string }[] }>(res);
    expect(body.errors.map((e) => e.path)).toEqual(['query.verbose']);
  });
});

describe('the public reference speaks to users', () => {
  // How the product was specified is no reader's business: no specification history in the document.
  const HISTORY = /\bseeds?\b|\bissue\s*#?\d+/i;

  it('has no specification history in /openapi.json', async () => {
    const text = JSON.stringify(await document());
    expect(text.match(new RegExp(`.{0,60}(${HISTORY.source}).{0,60}`, 'i'))).toBeNull();
  });

  it('has none in the /docs page (it renders /openapi.json)', async () => {
    const res = await call('GET', '/docs');
    const html = await res.text();
    expect(html.match(new RegExp(`.{0,60}(${HISTORY.source}).{0,60}`, 'i'))).toBeNull();
  });
});
