import { and, asc, count, eq, gt, inArray, isNotNull, lte, or, sql } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';
import {
  type ApiKeyRow,
  apiKeys,
  revokedServiceTokens,
  type ServiceAccountRow,
  type ServiceAccountSecretRow,
  type ServiceAccountStatus,
  serviceAccountSecrets,
  serviceAccounts,
} from '../../db/schema.js';
import { type Connection, decodeCursor, textKey, toConnection } from '../../kernel/pagination.js';

/** All SQL of service accounts. Every statement filters by the tenant id it is given. */

export async function insertServiceAccount(
  db: Executor,
  values: {
    tenantId: string;
    name: string;
    description: string | null;
    scopes: string[];
    at: Date;
  },
): Promise<ServiceAccountRow> {
  const [row] = await db
    .insert(serviceAccounts)
    .values({
      tenantId: values.tenantId,
      name: values.name,
      description: values.description,
      scopes: values.scopes,
      createdAt: values.at,
      updatedAt: values.at,
    })
    .returning();
  if (!row) throw new Error('service account insert returned no row');
  return row;
}

export async function insertSecret(
  db: Executor,
  values: { tenantId: string; serviceAccountId: string; secretHash: Buffer; hint: string; at: Date },
): Promise<ServiceAccountSecretRow> {
  const [row] = await db
    .insert(serviceAccountSecrets)
    .values({
      tenantId: values.tenantId,
      serviceAccountId: values.serviceAccountId,
      secretHash: values.secretHash,
      hint: values.hint,
      createdAt: values.at,
    })
    .returning();
  if (!row) throw new Error('secret insert returned no row');
  return row;
}

export async function findServiceAccount(
  db: Executor,
  tenantId: string,
  id: string,
): Promise<ServiceAccountRow | undefined> {
  const [row] = await db
    .select()
    .from(serviceAccounts)
    .where(and(eq(serviceAccounts.tenantId, tenantId), eq(serviceAccounts.id, id)))
    .limit(1);
  return row;
}

export async function findServiceAccounts(
  db: Executor,
  tenantId: string,
  ids: readonly string[],
): Promise<ServiceAccountRow[]> {
  return db
    .select()
    .from(serviceAccounts)
    .where(and(eq(serviceAccounts.tenantId, tenantId), inArray(serviceAccounts.id, [...ids])));
}

/** The account, locked until the transaction ends: changes to one account take turns. */
export async function lockServiceAccount(
  tx: Executor,
  tenantId: string,
  id: string,
): Promise<ServiceAccountRow | undefined> {
  const [row] = await tx
    .select()
    .from(serviceAccounts)
    .where(and(eq(serviceAccounts.tenantId, tenantId), eq(serviceAccounts.id, id)))
    .for('update');
  return row;
}

export async function updateServiceAccountRow(
  tx: Executor,
  tenantId: string,
  id: string,
  changes: Partial<{
    name: string;
    description: string | null;
    scopes: string[];
    status: ServiceAccountStatus;
  }>,
  at: Date,
): Promise<ServiceAccountRow | undefined> {
  const [row] = await tx
    .update(serviceAccounts)
    .set({ ...changes, updatedAt: at })
    .where(and(eq(serviceAccounts.tenantId, tenantId), eq(serviceAccounts.id, id)))
    .returning();
  return row;
}

/** Deletes the account; its secrets, keys and revoked-token rows go with it (cascade). */
export async function deleteServiceAccountRow(tx: Executor, tenantId: string, id: string): Promise<boolean> {
  const rows = await tx
    .delete(serviceAccounts)
    .where(and(eq(serviceAccounts.tenantId, tenantId), eq(serviceAccounts.id, id)))
    .returning({ id: serviceAccounts.id });
  return rows.length > 0;
}

/** Hashes of the account's API keys (to drop them from the caches when the account changes). */
export async function apiKeyHashesOf(
  tx: Executor,
  tenantId: string,
  serviceAccountId: string,
): Promise<Buffer[]> {
  const rows = await tx
    .select({ keyHash: apiKeys.keyHash })
    .from(apiKeys)
    .where(and(eq(apiKeys.tenantId, tenantId), eq(apiKeys.serviceAccountId, serviceAccountId)));
  return rows.map((row) => row.keyHash);
}

/**
 * Retires the account's current secrets: deleted at once without grace, or kept working until
 * `until`. Secrets whose grace already ran out are deleted either way.
 */
export async function retireSecrets(
  tx: Executor,
  tenantId: string,
  serviceAccountId: string,
  now: Date,
  until: Date | null,
): Promise<void> {
  const ofAccount = and(
    eq(serviceAccountSecrets.tenantId, tenantId),
    eq(serviceAccountSecrets.serviceAccountId, serviceAccountId),
  );
  if (until === null) {
    await tx.delete(serviceAccountSecrets).where(ofAccount);
    return;
  }
  await tx
    .delete(serviceAccountSecrets)
    .where(
      and(ofAccount, isNotNull(serviceAccountSecrets.expiresAt), lte(serviceAccountSecrets.expiresAt, now)),
    );
  // A secret already in its grace keeps the earlier end.
  await tx
    .update(serviceAccountSecrets)
    .set({
      expiresAt: sql`least(coalesce(${serviceAccountSecrets.expiresAt}, ${until.toISOString()}::timestamptz), ${until.toISOString()}::timestamptz)`,
    })
    .where(ofAccount);
}

const ORDERING = 'service-accounts:ID';
const ID_KEY = textKey(sql`${serviceAccounts.id}::text`);

/** A page of the tenant's service accounts, oldest first (ids are time-ordered UUIDv7). */
export async function listServiceAccounts(
  db: Executor,
  args: { tenantId: string; first: number; after: string | null },
): Promise<Connection<ServiceAccountRow>> {
  const cursor = args.after === null ? null : decodeCursor(args.after, ORDERING, ID_KEY);
  const rows = await db
    .select({ row: serviceAccounts, sortValue: sql<string>`${serviceAccounts.id}::text` })
    .from(serviceAccounts)
    .where(
      and(
        eq(serviceAccounts.tenantId, args.tenantId),
        cursor ? gt(serviceAccounts.id, cursor.id) : undefined,
      ),
    )
    .orderBy(asc(serviceAccounts.id))
    .limit(args.first + 1);
  return toConnection(
    rows.map(({ row, sortValue }) => ({ ...row, sortValue })),
    {
      first: args.first,
      hasCursor: cursor !== null,
      ordering: ORDERING,
      count: async () => {
        const [total] = await db
          .select({ n: count() })
          .from(serviceAccounts)
          .where(eq(serviceAccounts.tenantId, args.tenantId));
        return total?.n ?? 0;
      },
    },
  );
}

/** Live secrets (not past their grace) of some accounts of one tenant, oldest first. */
export async function secretsOf(
  db: Executor,
  tenantId: string,
  serviceAccountIds: readonly string[],
  now: Date,
): Promise<ServiceAccountSecretRow[]> {
  return db
    .select()
    .from(serviceAccountSecrets)
    .where(
      and(
        eq(serviceAccountSecrets.tenantId, tenantId),
        inArray(serviceAccountSecrets.serviceAccountId, [...serviceAccountIds]),
        or(sql`${serviceAccountSecrets.expiresAt} is null`, gt(serviceAccountSecrets.expiresAt, now)),
      ),
    )
    .orderBy(asc(serviceAccountSecrets.createdAt), asc(serviceAccountSecrets.id));
}

/** API keys (revoked and expired ones too: lists show them) of some accounts of one tenant. */
export async function apiKeysOf(
  db: Executor,
  tenantId: string,
  serviceAccountIds: readonly string[],
): Promise<ApiKeyRow[]> {
  return (
    db
      .select()
      .from(apiKeys)
      .where(and(eq(apiKeys.tenantId, tenantId), inArray(apiKeys.serviceAccountId, [...serviceAccountIds])))
      .orderBy(asc(apiKeys.createdAt), asc(apiKeys.id))
      // Bounded: an account with thousands of keys still answers in one page.
      .limit(1_000)
  );
}

export async function insertApiKey(
  db: Executor,
  values: {
    tenantId: string;
    serviceAccountId: string;
    name: string;
    prefix: string;
    keyHash: Buffer;
    expiresAt: Date | null;
    at: Date;
  },
): Promise<ApiKeyRow> {
  const [row] = await db
    .insert(apiKeys)
    .values({
      tenantId: values.tenantId,
      serviceAccountId: values.serviceAccountId,
      name: values.name,
      prefix: values.prefix,
      keyHash: values.keyHash,
      expiresAt: values.expiresAt,
      createdAt: values.at,
    })
    .returning();
  if (!row) throw new Error('api key insert returned no row');
  return row;
}

export async function findApiKey(db: Executor, tenantId: string, id: string): Promise<ApiKeyRow | undefined> {
  const [row] = await db
    .select()
    .from(apiKeys)
    .where(and(eq(apiKeys.tenantId, tenantId), eq(apiKeys.id, id)))
    .limit(1);
  return row;
}

export async function findApiKeyByHash(
  db: Executor,
  tenantId: string,
  keyHash: Buffer,
): Promise<ApiKeyRow | undefined> {
  const [row] = await db
    .select()
    .from(apiKeys)
    .where(and(eq(apiKeys.tenantId, tenantId), eq(apiKeys.keyHash, keyHash)))
    .limit(1);
  return row;
}

export async function markApiKeyRevoked(
  tx: Executor,
  tenantId: string,
  id: string,
  at: Date,
): Promise<ApiKeyRow | undefined> {
  const [row] = await tx
    .update(apiKeys)
    .set({ revokedAt: at })
    .where(and(eq(apiKeys.tenantId, tenantId), eq(apiKeys.id, id), sql`${apiKeys.revokedAt} is null`))
    .returning();
  return row;
}

/** Access tokens of the account revoked before their expiry, still unexpired. */
export async function revokedTokensOf(
  db: Executor,
  tenantId: string,
  serviceAccountId: string,
  now: Date,
): Promise<{ jti: string; expiresAt: Date }[]> {
  return db
    .select({ jti: revokedServiceTokens.jti, expiresAt: revokedServiceTokens.expiresAt })
    .from(revokedServiceTokens)
    .where(
      and(
        eq(revokedServiceTokens.tenantId, tenantId),
        eq(revokedServiceTokens.serviceAccountId, serviceAccountId),
        gt(revokedServiceTokens.expiresAt, now),
      ),
    )
    .limit(10_000);
}

export async function insertRevokedToken(
  db: Executor,
  values: { tenantId: string; serviceAccountId: string; jti: string; expiresAt: Date },
): Promise<void> {
  await db.insert(revokedServiceTokens).values(values).onConflictDoNothing();
}

/** Revocations of tokens that have expired anyway: nothing to remember them for. */
export async function purgeRevokedTokens(db: Executor, now: Date): Promise<void> {
  await db.delete(revokedServiceTokens).where(lte(revokedServiceTokens.expiresAt, now));
}

/** Last-used times, written for many credentials at once (a minute's worth, see usage.ts). */
export async function touchLastUsed(
  db: Executor,
  tenantId: string,
  used: { accounts: string[]; secrets: string[]; apiKeys: string[] },
  at: Date,
): Promise<void> {
  if (used.accounts.length > 0) {
    await db
      .update(serviceAccounts)
      .set({ lastUsedAt: at })
      .where(and(eq(serviceAccounts.tenantId, tenantId), inArray(serviceAccounts.id, used.accounts)));
  }
  if (used.secrets.length > 0) {
    await db
      .update(serviceAccountSecrets)
      .set({ lastUsedAt: at })
      .where(
        and(eq(serviceAccountSecrets.tenantId, tenantId), inArray(serviceAccountSecrets.id, used.secrets)),
      );
  }
  if (used.apiKeys.length > 0) {
    await db
      .update(apiKeys)
      .set({ lastUsedAt: at })
      .where(and(eq(apiKeys.tenantId, tenantId), inArray(apiKeys.id, used.apiKeys)));
  }
}

/** The tenant of an account named by id alone (system ADMINs reach every tenant). */
export async function findServiceAccountTenantId(db: Executor, id: string): Promise<string | undefined> {
  const [row] = await db
    .select({ tenantId: serviceAccounts.tenantId })
    .from(serviceAccounts)
    .where(eq(serviceAccounts.id, id))
    .limit(1);
  return row?.tenantId;
}

/** The tenant of an API key named by id alone (system ADMINs). */
export async function findApiKeyTenantId(db: Executor, id: string): Promise<string | undefined> {
  const [row] = await db
    .select({ tenantId: apiKeys.tenantId })
    .from(apiKeys)
    .where(eq(apiKeys.id, id))
    .limit(1);
  return row?.tenantId;
}
