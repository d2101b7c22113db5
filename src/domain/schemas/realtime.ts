import { z } from '@hono/zod-openapi';
import { DEFAULT_TTL_SECONDS, MAX_TTL_SECONDS } from '../realtime-token';
import { Uuid } from './common';

const AgentId = z.string().min(1, { message: 'must not be empty' }).max(128, { message: 'must be at most 128 characters' });
const AgentName = z.string().min(1, { message: 'must not be empty' }).max(100, { message: 'must be at most 100 characters' });

export const NewRealtimeToken = z
  .strictObject({
    contact_id: Uuid.optional().openapi({ description: 'The contact whose stream the token opens. Required unless `scope` is `inbox`, where it must be absent.' }),
    scope: z
      .enum(['contact', 'inbox'], { message: 'must be contact or inbox' })
      .default('contact')
      .openapi({ description: '`contact` (default): one contact\'s stream. `inbox`: the agent\'s inbox stream (GET /inbox/stream), many contacts on one socket; role agent only (403 for role client).' }),
    role: z.enum(['agent', 'client'], { message: 'must be agent or client' }),
    agent_id: AgentId.optional().openapi({ description: 'Required for role agent; shown in presence and typing frames.' }),
    name: AgentName.optional().openapi({ description: 'The agent\'s display name (role agent only).' }),
    ttl_seconds: z
      .number({ message: 'must be a number' })
      // A refine rather than .int(): zod 4 reports non-integers as invalid_type, which the shared
      // problem mapper would word as "is required".
      .refine(Number.isInteger, { message: 'must be an integer' })
      .min(1, { message: 'must be at least 1' })
      .max(MAX_TTL_SECONDS, { message: `must be at most ${MAX_TTL_SECONDS}` })
      .default(DEFAULT_TTL_SECONDS),
  })
  .superRefine((v, ctx) => {
    if (v.scope === 'contact' && v.contact_id === undefined) ctx.addIssue({ code: 'custom', path: ['contact_id'], message: 'is required' });
    if (v.scope === 'inbox' && v.contact_id !== undefined) ctx.addIssue({ code: 'custom', path: ['contact_id'], message: 'must be absent for scope inbox (the inbox subscribes to contacts over the socket)' });
    if (v.role === 'agent' && v.agent_id === undefined) ctx.addIssue({ code: 'custom', path: ['agent_id'], message: 'is required for role agent' });
    if (v.role === 'client' && v.agent_id !== undefined) ctx.addIssue({ code: 'custom', path: ['agent_id'], message: 'is only for role agent' });
    if (v.role === 'client' && v.name !== undefined) ctx.addIssue({ code: 'custom', path: ['name'], message: 'is only for role agent' });
  })
  .openapi('NewRealtimeToken', {
    example: { contact_id: '0b6f8a4e-3a52-4c1e-9d35-1f0c2b7f9a10', role: 'agent', agent_id: 'agent-42', name: 'John Doe', ttl_seconds: 3600 },
  });

export const RealtimeToken = z
  .object({
    token: z.string().openapi({ description: 'A short-lived JWT (HS256; claims in docs/realtime-tokens.md); pass it as `?token=` on the stream URL.' }),
    expires_at: z.string(),
    url: z.string().openapi({ description: 'The WebSocket URL to open (token included).' }),
  })
  .openapi('RealtimeToken');

export const InboxStreamQuery = z.object({
  token: z.string().optional().openapi({ description: 'An inbox token (POST /realtime/tokens with `scope: "inbox"`, or signed by your backend with a signing key and `scp: "inbox"`); without it, an API key (Authorization header) and `agent_id` open the agent\'s inbox.' }),
  agent_id: AgentId.optional().openapi({ description: 'API-key callers only (required for them): the agent whose inbox to open.' }),
  name: AgentName.optional().openapi({ description: 'API-key callers only: the agent\'s display name.' }),
});

export const StreamParams = z.object({ contact_id: Uuid });

export const StreamQuery = z.object({
  token: z.string().optional().openapi({ description: 'A realtime token (a JWT from POST /realtime/tokens, or signed by your backend with a signing key); without it, an API key (Authorization header) opens the stream as an agent.' }),
  after: z
    .string()
    .regex(/^\d{1,15}$/, { message: 'must be a non-negative integer' })
    .transform(Number)
    .optional()
    .openapi({ type: 'integer', description: 'Resume: first every entry with a higher sequence number, then live. Omitted: live from now.' }),
  agent_id: AgentId.optional().openapi({ description: 'API-key callers only: the agent id to appear as in presence.' }),
  name: AgentName.optional().openapi({ description: 'API-key callers only: the agent\'s display name.' }),
});
