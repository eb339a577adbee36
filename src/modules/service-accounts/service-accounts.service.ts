import type { ApiKeyRow, ServiceAccountRow } from '../../db/schema.js';
import { type Caller, requireRole } from '../../kernel/caller.js';
import type { Deps, RequestOrigin } from '../../kernel/context.js';
import { ForbiddenError, NotFoundError } from '../../kernel/errors.js';
import { isUuid } from '../../kernel/ids.js';
import { type Connection, validateFirst } from '../../kernel/pagination.js';
import { write } from '../../kernel/unit-of-work.js';
import { findTenantById } from '../tenants/tenants.queries.js';
import type { CredentialCache } from './credential-cache.js';
import {
  API_KEY_SHOWN_LENGTH,
  type CredentialHasher,
  clientIdOf,
  newApiKey,
  newClientSecret,
  secretHint,
} from './credentials.js';
import {
  apiKeyHashesOf,
  deleteServiceAccountRow,
  findApiKey,
  findApiKeyTenantId,
  findServiceAccount,
  findServiceAccountTenantId,
  insertApiKey,
  insertSecret,
  insertServiceAccount,
  listServiceAccounts,
  lockServiceAccount,
  markApiKeyRevoked,
  retireSecrets,
  updateServiceAccountRow,
} from './service-accounts.queries.js';
import {
  validateApiKey,
  validateCreate,
  validateGraceSeconds,
  validateUpdate,
} from './service-accounts.validation.js';

/**
 * Managing service accounts: the rules, no SQL. Every change and its audit event share one
 * unit of work (`write`); the credential caches of every instance are invalidated once it has
 * committed and before the answer (a required after-commit step: a failed invalidation fails the
 * answer rather than being only logged), so a disabled account or a revoked key is refused at its
 * very next request.
 */

export type ServiceAccountDeps = Pick<Deps, 'db' | 'clock' | 'commitEffects'> & {
  credentials: CredentialCache;
  credentialHasher: CredentialHasher;
};

/** What these rules need, out of the app's dependencies. */
export function serviceAccountDeps(deps: Deps): ServiceAccountDeps {
  const { db, clock, commitEffects, serviceAccounts } = deps;
  return {
    db,
    clock,
    commitEffects,
    credentials: serviceAccounts.credentials,
    credentialHasher: serviceAccounts.hasher,
  };
}

/** Who is acting, as these rules need it. */
export interface Actor {
  id: string;
  tenantId: string;
  /** A system ADMIN: reaches every tenant. */
  reachesAllTenants: boolean;
  type: 'USER' | 'SERVICE';
}

export interface IssuedCredentials {
  account: ServiceAccountRow;
  clientId: string;
  clientSecret: string;
}

/**
 * Service accounts are managed by ADMINs (system ADMINs: of any tenant). The shield rules decide
 * that for every field; each function here checks it again against the caller it is handed.
 */
export function adminActor(caller: Caller | null | undefined): Actor {
  const admin = requireRole(caller, 'ADMIN');
  return { id: admin.userId, tenantId: admin.tenantId, reachesAllTenants: admin.isSystemAdmin, type: 'USER' };
}

const accountNotFound = () => new NotFoundError('Service account');
const apiKeyNotFound = () => new NotFoundError('API key');

function auditMetadata(actor: Actor, metadata: Record<string, unknown>): Record<string, unknown> {
  return actor.type === 'SERVICE' ? { ...metadata, actorType: 'SERVICE' } : metadata;
}

/** The tenant an account named by id is in, as far as the actor may see: else NOT_FOUND. */
async function tenantOfAccount(deps: ServiceAccountDeps, actor: Actor, id: string): Promise<string> {
  if (!isUuid(id)) throw accountNotFound();
  if (!actor.reachesAllTenants) return actor.tenantId;
  const tenantId = await findServiceAccountTenantId(deps.db, id);
  if (!tenantId) throw accountNotFound();
  return tenantId;
}

export async function findReachableServiceAccount(
  deps: ServiceAccountDeps,
  caller: Caller,
  id: string,
): Promise<ServiceAccountRow | null> {
  const actor = adminActor(caller);
  if (!isUuid(id)) return null;
  const tenantId = actor.reachesAllTenants ? await findServiceAccountTenantId(deps.db, id) : actor.tenantId;
  return (tenantId && (await findServiceAccount(deps.db, tenantId, id))) || null;
}

export async function listTenantServiceAccounts(
  deps: ServiceAccountDeps,
  caller: Caller,
  args: { first?: number | null; after?: string | null; tenantId?: string | null },
): Promise<Connection<ServiceAccountRow>> {
  const actor = adminActor(caller);
  const first = validateFirst(args.first);
  const tenantId = args.tenantId ?? actor.tenantId;
  if (tenantId !== actor.tenantId) {
    if (!actor.reachesAllTenants) throw new ForbiddenError('Only system ADMINs may act on another tenant.');
    if (!isUuid(tenantId) || !(await findTenantById(deps.db, tenantId))) throw new NotFoundError('Tenant');
  }
  return listServiceAccounts(deps.db, { tenantId, first, after: args.after ?? null });
}

export async function createServiceAccount(
  deps: ServiceAccountDeps,
  caller: Caller,
  input: { name: string; description?: string | null; scopes: string[]; tenantId?: string | null },
  origin: RequestOrigin,
): Promise<IssuedCredentials> {
  const actor = adminActor(caller);
  const fields = validateCreate(input);
  const tenantId = input.tenantId ?? actor.tenantId;
  if (tenantId !== actor.tenantId && !actor.reachesAllTenants) {
    throw new ForbiddenError('Only system ADMINs may act on another tenant.');
  }
  if (!isUuid(tenantId) || !(await findTenantById(deps.db, tenantId))) throw new NotFoundError('Tenant');
  const clientSecret = newClientSecret();
  const now = deps.clock.now();
  const account = await write(deps, async (w) => {
    const row = await insertServiceAccount(w.tx, { tenantId, ...fields, at: now });
    const secret = await insertSecret(w.tx, {
      tenantId,
      serviceAccountId: row.id,
      secretHash: deps.credentialHasher.hash(clientSecret),
      hint: secretHint(clientSecret),
      at: now,
    });
    await w.audit(origin, {
      tenantId,
      actorId: actor.id,
      action: 'service_account.created',
      targetType: 'service_account',
      targetId: row.id,
      metadata: auditMetadata(actor, { name: row.name, scopes: row.scopes, secretId: secret.id }),
      at: now,
    });
    return row;
  });
  return { account, clientId: clientIdOf(tenantId, account.id), clientSecret };
}

export async function updateServiceAccount(
  deps: ServiceAccountDeps,
  caller: Caller,
  id: string,
  input: Parameters<typeof validateUpdate>[0],
  origin: RequestOrigin,
): Promise<ServiceAccountRow> {
  const actor = adminActor(caller);
  const requested = validateUpdate(input);
  const tenantId = await tenantOfAccount(deps, actor, id);
  const now = deps.clock.now();
  const outcome = await write(deps, async (w) => {
    const current = await lockServiceAccount(w.tx, tenantId, id);
    if (!current) throw accountNotFound();
    const fields = Object.keys(requested).filter((field) => {
      const before = current[field as keyof typeof requested];
      const after = requested[field as keyof typeof requested];
      return JSON.stringify(before) !== JSON.stringify(after);
    });
    if (fields.length === 0) return { account: current, fields };
    const account = await updateServiceAccountRow(w.tx, tenantId, id, requested, now);
    if (!account) throw accountNotFound();
    await w.audit(origin, {
      tenantId,
      actorId: actor.id,
      action: 'service_account.updated',
      targetType: 'service_account',
      targetId: id,
      metadata: auditMetadata(actor, {
        fields,
        ...(requested.scopes ? { scopes: account.scopes } : {}),
        ...(requested.status ? { status: account.status } : {}),
      }),
      at: now,
    });
    if (fields.length > 0) w.afterCommit(() => deps.credentials.invalidate(tenantId, id), { required: true });
    return { account, fields };
  });
  return outcome.account;
}

export async function deleteServiceAccount(
  deps: ServiceAccountDeps,
  caller: Caller,
  id: string,
  origin: RequestOrigin,
): Promise<boolean> {
  const actor = adminActor(caller);
  const tenantId = await tenantOfAccount(deps, actor, id);
  const now = deps.clock.now();
  await write(deps, async (w) => {
    const current = await lockServiceAccount(w.tx, tenantId, id);
    if (!current) throw accountNotFound();
    const hashes = await apiKeyHashesOf(w.tx, tenantId, id);
    await deleteServiceAccountRow(w.tx, tenantId, id);
    await w.audit(origin, {
      tenantId,
      actorId: actor.id,
      action: 'service_account.deleted',
      targetType: 'service_account',
      targetId: id,
      metadata: auditMetadata(actor, { name: current.name, apiKeys: hashes.length }),
      at: now,
    });
    w.afterCommit(() => deps.credentials.invalidate(tenantId, id, hashes), { required: true });
  });
  return true;
}

/**
 * Issues a new client secret. The old ones stop at once (grace 0), or keep working for
 * `graceSeconds` so that the service can switch without a gap; tokens issued with a secret end
 * with it.
 */
export async function rotateServiceAccountSecret(
  deps: ServiceAccountDeps,
  caller: Caller,
  id: string,
  input: { graceSeconds?: number | null } | null | undefined,
  origin: RequestOrigin,
): Promise<IssuedCredentials> {
  const actor = adminActor(caller);
  const grace = validateGraceSeconds(input?.graceSeconds);
  const tenantId = await tenantOfAccount(deps, actor, id);
  const clientSecret = newClientSecret();
  const now = deps.clock.now();
  const until = grace === 0 ? null : new Date(now.getTime() + grace * 1000);
  const account = await write(deps, async (w) => {
    const current = await lockServiceAccount(w.tx, tenantId, id);
    if (!current) throw accountNotFound();
    await retireSecrets(w.tx, tenantId, id, now, until);
    const secret = await insertSecret(w.tx, {
      tenantId,
      serviceAccountId: id,
      secretHash: deps.credentialHasher.hash(clientSecret),
      hint: secretHint(clientSecret),
      at: now,
    });
    const updated = await updateServiceAccountRow(w.tx, tenantId, id, {}, now);
    await w.audit(origin, {
      tenantId,
      actorId: actor.id,
      action: 'service_account.secret_rotated',
      targetType: 'service_account',
      targetId: id,
      metadata: auditMetadata(actor, { graceSeconds: grace, secretId: secret.id }),
      at: now,
    });
    w.afterCommit(() => deps.credentials.invalidate(tenantId, id), { required: true });
    return updated ?? current;
  });
  return { account, clientId: clientIdOf(tenantId, id), clientSecret };
}

export async function createApiKey(
  deps: ServiceAccountDeps,
  caller: Caller,
  input: { serviceAccountId: string; name: string; expiresAt?: Date | null },
  origin: RequestOrigin,
): Promise<{ apiKey: ApiKeyRow; key: string }> {
  const actor = adminActor(caller);
  const now = deps.clock.now();
  const fields = validateApiKey(input, now);
  const tenantId = await tenantOfAccount(deps, actor, input.serviceAccountId);
  const key = newApiKey(tenantId);
  const apiKey = await write(deps, async (w) => {
    const account = await lockServiceAccount(w.tx, tenantId, input.serviceAccountId);
    if (!account) throw accountNotFound();
    const row = await insertApiKey(w.tx, {
      tenantId,
      serviceAccountId: account.id,
      name: fields.name,
      prefix: key.slice(0, API_KEY_SHOWN_LENGTH),
      keyHash: deps.credentialHasher.hash(key),
      expiresAt: fields.expiresAt,
      at: now,
    });
    await w.audit(origin, {
      tenantId,
      actorId: actor.id,
      action: 'service_account.api_key_created',
      targetType: 'api_key',
      targetId: row.id,
      metadata: auditMetadata(actor, {
        serviceAccountId: account.id,
        name: row.name,
        prefix: row.prefix,
        expiresAt: row.expiresAt?.toISOString() ?? null,
      }),
      at: now,
    });
    return row;
  });
  return { apiKey, key };
}

export function revokeApiKey(
  deps: ServiceAccountDeps,
  caller: Caller,
  id: string,
  origin: RequestOrigin,
): Promise<boolean> {
  return revokeApiKeyAs(deps, adminActor(caller), id, origin);
}

/** Revokes a key as `actor`: an ADMIN, or (OAuth revocation) the key's own service account. */
export async function revokeApiKeyAs(
  deps: ServiceAccountDeps,
  actor: Actor,
  id: string,
  origin: RequestOrigin,
): Promise<boolean> {
  if (!isUuid(id)) throw apiKeyNotFound();
  const tenantId = actor.reachesAllTenants ? await findApiKeyTenantId(deps.db, id) : actor.tenantId;
  if (!tenantId) throw apiKeyNotFound();
  const now = deps.clock.now();
  await write(deps, async (w) => {
    const existing = await findApiKey(w.tx, tenantId, id);
    if (!existing) throw apiKeyNotFound();
    // Dropped from every instance's cache even when it was revoked already (a retry after a
    // failed invalidation must be able to finish it).
    w.afterCommit(
      () => deps.credentials.invalidate(tenantId, existing.serviceAccountId, [existing.keyHash]),
      { required: true },
    );
    const row = await markApiKeyRevoked(w.tx, tenantId, id, now);
    // Already revoked: nothing changes, and nothing is recorded twice.
    if (!row) return;
    await w.audit(origin, {
      tenantId,
      actorId: actor.id,
      action: 'service_account.api_key_revoked',
      targetType: 'api_key',
      targetId: id,
      metadata: auditMetadata(actor, { serviceAccountId: row.serviceAccountId, prefix: row.prefix }),
      at: now,
    });
  });
  return true;
}
