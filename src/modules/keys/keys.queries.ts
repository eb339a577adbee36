import { and, desc, eq, gt, isNull, or, sql } from 'drizzle-orm';
import type { Db, Executor } from '../../db/client.js';
import { type SigningKeyRow, signingKeys } from '../../db/schema.js';

/** Transaction-scoped advisory lock serialising key generation and rotation across instances. */
export const SIGNING_KEY_LOCK = 7_140_101_004n;

/**
 * Runs `work` in a transaction of `db` holding the signing-key lock. Key generation at start-up
 * and rotation from the command line have no app dependencies (nothing to announce), so this is
 * a plain transaction rather than a unit of work.
 */
export function inSigningKeyLock<T>(db: Db, work: (tx: Executor) => Promise<T>): Promise<T> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(${SIGNING_KEY_LOCK.toString()}::bigint)`);
    return work(tx);
  });
}

/** Active keys, and keys retired after `retiredAfter` (their tokens may still be live); newest first. */
export function findLiveSigningKeys(db: Executor, retiredAfter: Date): Promise<SigningKeyRow[]> {
  return db
    .select()
    .from(signingKeys)
    .where(or(isNull(signingKeys.retiredAt), gt(signingKeys.retiredAt, retiredAfter)))
    .orderBy(desc(signingKeys.createdAt), desc(signingKeys.kid));
}

/** Whether a key is active (not retired). */
export async function hasActiveSigningKey(tx: Executor): Promise<boolean> {
  const [existing] = await tx
    .select({ kid: signingKeys.kid })
    .from(signingKeys)
    .where(isNull(signingKeys.retiredAt))
    .limit(1);
  return existing !== undefined;
}

/** Retires every active key at `at`; answers the kids it retired. */
export async function retireActiveSigningKeys(tx: Executor, at: Date): Promise<{ kid: string }[]> {
  return tx
    .update(signingKeys)
    .set({ retiredAt: at })
    .where(isNull(signingKeys.retiredAt))
    .returning({ kid: signingKeys.kid });
}

export async function insertSigningKey(
  tx: Executor,
  key: Pick<SigningKeyRow, 'kid' | 'algorithm' | 'publicKey' | 'privateKey' | 'encrypted' | 'createdAt'>,
): Promise<void> {
  await tx.insert(signingKeys).values(key);
}

/** Keys stored with their private key in plain text. */
export function findPlaintextSigningKeys(db: Executor): Promise<{ kid: string; privateKey: string }[]> {
  return db
    .select({ kid: signingKeys.kid, privateKey: signingKeys.privateKey })
    .from(signingKeys)
    .where(eq(signingKeys.encrypted, false));
}

/**
 * Stores a key's private key encrypted; answers whether it did. The encrypted = false guard
 * keeps concurrent starts from wrapping a key twice.
 */
export async function storeEncryptedPrivateKey(
  db: Executor,
  kid: string,
  envelope: string,
): Promise<boolean> {
  const updated = await db
    .update(signingKeys)
    .set({ privateKey: envelope, encrypted: true })
    .where(and(eq(signingKeys.kid, kid), eq(signingKeys.encrypted, false)))
    .returning({ kid: signingKeys.kid });
  return updated.length > 0;
}
