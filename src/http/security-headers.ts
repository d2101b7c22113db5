/**
 * Headers for the pages a browser renders (/docs; the console gets the same set from the assets'
 * `_headers` file, written by src/dev/build.mjs). The pages load nothing from elsewhere, so the
 * policy allows only their own origin; `frame-ancestors 'none'` keeps them out of other sites' frames
 * (clickjacking), `nosniff` stops a browser from running a response as another type than it says.
 */
export const DOCS_SECURITY_HEADERS: Record<string, string> = {
  // The docs page loads Swagger UI's script and style from the Worker's own assets and calls only its
  // own origin (the document, and "Try it out"); no inline script or style, no other origin.
  'content-security-policy': [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; '),
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};
