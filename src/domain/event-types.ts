import { LIMITS } from './limits';

/** `aggregate.action`: lowercase `[a-z0-9_]` segments joined by dots, at least two, at most 100 characters. */
export const EVENT_TYPE_PATTERN = /^[a-z0-9_]+(\.[a-z0-9_]+)+$/;

export function isValidEventType(type: string): boolean {
  return type.length <= LIMITS.eventTypeLength && EVENT_TYPE_PATTERN.test(type);
}

export const EVENT_SOURCES = ['system', 'webhook', 'manual', 'cron', 'workflow'] as const;
export type EventSource = (typeof EVENT_SOURCES)[number];

/** The predefined event types of the CRM. Other well-formed types are accepted too. */
export const EVENT_CATALOG = {
  'contact.created': 'A contact was created',
  'contact.updated': 'A contact was updated',
  'contact.deleted': 'A contact was deleted',
  'session.started': 'A conversation session started',
  'session.ended': 'A conversation session ended',
  'session.summarized': 'A session summary was generated',
  'message.received': 'An inbound message was received',
  'message.sent': 'An outbound message was sent',
  'message.read': 'A message was read',
  'message.failed': 'A message failed to send',
  'agent.assigned': 'An agent was assigned',
  'agent.transfer': 'A conversation was transferred between agents',
  'agent.typing': 'An agent is typing',
  'custom_field.updated': 'A custom field changed',
  'tag.added': 'A tag was added',
  'tag.removed': 'A tag was removed',
  'note.added': 'A note was added',
} as const satisfies Record<string, string>;

export type CatalogEventType = keyof typeof EVENT_CATALOG;

