import { allow, deny, rule, and as shieldAnd, not as shieldNot, or as shieldOr } from 'graphql-shield';
import type { Role } from '../db/schema.js';
import { hasScope as hasCallerScope, hasRole, reachesTenant } from './caller.js';
import type { Context } from './context.js';
import { ForbiddenError, MfaEnrollmentRequiredError, UnauthenticatedError } from './errors.js';

/**
 * The building blocks of every permission: graphql-shield rules and combinators, each also
 * described here (RULE_SHAPES) so that the permission layer (permissions.ts) can decide most
 * checks without a promise. graphql-shield runs every rule through async functions, several per
 * field; on a page of 50 users that was some 2,000 promises per request, and the allocations
 * behind them cost more than the checks.
 *
 * A plain "no" is `false`, answered with the schema's fallback error (FORBIDDEN, built only when
 * it is sent): `or(isSelf, atLeastModerator)` on every row of a page must not build, and capture a
 * stack for, an error per row that is then thrown away.
 */

/** Any graphql-shield rule or combination of rules. */
export type ShieldRule = Parameters<typeof shieldAnd>[number];
export type Verdict = boolean | Error;
type Check = (parent: unknown, args: Record<string, unknown>, ctx: Context) => Verdict;

/** How the permission layer evaluates a rule; rules it does not know go through graphql-shield. */
export type RuleShape =
  | { kind: 'check'; check: Check; perCaller: boolean }
  | { kind: 'and' | 'or'; rules: readonly ShieldRule[] }
  | { kind: 'not'; rule: ShieldRule; error?: Error };

export const RULE_SHAPES = new WeakMap<object, RuleShape>();

function described<R extends ShieldRule>(shieldRule: R, shape: RuleShape): R {
  RULE_SHAPES.set(shieldRule, shape);
  return shieldRule;
}

/** A rule that depends only on the caller: decided once per request ('contextual' in shield). */
function callerRule(name: string, check: (ctx: Context) => Verdict): ShieldRule {
  const fn: Check = (_parent, _args, ctx) => check(ctx);
  return described(rule(name, { cache: 'contextual' })(fn), { kind: 'check', check: fn, perCaller: true });
}

/** A rule that looks at the object being read or the arguments: decided for each field. */
export function objectRule(name: string, check: Check): ShieldRule {
  return described(rule(name, { cache: 'no_cache' })(check), { kind: 'check', check, perCaller: false });
}

export { allow, deny };

export function and(...rules: ShieldRule[]): ShieldRule {
  return described(shieldAnd(...rules), { kind: 'and', rules });
}

export function or(...rules: ShieldRule[]): ShieldRule {
  return described(shieldOr(...rules), { kind: 'or', rules });
}

export function not(negated: ShieldRule, error?: Error): ShieldRule {
  return described(shieldNot(negated, error), { kind: 'not', rule: negated, error });
}

/**
 * A signed-in person. A service caller is not one: every field a service may reach is opened to
 * it by a scope rule (`hasScope`), so a field with no scope rule stays closed to services.
 */
export const isAuthenticated = callerRule('isAuthenticated', (ctx) =>
  ctx.caller ? ctx.caller.kind === 'user' : new UnauthenticatedError(),
);

/**
 * The caller is not held to enrolling a second factor first (see Caller.mfaEnrollmentRequired).
 * The permission layer puts it in front of every root field but the few an enrolling session
 * needs.
 */
export const mfaEnrollmentSettled = callerRule('mfaEnrollmentSettled', (ctx) =>
  ctx.caller?.kind === 'user' && ctx.caller.mfaEnrollmentRequired ? new MfaEnrollmentRequiredError() : true,
);

/** Any service caller (for plumbing such as PageInfo, reachable only through scoped fields). */
export const isService = callerRule('isService', (ctx) =>
  ctx.caller ? ctx.caller.kind === 'service' : new UnauthenticatedError(),
);

const scopeRules = new Map<string, ShieldRule>();

/** A service caller holding `scope` (see the contract's scope list); people are not services. */
export function hasScope(scope: string): ShieldRule {
  let scopeRule = scopeRules.get(scope);
  if (!scopeRule) {
    scopeRule = callerRule(`hasScope(${scope})`, (ctx) => {
      if (!ctx.caller) return new UnauthenticatedError();
      return hasCallerScope(ctx.caller, scope);
    });
    scopeRules.set(scope, scopeRule);
  }
  return scopeRule;
}

// The predicates are caller.ts's, which the services use to re-check the same rules.
function roleRule(min: Role) {
  return callerRule(`atLeast${min}`, (ctx) => {
    if (!ctx.caller) return new UnauthenticatedError();
    return hasRole(ctx.caller, min);
  });
}

export const atLeastUser = roleRule('USER');
export const atLeastModerator = roleRule('MODERATOR');
export const isAdmin = roleRule('ADMIN');

export const isSystemAdmin = callerRule('isSystemAdmin', (ctx) => {
  if (!ctx.caller) return new UnauthenticatedError();
  return ctx.caller.kind === 'user' && ctx.caller.isSystemAdmin;
});

/** The object being read is the caller's own user record. */
export const isSelf = objectRule('isSelf', (parent, _args, ctx) => {
  if (!ctx.caller) return new UnauthenticatedError();
  return ctx.caller.kind === 'user' && (parent as { id?: string } | null)?.id === ctx.caller.userId;
});

/**
 * Tenant ADMINs administer their own tenant (the parent object); system ADMINs every tenant.
 */
export const administersTenant = objectRule('administersTenant', (parent, _args, ctx) => {
  if (!ctx.caller) return new UnauthenticatedError();
  if (ctx.caller.kind !== 'user' || ctx.caller.role !== 'ADMIN') return false;
  return ctx.caller.isSystemAdmin || (parent as { id?: string } | null)?.id === ctx.caller.tenantId;
});

/**
 * An operation's optional `tenantId` argument may name the caller's own tenant; only system
 * ADMINs may name another one.
 */
export function tenantArgumentAllowed(name: string, pick: (args: Record<string, unknown>) => unknown) {
  return objectRule(name, (_parent, args, ctx) => {
    if (!ctx.caller) return new UnauthenticatedError();
    const tenantId = pick(args);
    if (tenantId === undefined || tenantId === null) return true;
    return typeof tenantId === 'string' && reachesTenant(ctx.caller, tenantId)
      ? true
      : new ForbiddenError('Only system ADMINs may act on another tenant.');
  });
}
