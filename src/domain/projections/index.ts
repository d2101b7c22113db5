import { contactsProjection } from './contacts';
import type { Projection } from './types';

/** Every built-in read model. A new one joins with one module and one line here. */
export const PROJECTIONS: readonly Projection<unknown>[] = [contactsProjection as Projection<unknown>];

export function projectionByName(name: string): Projection<unknown> | undefined {
  return PROJECTIONS.find((p) => p.name === name);
}

export const projectionConsumerName = (name: string) => `projection:${name}`;
