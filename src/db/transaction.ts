import type { Db } from './client.js';

/**
 * The transaction handle Drizzle passes to `db.transaction`'s callback. Services never open one
 * themselves: they write through a unit of work (src/kernel/unit-of-work.ts), which does.
 */
export type DbTransaction = Parameters<Parameters<Db['transaction']>[0]>[0];
