#!/usr/bin/env node
// `npm run generate:client`: starts the Worker (wrangler dev, local state in a temp directory), reads
// its /openapi.json and writes the REST client's types (packages/client/src/schema.ts). Commit the result.
import { writeFileSync } from 'node:fs';
import { startServer } from '../../test/e2e/server.mjs';
import { SCHEMA_FILE, schemaSource } from './client-schema.mjs';

const server = await startServer();
try {
  const res = await fetch(`${server.url}/openapi.json`);
  if (!res.ok) throw new Error(`/openapi.json answered ${res.status}`);
  writeFileSync(SCHEMA_FILE, await schemaSource(await res.json()));
  console.log(`wrote ${SCHEMA_FILE}`);
} finally {
  await server.stop();
}
