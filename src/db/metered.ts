// D1 with every statement's `meta` handed to `addMeta`: the billable rows of `npm run bench:cost`
// (src/cost/counters.ts). Lives in db/ because it wraps D1's statements; it adds no SQL of its own.

/** Each wrapped statement's real one: batch() takes only D1's own statements. */
const real = new WeakMap<object, D1PreparedStatement>();

/** Each wrapped statement's SQL text: the per-statement tally of bench:cost names where a row went. */
const queries = new WeakMap<object, string>();

export type AddMeta = (meta: D1Meta | null, query: string) => void;

function meterStatement(stmt: D1PreparedStatement, query: string, addMeta: AddMeta): D1PreparedStatement {
  const wrapped: D1PreparedStatement = {
    bind: (...values: unknown[]) => meterStatement(stmt.bind(...values), query, addMeta),
    run: async <T>() => {
      const r = await stmt.run<T>();
      addMeta(r.meta, query);
      return r;
    },
    all: async <T>() => {
      const r = await stmt.all<T>();
      addMeta(r.meta, query);
      return r;
    },
    // first() and raw() carry no meta: they run as all() here, which returns the same rows.
    first: (async (column?: string) => {
      const r = await stmt.all<Record<string, unknown>>();
      addMeta(r.meta, query);
      const row = r.results[0];
      if (row === undefined) return null;
      return column === undefined ? row : (row[column] ?? null);
    }) as D1PreparedStatement['first'],
    raw: (async (options?: { columnNames?: boolean }) => {
      const r = await stmt.all<Record<string, unknown>>();
      addMeta(r.meta, query);
      const rows = r.results.map((row) => Object.values(row));
      if (options?.columnNames) return [Object.keys(r.results[0] ?? {}), ...rows];
      return rows;
    }) as D1PreparedStatement['raw'],
  } as D1PreparedStatement;
  real.set(wrapped, stmt);
  queries.set(wrapped, query);
  return wrapped;
}

export function meterD1(db: D1Database, addMeta: AddMeta): D1Database {
  return {
    prepare: (query: string) => meterStatement(db.prepare(query), query, addMeta),
    batch: async <T>(statements: D1PreparedStatement[]) => {
      const results = await db.batch<T>(statements.map((s) => real.get(s) ?? s));
      results.forEach((r, i) => addMeta(r.meta, queries.get(statements[i]!) ?? '?'));
      return results;
    },
    exec: async (query: string) => {
      // exec() reports no rows: only bench:cost uses this wrapper, and Eventline never calls exec().
      return db.exec(query);
    },
    withSession: (...args: Parameters<D1Database['withSession']>) => db.withSession(...args),
    dump: () => db.dump(),
  } as D1Database;
}

