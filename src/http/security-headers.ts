/**
 * Headers for the pages a browser renders (/docs; the console gets the same set from the assets'
 * `_headers` file, written by src/dev/build.mjs). The pages load nothing from elsewhere, so the
 * policy allows only their own origin; `frame-ancestors 'none'` keeps them out of other sites' frames
 * (clickjacking), `nosniff` stops a browser from running a response as another type than it says.
 */
export const DOCS_SECURITY_HEADERS: Record<string, string> = {
  // The docs page is one self-contained HTML document with an inline <style> and no script.
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};
