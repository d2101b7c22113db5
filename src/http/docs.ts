/**
 * The /docs page: Swagger UI (swagger-ui-dist) rendering the Worker's own /openapi.json, with every
 * operation's parameters, schemas, examples, the auth schemes, Markdown descriptions and "Try it out"
 * with the reader's key. Its script and style are static assets built by `npm run build` into
 * dist/assets/docs/ and served by the Worker's assets, so nothing loads from another origin and the
 * page works offline under the CSP of src/http/security-headers.ts (no inline script or style).
 */
export const DOCS_ASSETS = {
  style: '/docs/swagger-ui.css',
  page: '/docs/docs.css',
  bundle: '/docs/swagger-ui-bundle.js',
  init: '/docs/init.js',
} as const;

export function docsPage(info: { title: string; version: string }): string {
  const esc = (s: string) => s.replace(/[&<>"]/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[ch]!);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(info.title)} API ${esc(info.version)}</title>
<link rel="stylesheet" href="${DOCS_ASSETS.style}">
<link rel="stylesheet" href="${DOCS_ASSETS.page}">
</head>
<body>
<noscript><p>The interactive reference needs JavaScript. The document itself is <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).</p></noscript>
<main id="swagger-ui"></main>
<script src="${DOCS_ASSETS.bundle}"></script>
<script src="${DOCS_ASSETS.init}"></script>
</body>
</html>
`;
}
