import type { Category, Priority } from './contact-event-types';

/**
 * Log → timeline: a log event that names a contact and whose type is listed here also becomes a
 * timeline entry, in the same StreamHub transaction and with the
 * same sequence number. Entries derived this way are for agents unless marked otherwise.
 */
export interface TimelineMapping {
  type: string;
  category: Category;
  title: string;
  priority?: Priority;
  visibleToClient?: boolean;
}

export const LOG_TO_TIMELINE: Readonly<Record<string, TimelineMapping>> = {
  'contact.created': { type: 'contact_created', category: 'general', title: 'Contact Created' },
  'contact.updated': { type: 'contact_updated', category: 'general', title: 'Contact Updated' },
  'contact.merged': { type: 'contact_merged', category: 'general', title: 'Contact Merged' },
  'contact.enriched': { type: 'contact_enriched', category: 'system', title: 'Contact Data Enriched', priority: 'low' },
  'contact.name_changed': { type: 'contact_updated', category: 'general', title: 'Name Changed' },
  'contact.email_set': { type: 'contact_updated', category: 'general', title: 'Email Set' },
  'contact.phone_set': { type: 'contact_updated', category: 'general', title: 'Phone Set' },
  'contact.status_changed': { type: 'status_changed', category: 'status', title: 'Status Changed' },
  'contact.pipeline_status_changed': { type: 'pipeline_stage_changed', category: 'pipeline', title: 'Pipeline Stage Changed' },
  'contact.entered_pipeline': { type: 'entered_pipeline', category: 'pipeline', title: 'Entered Pipeline' },
  'contact.exited_pipeline': { type: 'exited_pipeline', category: 'pipeline', title: 'Exited Pipeline' },
  'contact.tag_added': { type: 'tag_added', category: 'tag', title: 'Tag Added' },
  'contact.tag_removed': { type: 'tag_removed', category: 'tag', title: 'Tag Removed' },
  'tag.added': { type: 'tag_added', category: 'tag', title: 'Tag Added' },
  'tag.removed': { type: 'tag_removed', category: 'tag', title: 'Tag Removed' },
  'note.added': { type: 'note_added', category: 'note', title: 'Note Added' },
  'note.updated': { type: 'note_updated', category: 'note', title: 'Note Updated' },
  'note.deleted': { type: 'note_deleted', category: 'note', title: 'Note Deleted' },
  'custom_field.updated': { type: 'custom_field_set', category: 'custom_field', title: 'Custom Field Updated' },
  'custom_field.set': { type: 'custom_field_set', category: 'custom_field', title: 'Custom Field Set' },
  'custom_field.cleared': { type: 'custom_field_cleared', category: 'custom_field', title: 'Custom Field Cleared' },
  'session.started': { type: 'session_started', category: 'session', title: 'Session Started' },
  'session.ended': { type: 'session_ended', category: 'session', title: 'Session Ended' },
  'agent.assigned': { type: 'agent_assigned', category: 'assignment', title: 'Agent Assigned' },
  'session.agent_assigned': { type: 'agent_assigned', category: 'assignment', title: 'Agent Assigned' },
  'agent.transfer': { type: 'agent_transferred', category: 'assignment', title: 'Agent Transferred' },
  'agent.unassigned': { type: 'agent_unassigned', category: 'assignment', title: 'Agent Unassigned' },
};

export function timelineMappingFor(eventType: string): TimelineMapping | undefined {
  return Object.hasOwn(LOG_TO_TIMELINE, eventType) ? LOG_TO_TIMELINE[eventType] : undefined;
}
