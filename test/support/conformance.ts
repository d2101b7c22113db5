import { Validator, type OutputUnit, type Schema } from '@cfworker/json-schema';
import { exports } from 'cloudflare:workers';

/**
 * Checks a real response against what /openapi.json says the operation answers: the status is
 * documented, the media type is one documented for that status, and a JSON body validates against
 * its schema. `api.call` runs every response through this, so the HTTP suites double as a check
 * that the document has not drifted from the code.
 */

interface MediaType {
  schema?: Schema;
}
interface ResponseSpec {
  description: string;
  content?: Record<string, MediaType>;
}
interface Operation {
  operationId?: string;
  responses: Record<string, ResponseSpec>;
}
interface OpenApiDoc {
  paths: Record<string, Record<string, Operation>>;
  components: Record<string, unknown>;
}
interface Route {
  template: string;
  pattern: RegExp;
  params: number;
  operations: Record<string, Operation>;
}

let loaded: Promise<{ doc: OpenApiDoc; routes: Route[] }> | undefined;

const VALUES = new Set(['example', 'examples', 'default', 'const', 'enum']);

/**
 * The document's schemas, closed: an object that lists its properties gets additionalProperties
 * false, so an answer with a field the document does not name fails too. allOf members stay open
 * (each names only part of the fields), and so do the components they refer to.
 */
function closeSchemas(doc: OpenApiDoc): OpenApiDoc {
  const openComponents = new Set<string>();
  const findAllOfRefs = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(findAllOfRefs);
    if (!node || typeof node !== 'object') return;
    for (const [k, v] of Object.entries(node)) {
      if (k === 'allOf' && Array.isArray(v)) {
        for (const m of v) if (m && typeof m === 'object' && typeof (m as { $ref?: unknown }).$ref === 'string') openComponents.add((m as { $ref: string }).$ref);
      }
      findAllOfRefs(v);
    }
  };
  findAllOfRefs(doc);
  const close = (node: unknown, open: boolean): unknown => {
    if (Array.isArray(node)) return node.map((n) => close(n, false));
    if (!node || typeof node !== 'object') return node;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) {
      if (VALUES.has(k)) out[k] = v;
      else if (k === 'allOf' && Array.isArray(v)) out[k] = v.map((m) => close(m, true));
      else out[k] = close(v, false);
    }
    if (!open && out.type === 'object' && out.properties && !('additionalProperties' in out)) out.additionalProperties = false;
    return out;
  };
  const schemas = (doc.components.schemas ?? {}) as Record<string, unknown>;
  const components = {
    ...doc.components,
    schemas: Object.fromEntries(Object.entries(schemas).map(([name, schema]) => [name, close(schema, openComponents.has(`#/components/schemas/${name}`))])),
  };
  return { paths: close(doc.paths, false) as OpenApiDoc['paths'], components };
}

function load() {
  loaded ??= (async () => {
    // Straight to the Worker, not through `call`: the document itself is not an API response.
    const res = await exports.default.fetch(new Request('http://eventline.test/openapi.json'));
    if (res.status !== 200) throw new Error(`GET /openapi.json answered ${res.status}`);
    const doc = closeSchemas((await res.json()) as OpenApiDoc);
    const routes = Object.entries(doc.paths).map(([template, operations]) => ({
      template,
      pattern: new RegExp(`^${template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}$`),
      params: (template.match(/\{/g) ?? []).length,
      operations,
    }));
    // A literal segment beats a parameter: /contact-events/search is not /contact-events/{id}.
    routes.sort((a, b) => a.params - b.params);
    return { doc, routes };
  })();
  return loaded;
}

const validators = new Map<string, Validator>();

function validatorFor(doc: OpenApiDoc, key: string, schema: Schema): Validator {
  let v = validators.get(key);
  if (!v) {
    // `#/components/schemas/X` refs resolve inside the root schema, so the components ride along.
    // A copy: the validator marks the schemas it indexes, and each root indexes them anew.
    v = new Validator(structuredClone({ ...schema, components: doc.components }) as Schema, '2020-12', false);
    validators.set(key, v);
  }
  return v;
}

const isJson = (mediaType: string) => mediaType === 'application/json' || mediaType.endsWith('+json');

function describeErrors(errors: OutputUnit[]): string {
  // The leaf errors say what is wrong; the rest only say that a parent failed because of them.
  const leaves = errors.filter((e) => !/^(Property|Items|Array|Object|A subschema|Instance does not match (every|any))/.test(e.error));
  return (leaves.length ? leaves : errors)
    .slice(0, 8)
    .map((e) => `  ${e.instanceLocation}: ${e.error}`)
    .join('\n');
}

/** Throws, naming the operation, when `res` is not what the document promises for `method path`. */
export async function checkConformance(method: string, path: string, res: Response): Promise<void> {
  const { doc, routes } = await load();
  const pathname = new URL(path, 'http://eventline.test').pathname;
  const verb = method.toLowerCase();
  const route = routes.find((r) => r.pattern.test(pathname) && r.operations[verb]);
  // Not an operation (a 404 for an unknown route, the docs page): nothing was promised.
  if (!route) return;
  const op = route.operations[verb]!;
  const where = `${method.toUpperCase()} ${route.template} (${op.operationId ?? 'no operationId'}) answered ${res.status}`;
  const status = String(res.status);
  const spec = op.responses[status] ?? op.responses[`${status[0]}XX`] ?? op.responses.default;
  if (!spec) throw new Error(`${where}, a status the document does not list (it lists ${Object.keys(op.responses).join(', ')})`);
  // 101 carries a socket, not a body; 204/304 carry none.
  if (res.status === 101 || res.status === 204 || res.status === 304) return;
  const mediaType = (res.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  const content = spec.content ?? {};
  if (!Object.keys(content).length) {
    const text = await res.clone().text();
    if (text.length) throw new Error(`${where} with a ${mediaType || 'untyped'} body; the document says this status has none`);
    return;
  }
  const media = content[mediaType];
  if (!media) throw new Error(`${where} as ${mediaType || 'no content-type'}; the document lists ${Object.keys(content).join(', ')}`);
  if (!isJson(mediaType) || !media.schema) return;
  const text = await res.clone().text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`${where} as ${mediaType}, but the body is not JSON: ${text.slice(0, 200)}`);
  }
  const result = validatorFor(doc, `${verb} ${route.template} ${status} ${mediaType}`, media.schema).validate(body);
  if (!result.valid) {
    throw new Error(`${where} with a body that does not match the document's schema:\n${describeErrors(result.errors)}\nbody: ${text.slice(0, 500)}`);
  }
}
