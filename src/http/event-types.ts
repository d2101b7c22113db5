import { createRoute } from '@hono/zod-openapi';
import { EVENT_CATALOG, EVENT_SOURCES, EVENT_TYPE_PATTERN } from '../domain/event-types';
import { LIMITS } from '../domain/limits';
import { problemResponses } from '../domain/schemas/common';
import { EventTypeList } from '../domain/schemas/event-queries';
import { router } from './context';

export const eventTypes = router();

eventTypes.openapi(
  createRoute({
    operationId: 'listEventTypes',
    method: 'get',
    path: '/event-types',
    tags: ['Events'],
    summary: 'The predefined event types and the rule every event type follows',
    description: 'Any type matching `pattern` is accepted; the catalog lists the predefined ones, with what each one means.',
    responses: {
      200: { description: 'The catalog', content: { 'application/json': { schema: EventTypeList } } },
      ...problemResponses(401),
    },
  }),
  (c) =>
    c.json(
      {
        pattern: EVENT_TYPE_PATTERN.source,
        max_length: LIMITS.eventTypeLength,
        sources: [...EVENT_SOURCES],
        event_types: Object.entries(EVENT_CATALOG).map(([type, description]) => ({ type, aggregate: type.split('.')[0]!, description })),
      },
      200,
    ),
);
