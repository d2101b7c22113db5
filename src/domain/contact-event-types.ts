/** Value objects of a timeline entry (contact event). */
export const CATEGORIES = [
  'general',
  'status',
  'pipeline',
  'assignment',
  'tag',
  'note',
  'session',
  'custom_field',
  'system',
  'notification',
  'tracking',
] as const;
export type Category = (typeof CATEGORIES)[number];

export const PRIORITIES = ['low', 'normal', 'high', 'urgent'] as const;
export type Priority = (typeof PRIORITIES)[number];

export const TIMELINE_SOURCES = ['system', 'agent', 'webhook', 'workflow', 'automation', 'integration'] as const;
export type TimelineSource = (typeof TIMELINE_SOURCES)[number];

/** Timeline entry types: lowercase snake case (`pipeline_stage_changed`). */
export const TIMELINE_TYPE_PATTERN = /^[a-z0-9_]+(\.[a-z0-9_]+)*$/;

/** The predefined timeline entry types and their category (GET /event-types, docs/event-types.md). */
export const TIMELINE_CATALOG = {
  status_changed: 'status',
  entered_pipeline: 'pipeline',
  exited_pipeline: 'pipeline',
  pipeline_stage_changed: 'pipeline',
  agent_assigned: 'assignment',
  agent_transferred: 'assignment',
  agent_unassigned: 'assignment',
  tag_added: 'tag',
  tag_removed: 'tag',
  note_added: 'note',
  note_updated: 'note',
  note_deleted: 'note',
  session_started: 'session',
  session_ended: 'session',
  custom_field_set: 'custom_field',
  custom_field_cleared: 'custom_field',
  webhook_received: 'system',
  notification_sent: 'notification',
  contact_created: 'general',
  contact_updated: 'general',
  contact_merged: 'general',
  contact_enriched: 'system',
} as const satisfies Record<string, Category>;

export type TimelineVisibility = 'client' | 'agent';

export interface VisibilityFields {
  visible_to_client: boolean;
  visible_to_agent: boolean;
  expires_at: string | null;
}

/** Expired entries are shown to nobody; otherwise each audience sees what is visible to it. */
export function isVisibleTo(entry: VisibilityFields, role: TimelineVisibility, now: number): boolean {
  if (isExpired(entry, now)) return false;
  return role === 'client' ? entry.visible_to_client : entry.visible_to_agent;
}

export function isExpired(entry: { expires_at: string | null }, now: number): boolean {
  return entry.expires_at !== null && Date.parse(entry.expires_at) <= now;
}
