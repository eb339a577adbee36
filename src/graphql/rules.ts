import { rule } from 'graphql-shield';
import type { Role } from '../db/schema.js';
import type { Context } from './context.js';
import { ROLE_RANK } from './enums.js';
import { ForbiddenError, UnauthenticatedError } from './errors.js';

/**
 * The building blocks of every permission. Rules that depend only on the caller are cached per
 * request ('contextual'); rules that look at the object being read are not.
 */

export const isAuthenticated = rule({ cache: 'contextual' })((_parent, _args, ctx: Context) =>
  ctx.caller ? true : new UnauthenticatedError(),
);

function roleRule(min: Role) {
  return rule(`atLeast${min}`, { cache: 'contextual' })((_parent, _args, ctx: Context) => {
    if (!ctx.caller) return new UnauthenticatedError();
    return ROLE_RANK[ctx.caller.role] >= ROLE_RANK[min] ? true : new ForbiddenError();
  });
}

export const atLeastUser = roleRule('USER');
export const atLeastModerator = roleRule('MODERATOR');
export const isAdmin = roleRule('ADMIN');

export const isSystemAdmin = rule({ cache: 'contextual' })((_parent, _args, ctx: Context) => {
  if (!ctx.caller) return new UnauthenticatedError();
  return ctx.caller.isSystemAdmin ? true : new ForbiddenError();
});

/** The object being read is the caller's own user record. */
export const isSelf = rule({ cache: 'strict' })((parent: { id?: string }, _args, ctx: Context) => {
  if (!ctx.caller) return new UnauthenticatedError();
  return parent?.id === ctx.caller.userId ? true : new ForbiddenError();
});
