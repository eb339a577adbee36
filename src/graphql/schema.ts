import 'reflect-metadata';
import type { GraphQLSchema } from 'graphql';
import { applyMiddleware } from 'graphql-middleware';
import { buildSchema } from 'type-graphql';
import { AuditResolver } from '../modules/audit/audit.resolver.js';
import { AuthResolver } from '../modules/auth/auth.resolver.js';
import { SessionsResolver } from '../modules/sessions/sessions.resolver.js';
import { TenantsResolver } from '../modules/tenants/tenants.resolver.js';
import { UsersResolver } from '../modules/users/users.resolver.js';
import { createPermissions } from './permissions.js';

export const resolvers = [
  AuthResolver,
  SessionsResolver,
  UsersResolver,
  TenantsResolver,
  AuditResolver,
] as const;

/** The schema exactly as clients see it (what `npm run schema:emit` writes). */
export function buildBaseSchema(): Promise<GraphQLSchema> {
  return buildSchema({
    resolvers: [...resolvers],
    // class-validator's errors would otherwise carry the submitted values, passwords included.
    validate: { forbidUnknownValues: false, validationError: { target: false, value: false } },
  });
}

/** The served schema: the base schema behind the permission layer. */
export async function buildAppSchema(): Promise<GraphQLSchema> {
  return applyMiddleware(await buildBaseSchema(), createPermissions());
}
