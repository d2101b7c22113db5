/** A self-contained API reference rendered from the OpenAPI document (no external assets, works offline). */
export function docsPage(doc: { info: { title: string; version: string; description?: string }; paths: Record<string, Record<string, unknown>> }): string {
  const esc = (s: string) => s.replace(/[&<>"]/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[ch]!);
  const rows: string[] = [];
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, raw] of Object.entries(ops)) {
      const op = raw as { operationId?: string; summary?: string; description?: string; tags?: string[]; security?: Record<string, unknown>[]; responses?: Record<string, { description?: string }> };
      const codes = Object.keys(op.responses ?? {}).join(' ');
      // An operation's own `security` overrides the API key that the document asks for everywhere else.
      const key = op.security === undefined ? '' : op.security.length === 0 ? ' · no key' : ` · ${op.security.flatMap((s) => Object.keys(s)).join(', ')}`;
      rows.push(
        `<tr><td><code class="m ${method}">${method.toUpperCase()}</code></td><td><code>${esc(path)}</code><br><small>${esc(op.operationId ?? '')}${esc(key)}</small></td><td>${esc(op.tags?.join(', ') ?? '')}</td>` +
          `<td>${esc(op.summary ?? '')}${op.description ? `<br><small>${esc(op.description)}</small>` : ''}</td><td><small>${codes}</small></td></tr>`,
      );
    }
  }
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(doc.info.title)} API</title><style>
body{font:15px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:1100px;padding:0 1rem;color:#1a1a1a}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.4rem;text-align:left;vertical-align:top}
code.m{font-weight:700}.get{color:#05668d}.post{color:#2a7d2e}.patch,.put{color:#8a5a00}.delete{color:#b00020}
</style></head><body><h1>${esc(doc.info.title)} <small>${esc(doc.info.version)}</small></h1>
<p>${esc(doc.info.description ?? '')}</p><p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1). Errors are
<code>application/problem+json</code> (RFC 9457) with <code>request_id</code> and, for validation, <code>errors[]</code>.</p>
<p>Every route needs <code>Authorization: Bearer &lt;api key&gt;</code> unless its row says otherwise (<i>no key</i>, or <i>adminToken</i>: the ADMIN_TOKEN secret).
Under each path is its <code>operationId</code>, the name generated clients give the call.</p>
<table><thead><tr><th>Method</th><th>Path</th><th>Tag</th><th>Summary</th><th>Responses</th></tr></thead><tbody>${rows.join('\n')}</tbody></table></body></html>`;
}
