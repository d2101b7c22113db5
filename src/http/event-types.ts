import { createRoute } from '@hono/zod-openapi';
import { TIMELINE_TYPE_PATTERN } from '../domain/contact-event-types';
import { logTypeInfos, timelineTypeInfos } from '../domain/event-payloads';
import { EVENT_SOURCES, EVENT_TYPE_PATTERN } from '../domain/event-types';
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
    summary: 'The predefined event and timeline entry types, with a JSON Schema of each payload',
    description:
      'Any type matching `pattern` (log events) or `timeline_pattern` (timeline entries) is accepted; the catalog lists the predefined ones, with what each one means and what its payload carries (`payload_schema`, descriptive: payloads are not validated against it). A custom type has no schema. docs/event-types.md lists the same.',
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
        event_types: logTypeInfos(),
        timeline_pattern: TIMELINE_TYPE_PATTERN.source,
        timeline_types: timelineTypeInfos(),
      },
      200,
    ),
);
