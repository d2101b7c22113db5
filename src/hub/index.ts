import type { StreamHub } from './hub';
import { hubName, type HubOwner } from './types';

export { contactStreamId, ownerStreamId } from './types';

type Method = (...args: never[]) => unknown;
/**
 * The hub's RPC surface with its declared return types. (RPC's Serializable mapping turns the JSON
 * fields typed `unknown` into `never`; the values themselves are plain JSON and cross intact.)
 */
export type HubClient = {
  [K in keyof StreamHub as StreamHub[K] extends Method ? K : never]: StreamHub[K] extends (...args: infer A) => infer R
    ? (...args: A) => Promise<Awaited<R>>
    : never;
};

function hub(env: Env, name: string): HubClient {
  const ns = env.STREAM_HUB as DurableObjectNamespace<StreamHub>;
  return ns.get(ns.idFromName(name)) as unknown as HubClient;
}

/** The hub of one contact of one tenant, and the owner every call names. */
export function contactHub(env: Env, tenantId: string, contactId: string): { stub: HubClient; owner: HubOwner } {
  const owner: HubOwner = { tenantId, kind: 'contact', id: contactId };
  return { stub: hub(env, hubName(owner)), owner };
}

/** The hub (serial writer) of a non-contact stream such as `campaign-<id>`. */
export function streamHub(env: Env, tenantId: string, streamId: string): { stub: HubClient; owner: HubOwner } {
  const owner: HubOwner = { tenantId, kind: 'stream', id: streamId };
  return { stub: hub(env, hubName(owner)), owner };
}

/** The raw stub, for what RPC cannot carry (WebSocket upgrades) and for tests. */
export function contactHubStub(env: Env, tenantId: string, contactId: string): DurableObjectStub<StreamHub> {
  const ns = env.STREAM_HUB as DurableObjectNamespace<StreamHub>;
  return ns.get(ns.idFromName(hubName({ tenantId, kind: 'contact', id: contactId })));
}
