import { deny, shield } from 'graphql-shield';
import { auditRules } from '../modules/audit/audit.rules.js';
import { authRules } from '../modules/auth/auth.rules.js';
import { cacheRules } from '../modules/cache/cache.rules.js';
import { realtimeRules } from '../modules/realtime/realtime.rules.js';
import { sessionsRules } from '../modules/sessions/sessions.rules.js';
import { tenantsRules } from '../modules/tenants/tenants.rules.js';
import { usersRules } from '../modules/users/users.rules.js';
import { ForbiddenError } from './errors.js';
import { isAuthenticated } from './rules.js';

type RuleMap = Record<string, Record<string, unknown>>;

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
);

/**
 * Every field needs an explicit rule: anything without one is denied, so a field added later
 * stays closed until someone decides who may read it.
 */
export function createPermissions() {
  return shield(ruleMap as never, {
    fallbackRule: deny,
    allowExternalErrors: true,
    fallbackError: () => new ForbiddenError(),
    debug: false,
  });
}
