import type { TenantRow, UserRow } from '../../db/schema.js';
import { auditActor, requireRole, requireSystemAdmin } from '../../kernel/caller.js';
import type { Caller, Deps, RequestOrigin } from '../../kernel/context.js';
import { BadUserInputError, type FieldError, ForbiddenError, NotFoundError } from '../../kernel/errors.js';
import { isUuid } from '../../kernel/ids.js';
import { type Connection, validateFirst } from '../../kernel/pagination.js';
import { hasControlCharacters } from '../../kernel/text.js';
import { write } from '../../kernel/unit-of-work.js';
import { passwordFieldErrors } from '../passwords/index.js';
import type { EndedSession } from '../sessions/sessions.queries.js';
import { insertUser } from '../users/users.queries.js';
import { checkDisplayName, checkEmail } from '../users/users.validation.js';
import { defaultTenantSettings, tenantSettings } from './settings.js';
import type { CreateTenantInput, UpdateTenantInput } from './tenants.inputs.js';
import {
  deleteTenantRow,
  endTenantSessions,
  insertTenant,
  listTenants,
  lockTenant,
  setTenantFields,
} from './tenants.queries.js';
import { checkSettings, checkSlug, checkTenantName } from './tenants.validation.js';

export type TenantAdminDeps = Pick<Deps, 'db' | 'clock' | 'hasher' | 'config' | 'commitEffects'>;

const tenantNotFound = () => new NotFoundError('Tenant');

/** System ADMINs: every tenant. */
export function listAllTenants(
  deps: Pick<Deps, 'readDb'>,
  caller: Caller,
  args: { first?: number | null; after?: string | null; search?: string | null },
): Promise<Connection<TenantRow>> {
  requireSystemAdmin(caller);
  const first = validateFirst(args.first);
  const search = args.search?.trim() ?? '';
  if (search.length > 200 || hasControlCharacters(search)) {
    throw BadUserInputError.field(
      'search',
      'Search must be at most 200 characters, without control characters.',
    );
  }
  // May come from a read replica (a moment behind).
  return listTenants(deps.readDb, { first, after: args.after ?? null, search: search.toLowerCase() || null });
}

/** Creates a tenant and its first ADMIN together: both exist afterwards, or neither does. */
export async function createTenant(
  deps: TenantAdminDeps,
  caller: Caller,
  input: CreateTenantInput,
  origin: RequestOrigin,
): Promise<{ tenant: TenantRow; admin: UserRow }> {
  requireSystemAdmin(caller);
  const errors: FieldError[] = [];
  const slug = checkSlug(input.slug);
  const name = checkTenantName(input.name);
  const email = checkEmail(input.adminEmail, 'adminEmail');
  const displayName = checkDisplayName(input.adminDisplayName, 'adminDisplayName');
  for (const checked of [slug, name, email, displayName]) if ('error' in checked) errors.push(checked.error);
  const settings = checkSettings(defaultTenantSettings(deps.config.jwt, false), input.settings);
  errors.push(...settings.errors);
  errors.push(
    ...passwordFieldErrors(input.adminPassword, {
      field: 'adminPassword',
      minLength: settings.value.passwordMinLength,
      email: 'value' in email ? email.value : undefined,
      userInputs: [input.slug, input.name],
    }),
  );
  if (
    errors.length > 0 ||
    !('value' in slug && 'value' in name && 'value' in email && 'value' in displayName)
  ) {
    throw new BadUserInputError(errors);
  }

  const passwordHash = await deps.hasher.hash(input.adminPassword);
  const now = deps.clock.now();
  return write(deps, async (w) => {
    const tenant = await insertTenant(w.tx, {
      slug: slug.value,
      name: name.value,
      settings: settings.value,
      createdAt: now,
      updatedAt: now,
    });
    const admin = await insertUser(w.tx, {
      tenantId: tenant.id,
      email: email.value,
      displayName: displayName.value,
      passwordHash,
      role: 'ADMIN',
      // Vouched for by the system ADMIN who creates the tenant.
      emailVerifiedAt: now,
      createdAt: now,
      updatedAt: now,
    });
    // The operator's own tenant keeps the record of what they did; the new tenant learns who
    // made its first ADMIN.
    await w.audit(origin, {
      tenantId: caller.tenantId,
      ...auditActor(caller),
      action: 'tenant.created',
      targetType: 'tenant',
      targetId: tenant.id,
      metadata: { slug: tenant.slug, adminId: admin.id },
      at: now,
    });
    await w.audit(origin, {
      tenantId: tenant.id,
      ...auditActor(caller),
      action: 'user.created',
      targetType: 'user',
      targetId: admin.id,
      metadata: { role: 'ADMIN', withTenant: true },
      at: now,
    });
    return { tenant, admin };
  });
}

/**
 * Tenant ADMINs change their own tenant's name and settings; system ADMINs any tenant's, and
 * its status. Suspending ends every session of the tenant at once.
 */
export async function updateTenant(
  deps: TenantAdminDeps,
  caller: Caller,
  id: string,
  input: UpdateTenantInput,
  origin: RequestOrigin,
): Promise<TenantRow> {
  const admin = requireRole(caller, 'ADMIN');
  if (!isUuid(id) || (!admin.isSystemAdmin && id !== admin.tenantId)) throw tenantNotFound();
  if (input.status !== undefined && !admin.isSystemAdmin) {
    throw new ForbiddenError("Only system ADMINs can change a tenant's status.");
  }
  const errors: FieldError[] = [];
  const name = input.name === undefined ? undefined : checkTenantName(input.name);
  if (name && 'error' in name) errors.push(name.error);
  if (input.status === null)
    errors.push({ field: 'status', message: 'Status cannot be null; omit it instead.' });
  if (errors.length > 0) throw new BadUserInputError(errors);

  const now = deps.clock.now();
  return write(deps, async (w) => {
    const tenant = await lockTenant(w.tx, id);
    if (!tenant) throw tenantNotFound();
    const settings = checkSettings(tenantSettings(tenant), input.settings);
    if (settings.errors.length > 0) throw new BadUserInputError(settings.errors);
    const isSystem = tenant.slug === deps.config.systemTenantSlug;
    if (input.status === 'SUSPENDED' && isSystem) {
      throw new ForbiddenError('The system tenant cannot be suspended.');
    }
    const changes: Partial<Pick<TenantRow, 'name' | 'status' | 'settings'>> = {};
    const fields: string[] = [];
    if (name && 'value' in name && name.value !== tenant.name) {
      changes.name = name.value;
      fields.push('name');
    }
    if (input.status && input.status !== tenant.status) {
      changes.status = input.status;
      fields.push('status');
    }
    if (settings.changed.length > 0) {
      changes.settings = settings.value;
      fields.push(...settings.changed);
    }
    if (fields.length === 0) return tenant;
    const updated = await setTenantFields(w.tx, id, { ...changes, updatedAt: now });
    if (!updated) throw tenantNotFound();
    const ended: EndedSession[] =
      changes.status === 'SUSPENDED' ? await endTenantSessions(w.tx, id, 'TENANT_SUSPENDED', now) : [];
    await w.audit(origin, {
      tenantId: id,
      ...auditActor(caller),
      action: 'tenant.updated',
      targetType: 'tenant',
      targetId: id,
      metadata: { fields, ...(ended.length > 0 ? { endedSessions: ended.length } : {}) },
      at: now,
    });
    w.sessionsEnded(ended, 'TENANT_SUSPENDED');
    // Invalidated by the id the database holds, not by the caller's spelling of it.
    w.tenantChanged(updated.id);
    return updated;
  });
}

/** Deletes a tenant with everything it owns (foreign keys cascade); its tokens stop at once. */
export async function deleteTenant(
  deps: TenantAdminDeps,
  caller: Caller,
  id: string,
  origin: RequestOrigin,
): Promise<boolean> {
  requireSystemAdmin(caller);
  if (!isUuid(id)) throw tenantNotFound();
  const now = deps.clock.now();
  await write(deps, async (w) => {
    const tenant = await lockTenant(w.tx, id);
    if (!tenant) throw tenantNotFound();
    if (tenant.slug === deps.config.systemTenantSlug) {
      throw new ForbiddenError('The system tenant cannot be deleted.');
    }
    // The cascade removes the sessions; ending them first tells everyone which ones went.
    const ended = await endTenantSessions(w.tx, id, 'TENANT_DELETED', now);
    await deleteTenantRow(w.tx, id);
    await w.audit(origin, {
      tenantId: caller.tenantId,
      ...auditActor(caller),
      action: 'tenant.deleted',
      targetType: 'tenant',
      targetId: id,
      metadata: { slug: tenant.slug, name: tenant.name, endedSessions: ended.length },
      at: now,
    });
    w.sessionsEnded(ended, 'TENANT_DELETED');
    w.tenantChanged(tenant.id, { deleted: true });
  });
  return true;
}
