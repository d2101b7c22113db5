import { drizzle } from 'drizzle-orm/d1';
import * as schema from './schema/core';

export const orm = (d1: D1Database) => drizzle(d1, { schema });
export type Orm = ReturnType<typeof orm>;
