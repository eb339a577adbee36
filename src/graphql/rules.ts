import { rule } from 'graphql-shield';
import type { Role } from '../db/schema.js';
import type { Context } from './context.js';
import { ROLE_RANK } from './enums.js';
import { ForbiddenError, UnauthenticatedError } from './errors.js';

/**
 * The building blocks of every permission. Rules that depend only on the caller are cached per
 * request ('contextual'). Rules that look at the object being read are not cached at all: shield's
 * 'strict' cache hashes the whole parent row (object-hash, SHA-1) for every field it guards, which
 * cost far more than the comparison it saved (a page of 50 users spent a quarter of its CPU there).
 *
 * A plain "no" is `false`, which shield answers with the schema's fallback error (FORBIDDEN, built
 * only when it is sent): `or(isSelf, atLeastModerator)` on every row of a page must not build,
 * and capture a stack for, an error per row that is then thrown away.
 */

export const isAuthenticated = rule({ cache: 'contextual' })((_parent, _args, ctx: Context) =>
  ctx.caller ? true : new UnauthenticatedError(),
);

function roleRule(min: Role) {
  return rule(`atLeast${min}`, { cache: 'contextual' })((_parent, _args, ctx: Context) => {
    if (!ctx.caller) return new UnauthenticatedError();
    return ROLE_RANK[ctx.caller.role] >= ROLE_RANK[min];
  });
}

export const atLeastUser = roleRule('USER');
export const atLeastModerator = roleRule('MODERATOR');
export const isAdmin = roleRule('ADMIN');

export const isSystemAdmin = rule({ cache: 'contextual' })((_parent, _args, ctx: Context) => {
  if (!ctx.caller) return new UnauthenticatedError();
  return ctx.caller.isSystemAdmin;
});

/** The object being read is the caller's own user record. */
export const isSelf = rule({ cache: 'no_cache' })((parent: { id?: string }, _args, ctx: Context) => {
  if (!ctx.caller) return new UnauthenticatedError();
  return parent?.id === ctx.caller.userId;
});

/**
 * Tenant ADMINs administer their own tenant (the parent object); system ADMINs every tenant.
 */
export const administersTenant = rule({ cache: 'no_cache' })(
  (parent: { id?: string }, _args, ctx: Context) => {
    if (!ctx.caller) return new UnauthenticatedError();
    if (ctx.caller.role !== 'ADMIN') return false;
    return ctx.caller.isSystemAdmin || parent?.id === ctx.caller.tenantId;
  },
);

/**
 * An operation's optional `tenantId` argument may name the caller's own tenant; only system
 * ADMINs may name another one.
 */
export function tenantArgumentAllowed(name: string, pick: (args: Record<string, unknown>) => unknown) {
  return rule(name, { cache: 'no_cache' })((_parent, args: Record<string, unknown>, ctx: Context) => {
    if (!ctx.caller) return new UnauthenticatedError();
    const tenantId = pick(args);
    if (tenantId === undefined || tenantId === null || tenantId === ctx.caller.tenantId) return true;
    return ctx.caller.isSystemAdmin
      ? true
      : new ForbiddenError('Only system ADMINs may act on another tenant.');
  });
}
