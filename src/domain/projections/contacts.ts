import type { z } from '@hono/zod-openapi';
import type { ContactView } from '../schemas/eventstore';
import { iso } from '../time';
import type { Projection, ProjectionEvent } from './types';

/**
 * The state of each contact as a read model: one row per contact, folded from its contact.*,
 * tag.* and custom_field.* events (payload field names as the CRM's contact events send them; common
 * aliases accepted so that hand-written events project too). The fields of the API's ContactView,
 * whose `version` is the contact stream's version of the last event applied; the API adds the row's
 * event count and position.
 */
export type ContactState = Omit<z.infer<typeof ContactView>, 'event_count' | 'position'>;

const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
const first = (p: Record<string, unknown>, ...keys: string[]): string | null => {
  for (const k of keys) {
    const v = str(p[k]);
    if (v !== null) return v;
  }
  return null;
};
const has = (p: Record<string, unknown>, ...keys: string[]) => keys.some((k) => Object.hasOwn(p, k));

function tagsOf(p: Record<string, unknown>): string[] {
  const list = Array.isArray(p.tags) ? p.tags : [p.tag ?? p.tag_name ?? p.name];
  return list.filter((t): t is string => typeof t === 'string' && t !== '');
}

function applyFields(s: ContactState, p: Record<string, unknown>): void {
  if (has(p, 'name', 'full_name')) s.name = first(p, 'name', 'full_name');
  if (has(p, 'first_name')) s.first_name = str(p.first_name);
  if (has(p, 'last_name')) s.last_name = str(p.last_name);
  if (has(p, 'email', 'email_address')) s.email = first(p, 'email_address', 'email');
  if (has(p, 'phone', 'phone_number')) s.phone = first(p, 'phone_number', 'phone');
  if (has(p, 'language')) s.language = str(p.language);
  if (has(p, 'timezone')) s.timezone = str(p.timezone);
  if (has(p, 'external_id')) s.external_id = str(p.external_id);
  if (has(p, 'source_channel')) s.source_channel = str(p.source_channel);
  if (has(p, 'pipeline_status')) s.pipeline_status = str(p.pipeline_status);
  if (Array.isArray(p.tags)) s.tags = [...new Set(tagsOf(p))];
  if (p.custom_fields && typeof p.custom_fields === 'object' && !Array.isArray(p.custom_fields)) {
    s.custom_fields = { ...s.custom_fields, ...(p.custom_fields as Record<string, unknown>) };
  }
}

export function reduceContact(prev: ContactState, e: ProjectionEvent): ContactState {
  const s: ContactState = { ...prev, tags: [...prev.tags], custom_fields: { ...prev.custom_fields } };
  const p = e.payload;
  const at = iso(e.timestamp);
  switch (e.event_type) {
    case 'contact.created':
      s.created_at ??= at;
      s.deleted = false;
      applyFields(s, p);
      break;
    case 'contact.updated':
    case 'contact.enriched':
      applyFields(s, p.enriched_data && typeof p.enriched_data === 'object' ? (p.enriched_data as Record<string, unknown>) : p);
      break;
    case 'contact.name_changed':
      s.name = first(p, 'new_name', 'name') ?? s.name;
      break;
    case 'contact.email_set':
      s.email = first(p, 'email_address', 'email', 'new_email');
      break;
    case 'contact.phone_set':
      s.phone = first(p, 'phone_number', 'phone', 'new_phone');
      break;
    case 'contact.language_changed':
      s.language = first(p, 'language', 'new_language');
      break;
    case 'contact.timezone_set':
      s.timezone = first(p, 'timezone');
      break;
    case 'contact.external_id_set':
      s.external_id = first(p, 'external_id');
      break;
    case 'contact.source_channel_set':
      s.source_channel = first(p, 'source_channel', 'channel');
      break;
    case 'contact.tag_added':
    case 'tag.added':
      for (const t of tagsOf(p)) if (!s.tags.includes(t)) s.tags.push(t);
      break;
    case 'contact.tag_removed':
    case 'tag.removed': {
      const gone = new Set(tagsOf(p));
      s.tags = s.tags.filter((t) => !gone.has(t));
      break;
    }
    case 'contact.tags_cleared':
      s.tags = [];
      break;
    case 'custom_field.updated':
    case 'custom_field.set': {
      const key = first(p, 'field', 'key', 'field_name', 'name');
      if (key !== null) s.custom_fields[key] = p.value ?? p.new_value ?? null;
      break;
    }
    case 'custom_field.cleared': {
      const key = first(p, 'field', 'key', 'field_name', 'name');
      if (key !== null) delete s.custom_fields[key];
      break;
    }
    case 'contact.pipeline_status_changed':
    case 'contact.entered_pipeline':
      s.pipeline_status = first(p, 'new_status', 'status', 'pipeline_status', 'stage') ?? s.pipeline_status;
      break;
    case 'contact.exited_pipeline':
      s.pipeline_status = null;
      break;
    case 'contact.status_changed':
      s.status = first(p, 'new_status', 'status') ?? s.status;
      break;
    case 'contact.interaction_recorded':
      s.last_interaction_at = first(p, 'interaction_at', 'occurred_at', 'at') ?? at;
      break;
    case 'contact.deleted':
      s.deleted = true;
      break;
    default:
      break;
  }
  s.version = e.sequence_number ?? s.version;
  s.updated_at = at;
  return s;
}

export function emptyContact(contactId: string): ContactState {
  return {
    contact_id: contactId,
    name: null,
    first_name: null,
    last_name: null,
    email: null,
    phone: null,
    tags: [],
    custom_fields: {},
    pipeline_status: null,
    status: null,
    language: null,
    timezone: null,
    external_id: null,
    source_channel: null,
    last_interaction_at: null,
    deleted: false,
    version: null,
    created_at: null,
    updated_at: null,
  };
}

export const SNAPSHOT_EVERY = 100;

export const contactsProjection: Projection<ContactState> = {
  name: 'contacts',
  description: "Each contact's current state (name, phone, email, tags, custom fields, pipeline status, last interaction).",
  eventTypes: ['contact.*', 'tag.*', 'custom_field.*'],
  keyOf: (e) => e.contact_id,
  init: (key) => emptyContact(key),
  apply: reduceContact,
  snapshot: { every: SNAPSHOT_EVERY, streamOf: (key) => `contact-${key}`, versionOf: (s) => s.version },
};
