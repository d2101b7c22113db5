/**
 * Starts Swagger UI on the /docs page (src/http/docs.ts) over the Worker's own /openapi.json. It is a
 * file of its own, not an inline script, so that the page's CSP can allow scripts from 'self' only.
 * Bundled by `npm run build` into dist/assets/docs/ next to swagger-ui-dist's prebuilt bundle.
 */

interface SwaggerUIConfig {
  url: string;
  dom_id: string;
  deepLinking: boolean;
  displayOperationId: boolean;
  displayRequestDuration: boolean;
  /** null: no badge, which would ask validator.swagger.io to check the document. */
  validatorUrl: null;
  defaultModelsExpandDepth: number;
  defaultModelExpandDepth: number;
  docExpansion: 'list' | 'full' | 'none';
  filter: boolean;
  showExtensions: boolean;
  persistAuthorization: boolean;
  tryItOutEnabled: boolean;
  supportedSubmitMethods: string[];
  layout: string;
}
declare const SwaggerUIBundle: (config: SwaggerUIConfig) => unknown;

SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  displayOperationId: true,
  displayRequestDuration: true,
  validatorUrl: null,
  defaultModelsExpandDepth: 0,
  defaultModelExpandDepth: 2,
  docExpansion: 'list',
  filter: true,
  showExtensions: false,
  // The key stays in this tab's memory only: it is a secret, localStorage would keep it on disk.
  persistAuthorization: false,
  tryItOutEnabled: false,
  supportedSubmitMethods: ['get', 'put', 'post', 'delete', 'patch'],
  layout: 'BaseLayout',
});
