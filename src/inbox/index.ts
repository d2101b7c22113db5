import type { AgentInbox } from './inbox';
import type { InboxTarget } from '../hub/watchers';

/** The name an agent's inbox is addressed by: `<tenant>:<agent id>` (tenant ids hold no colon; agent ids may). */
export const inboxName = (tenantId: string, agentId: string): string => `${tenantId}:${agentId}`;

export function inboxOwnerOf(name: string): { tenantId: string; agentId: string } | null {
  const i = name.indexOf(':');
  return i > 0 && i < name.length - 1 ? { tenantId: name.slice(0, i), agentId: name.slice(i + 1) } : null;
}

/** The raw stub, for the WebSocket upgrade (RPC cannot carry a socket) and for tests. */
export function agentInboxStub(env: Env, tenantId: string, agentId: string): DurableObjectStub<AgentInbox> {
  const ns = env.AGENT_INBOX as DurableObjectNamespace<AgentInbox>;
  return ns.get(ns.idFromName(inboxName(tenantId, agentId)));
}

/** What a contact's hub calls on an agent's inbox. */
export function agentInbox(env: Env, tenantId: string, agentId: string): InboxTarget {
  return agentInboxStub(env, tenantId, agentId) as unknown as InboxTarget;
}
