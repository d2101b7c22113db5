import { createRoute } from '@hono/zod-openapi';
import { getTenantSettings, updateTenantSettings } from '../db/settings';
import { Settings, SettingsPatch } from '../domain/schemas/analytics';
import { problemResponses } from '../domain/schemas/common';
import { router } from './context';
import { notFound, validationFailed } from './problem';

export const settings = router();

settings.openapi(
  createRoute({
    operationId: 'getSettings',
    method: 'get',
    path: '/settings',
    tags: ['Settings'],
    summary: "The tenant's settings (defaults filled in)",
    responses: { 200: { description: 'Settings', content: { 'application/json': { schema: Settings } } }, ...problemResponses(401, 404, 429) },
  }),
  async (c) => {
    const s = await getTenantSettings(c.env.DB, c.get('tenantId'), c.env.CONTACT_EVENT_EXPIRED_GRACE_DAYS);
    if (!s) throw notFound('The tenant');
    return c.json(s, 200);
  },
);

settings.openapi(
  createRoute({
    operationId: 'updateSettings',
    method: 'patch',
    path: '/settings',
    tags: ['Settings'],
    summary: 'Change settings (null resets one to its default)',
    request: { body: { required: true, content: { 'application/json': { schema: SettingsPatch } } } },
    responses: { 200: { description: 'Settings after the change', content: { 'application/json': { schema: Settings } } }, ...problemResponses(400, 401, 404, 413, 415, 422, 429) },
  }),
  async (c) => {
    const body = c.req.valid('json');
    if (Object.keys(body).length === 0) throw validationFailed([{ path: '(body)', message: 'must name at least one setting' }]);
    const tenantId = c.get('tenantId');
    if (!(await updateTenantSettings(c.env.DB, tenantId, body))) throw notFound('The tenant');
    const s = await getTenantSettings(c.env.DB, tenantId, c.env.CONTACT_EVENT_EXPIRED_GRACE_DAYS);
    return c.json(s!, 200);
  },
);
