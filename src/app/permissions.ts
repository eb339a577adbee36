import { createHash } from 'node:crypto';
import {
  defaultFieldResolver,
  type GraphQLFieldResolver,
  type GraphQLResolveInfo,
  type GraphQLSchema,
  isIntrospectionType,
  isObjectType,
} from 'graphql';
import { ForbiddenError } from '../kernel/errors.js';
import {
  allow,
  and,
  deny,
  isAuthenticated,
  mfaEnrollmentSettled,
  or,
  RULE_SHAPES,
  type ShieldRule,
  type Verdict,
} from '../kernel/rules.js';
import { auditRules } from '../modules/audit/audit.rules.js';
import { authRules } from '../modules/auth/auth.rules.js';
import { cacheRules } from '../modules/cache/cache.rules.js';
import { invitationsRules } from '../modules/invitations/invitations.rules.js';
import { AVAILABLE_DURING_MFA_ENROLLMENT, mfaRules } from '../modules/mfa/mfa.rules.js';
import { realtimeRules } from '../modules/realtime/realtime.rules.js';
import { recoveryRules } from '../modules/recovery/recovery.rules.js';
import { serviceAccountsRules } from '../modules/service-accounts/service-accounts.rules.js';
import {
  type ScopeRuleMap,
  serviceScopeRules,
} from '../modules/service-accounts/service-accounts.scope-rules.js';
import { sessionsRules } from '../modules/sessions/sessions.rules.js';
import { tenantsRules } from '../modules/tenants/tenants.rules.js';
import { usersRules } from '../modules/users/users.rules.js';
import { type Context, contextAt } from './context.js';

type RuleMap = Record<string, Record<string, ShieldRule>>;

/** Merges the modules' rule maps; two modules claiming the same field is a bug, caught here. */
export function mergeRules(...maps: RuleMap[]): RuleMap {
  const merged: RuleMap = {};
  for (const map of maps) {
    for (const [type, fields] of Object.entries(map)) {
      merged[type] ??= {};
      for (const [field, rule] of Object.entries(fields)) {
        if (merged[type][field]) throw new Error(`Two permission rules for ${type}.${field}`);
        merged[type][field] = rule;
      }
    }
  }
  return merged;
}

/** Types shared by several modules. */
const sharedRules = {
  // Only inside connections, whose root fields decided who may list.
  PageInfo: {
    hasNextPage: isAuthenticated,
    hasPreviousPage: isAuthenticated,
    startCursor: isAuthenticated,
    endCursor: isAuthenticated,
  },
};

export const ruleMap = mergeRules(
  sharedRules,
  authRules,
  sessionsRules,
  usersRules,
  tenantsRules,
  auditRules,
  cacheRules,
  realtimeRules,
  serviceAccountsRules,
  mfaRules,
  recoveryRules,
  invitationsRules,
);

const ROOT_TYPES = new Set(['Query', 'Mutation', 'Subscription']);

/**
 * A signed-in caller who must first enrol a second factor reaches only the root fields an
 * enrolling session needs; public fields (rule `allow`) need no caller and stay open.
 */
function withEnrollmentPolicy(typeName: string, fieldName: string, rule: ShieldRule): ShieldRule {
  if (!ROOT_TYPES.has(typeName) || rule === allow || rule === deny) return rule;
  if (AVAILABLE_DURING_MFA_ENROLLMENT.has(`${typeName}.${fieldName}`)) return rule;
  return and(mfaEnrollmentSettled, rule);
}

/**
 * Puts every field of the schema behind its rule, in place. Every field needs an explicit rule:
 * anything without one is denied (graphql-shield's `fallbackRule: deny`), so a field added later
 * stays closed until someone decides who may read it. A refusal is the rule's own coded error,
 * or FORBIDDEN.
 *
 * The rules are graphql-shield's, and they mean what they mean there; this layer only evaluates
 * them without a promise wherever the rule is known (RULE_SHAPES): rules of the caller alone once
 * per request, the rest per field, synchronously. A rule it does not know is asked through
 * graphql-shield's own `resolve`.
 */
export function applyPermissions(
  schema: GraphQLSchema,
  roleRules: RuleMap = ruleMap,
  scopeRules: ScopeRuleMap = serviceScopeRules,
): GraphQLSchema {
  const types = schema.getTypeMap();
  const rules = withScopes(schema, roleRules, scopeRules);
  for (const [typeName, fields] of Object.entries(rules)) {
    const type = types[typeName];
    const missing = Object.keys(fields).filter(
      (field) => !isObjectType(type) || !(field in type.getFields()),
    );
    // A misspelt rule would leave the real field closed and this one guarding nothing.
    if (missing.length > 0) {
      throw new Error(
        `Permission rules for fields the schema lacks: ${missing.map((f) => `${typeName}.${f}`)}`,
      );
    }
  }
  for (const type of Object.values(types)) {
    if (!isObjectType(type) || isIntrospectionType(type)) continue;
    for (const field of Object.values(type.getFields())) {
      const rule = withEnrollmentPolicy(type.name, field.name, rules[type.name]?.[field.name] ?? deny);
      field.resolve = guarded(rule, field.resolve ?? defaultFieldResolver);
    }
  }
  return schema;
}

/**
 * Joins each field's rule with the scope rule that opens it to services: `or(rule, scope)`. A
 * scope rule for a field this schema lacks is left out: some scopes name operations that other
 * parts of the API add.
 */
function withScopes(schema: GraphQLSchema, roleRules: RuleMap, scopeRules: ScopeRuleMap): RuleMap {
  const joined: RuleMap = {};
  for (const [typeName, fields] of Object.entries(roleRules)) joined[typeName] = { ...fields };
  const types = schema.getTypeMap();
  for (const [typeName, fields] of Object.entries(scopeRules)) {
    const type = types[typeName];
    if (!isObjectType(type)) continue;
    const present = Object.keys(type.getFields());
    for (const [field, scopeRule] of Object.entries(fields)) {
      for (const name of field === '*' ? present : present.includes(field) ? [field] : []) {
        joined[typeName] ??= {};
        const own = joined[typeName][name];
        joined[typeName][name] = own === undefined || own === deny ? scopeRule : or(own, scopeRule);
      }
    }
  }
  return joined;
}

/**
 * A field behind its rule. The rule and the resolver see the context of the field's place in the
 * answer (`contextAt`): the operation's own, whose caller never changes, or below a sign-in, that
 * sign-in's answer's own.
 */
function guarded(rule: ShieldRule, resolve: GraphQLFieldResolver<unknown, Context>) {
  if (rule === allow) {
    return (
      parent: unknown,
      args: Record<string, unknown>,
      operationCtx: Context,
      info: GraphQLResolveInfo,
    ) => resolve(parent, args, contextAt(operationCtx, info), info);
  }
  return (
    parent: unknown,
    args: Record<string, unknown>,
    operationCtx: Context,
    info: GraphQLResolveInfo,
  ) => {
    const ctx = contextAt(operationCtx, info);
    const verdict = verdictOf(rule, parent, args, ctx, info);
    if (verdict === true) return resolve(parent, args, ctx, info);
    if (verdict instanceof Promise) {
      return verdict.then((settled) =>
        settled === true ? resolve(parent, args, ctx, info) : refuse(settled),
      );
    }
    return refuse(verdict);
  };
}

function refuse(verdict: Verdict): never {
  throw verdict instanceof Error ? verdict : new ForbiddenError();
}

type Pending = Verdict | Promise<Verdict>;

function verdictOf(
  rule: ShieldRule,
  parent: unknown,
  args: Record<string, unknown>,
  ctx: Context,
  info: GraphQLResolveInfo,
): Pending {
  if (rule === allow) return true;
  if (rule === deny) return false;
  const shape = RULE_SHAPES.get(rule);
  if (!shape) return askShield(rule, parent, args, ctx, info);
  switch (shape.kind) {
    case 'check': {
      if (!shape.perCaller) return decide(shape.check, parent, args, ctx);
      // Remembered on the context, whose caller never changes (see Context.verdicts).
      const verdicts = ctx.verdicts as Map<ShieldRule, Pending>;
      let verdict = verdicts.get(rule);
      if (verdict === undefined) {
        verdict = decide(shape.check, parent, args, ctx);
        verdicts.set(rule, verdict);
      }
      return verdict;
    }
    case 'and':
    case 'or': {
      const results = shape.rules.map((inner) => verdictOf(inner, parent, args, ctx, info));
      const combine = shape.kind === 'and' ? allTrue : anyTrue;
      return results.some((r) => r instanceof Promise)
        ? Promise.all(results).then(combine)
        : combine(results as Verdict[]);
    }
    case 'not': {
      const negate = (result: Verdict): Verdict => (result === true ? (shape.error ?? false) : true);
      const result = verdictOf(shape.rule, parent, args, ctx, info);
      return result instanceof Promise ? result.then(negate) : negate(result);
    }
  }
}

/** graphql-shield's reading of a rule's answer: a thrown error or anything but true is a "no". */
function decide(
  check: (parent: unknown, args: Record<string, unknown>, ctx: Context) => Verdict,
  parent: unknown,
  args: Record<string, unknown>,
  ctx: Context,
): Verdict {
  try {
    const result = check(parent, args, ctx);
    return result instanceof Error ? result : result === true;
  } catch {
    return false;
  }
}

/** `and`: every rule said yes; otherwise the first coded refusal among them, or a plain no. */
function allTrue(results: Verdict[]): Verdict {
  if (results.every((r) => r === true)) return true;
  return results.find((r) => r instanceof Error) ?? false;
}

/** `or`: some rule said yes; otherwise the first coded refusal among them, or a plain no. */
function anyTrue(results: Verdict[]): Verdict {
  if (results.some((r) => r === true)) return true;
  return results.find((r) => r instanceof Error) ?? false;
}

const SHIELD_OPTIONS = {
  debug: false,
  allowExternalErrors: true,
  fallbackRule: deny,
  fallbackError: () => new ForbiddenError(),
  hashFunction: (value: unknown) =>
    createHash('sha1')
      .update(JSON.stringify(value) ?? '')
      .digest('hex'),
};

/** A rule built with graphql-shield directly: evaluated by graphql-shield, with its cache on ctx. */
async function askShield(
  rule: ShieldRule,
  parent: unknown,
  args: Record<string, unknown>,
  ctx: Context,
  info: GraphQLResolveInfo,
): Promise<Verdict> {
  const shieldCtx = ctx as Context & { _shield?: { cache: Record<string, unknown> } };
  shieldCtx._shield ??= { cache: {} };
  const result = await rule.resolve(
    parent as object,
    args,
    shieldCtx as never,
    info,
    SHIELD_OPTIONS as never,
  );
  return result instanceof Error ? result : result === true;
}
