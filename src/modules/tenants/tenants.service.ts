import { eq } from 'drizzle-orm';
import { isUniqueViolation } from '../../db/errors.js';
import { sessions, type TenantRow, tenants, type UserRow, users } from '../../db/schema.js';
import { transaction } from '../../db/transaction.js';
import { auditActor, requireRole, requireSystemAdmin } from '../../kernel/caller.js';
import type { Caller, Deps, RequestOrigin } from '../../kernel/context.js';
import {
  BadUserInputError,
  ConflictError,
  type FieldError,
  ForbiddenError,
  NotFoundError,
} from '../../kernel/errors.js';
import { isUuid } from '../../kernel/ids.js';
import { type Connection, validateFirst } from '../../kernel/pagination.js';
import { recordAuditEvent } from '../audit/audit.service.js';
import { passwordFieldErrors } from '../passwords/index.js';
import { afterTenantChanged } from '../realtime/changes.js';
import { type EndedSession, endSessions } from '../sessions/sessions.queries.js';
import { afterSessionsEnded } from '../sessions/sessions.service.js';
import { checkDisplayName, checkEmail } from '../users/users.validation.js';
import { defaultTenantSettings, tenantSettings } from './settings.js';
import type { CreateTenantInput, UpdateTenantInput } from './tenants.inputs.js';
import { listTenants, lockTenant, TENANTS_SLUG_UNIQUE } from './tenants.queries.js';
import { checkSettings, checkSlug, checkTenantName } from './tenants.validation.js';

export type TenantAdminDeps = Pick<Deps, 'db' | 'clock' | 'hasher' | 'cache' | 'events' | 'config'>;

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
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it rejects
  if (search.length > 200 || /[\u0000-\u001f]/.test(search)) {
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
  try {
    return await transaction(deps.db, async (tx) => {
      const [tenant] = await tx
        .insert(tenants)
        .values({
          slug: slug.value,
          name: name.value,
          settings: settings.value,
          createdAt: now,
          updatedAt: now,
        })
        .returning();
      if (!tenant) throw new Error('tenant insert returned no row');
      const [admin] = await tx
        .insert(users)
        .values({
          tenantId: tenant.id,
          email: email.value,
          displayName: displayName.value,
          passwordHash,
          role: 'ADMIN',
          // Vouched for by the system ADMIN who creates the tenant.
          emailVerifiedAt: now,
          createdAt: now,
          updatedAt: now,
        })
        .returning();
      if (!admin) throw new Error('user insert returned no row');
      // The operator's own tenant keeps the record of what they did; the new tenant learns who
      // made its first ADMIN.
      await recordAuditEvent(tx, origin, {
        tenantId: caller.tenantId,
        ...auditActor(caller),
        action: 'tenant.created',
        targetType: 'tenant',
        targetId: tenant.id,
        metadata: { slug: tenant.slug, adminId: admin.id },
        at: now,
      });
      await recordAuditEvent(tx, origin, {
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
  } catch (error) {
    if (isUniqueViolation(error, TENANTS_SLUG_UNIQUE)) {
      throw new ConflictError('slug', 'A tenant with this slug already exists.');
    }
    throw error;
  }
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
  const outcome = await transaction(deps.db, async (tx) => {
    const tenant = await lockTenant(tx, id);
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
    if (fields.length === 0) return { tenant, fields, ended: [] as EndedSession[] };
    const [updated] = await tx
      .update(tenants)
      .set({ ...changes, updatedAt: now })
      .where(eq(tenants.id, id))
      .returning();
    if (!updated) throw tenantNotFound();
    const ended =
      changes.status === 'SUSPENDED'
        ? await endSessions(tx, eq(sessions.tenantId, id), 'TENANT_SUSPENDED', now)
        : [];
    await recordAuditEvent(tx, origin, {
      tenantId: id,
      ...auditActor(caller),
      action: 'tenant.updated',
      targetType: 'tenant',
      targetId: id,
      metadata: { fields, ...(ended.length > 0 ? { endedSessions: ended.length } : {}) },
      at: now,
    });
    return { tenant: updated, fields, ended };
  });
  await afterSessionsEnded(deps, outcome.ended, 'TENANT_SUSPENDED');
  // Invalidated by the id the database holds, not by the caller's spelling of it.
  if (outcome.fields.length > 0) await afterTenantChanged(deps, outcome.tenant.id);
  return outcome.tenant;
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
  const { ended, tenantId } = await transaction(deps.db, async (tx) => {
    const tenant = await lockTenant(tx, id);
    if (!tenant) throw tenantNotFound();
    if (tenant.slug === deps.config.systemTenantSlug) {
      throw new ForbiddenError('The system tenant cannot be deleted.');
    }
    // The cascade removes the sessions; ending them first tells everyone which ones went.
    const endedSessions = await endSessions(tx, eq(sessions.tenantId, id), 'TENANT_DELETED', now);
    await tx.delete(tenants).where(eq(tenants.id, id));
    await recordAuditEvent(tx, origin, {
      tenantId: caller.tenantId,
      ...auditActor(caller),
      action: 'tenant.deleted',
      targetType: 'tenant',
      targetId: id,
      metadata: { slug: tenant.slug, name: tenant.name, endedSessions: endedSessions.length },
      at: now,
    });
    return { ended: endedSessions, tenantId: tenant.id };
  });
  await afterSessionsEnded(deps, ended, 'TENANT_DELETED');
  await afterTenantChanged(deps, tenantId, { deleted: true });
  return true;
}
