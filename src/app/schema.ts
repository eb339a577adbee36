import 'reflect-metadata';
import type { GraphQLSchema } from 'graphql';
import { buildSchema, type PubSub } from 'type-graphql';
import { normalizeIdArguments } from '../kernel/id-arguments.js';
import { AuditResolver } from '../modules/audit/audit.resolver.js';
import { AuthResolver } from '../modules/auth/auth.resolver.js';
import { CacheResolver } from '../modules/cache/cache.resolver.js';
import { InvitationsResolver } from '../modules/invitations/invitations.resolver.js';
import { MfaResolver } from '../modules/mfa/mfa.resolver.js';
import { RealtimeResolver } from '../modules/realtime/realtime.resolver.js';
import { RecoveryResolver } from '../modules/recovery/recovery.resolver.js';
import {
  ApiKeysResolver,
  ServiceAccountsResolver,
} from '../modules/service-accounts/service-accounts.resolver.js';
import { ViewerResolver } from '../modules/service-accounts/viewer.resolver.js';
import { SessionsResolver } from '../modules/sessions/sessions.resolver.js';
import { TenantsResolver } from '../modules/tenants/tenants.resolver.js';
import { UsersResolver } from '../modules/users/users.resolver.js';
import { applyPermissions } from './permissions.js';

export const resolvers = [
  AuthResolver,
  SessionsResolver,
  UsersResolver,
  TenantsResolver,
  AuditResolver,
  CacheResolver,
  RealtimeResolver,
  ServiceAccountsResolver,
  ApiKeysResolver,
  MfaResolver,
  ViewerResolver,
  RecoveryResolver,
  InvitationsResolver,
] as const;

/**
 * type-graphql insists on a pubsub once there are subscriptions, but every subscription here has
 * its own subscribe function (it authorizes, then listens on the app's event bus: see
 * src/modules/realtime), so this one is never used.
 */
export const unusedPubSub: PubSub = {
  publish: () => {
    throw new Error('publish through services.events');
  },
  subscribe: () => {
    throw new Error('subscriptions subscribe through their own functions');
  },
};

/** The schema exactly as clients see it (what `npm run schema:emit` writes). */
export function buildBaseSchema(): Promise<GraphQLSchema> {
  return buildSchema({
    resolvers: [...resolvers],
    pubSub: unusedPubSub,
    // Inputs are checked by the services (src/modules/*/…-input.ts), which know the contract's
    // field errors; type-graphql's class-validator pass would only cost time on every request.
    validate: false,
  });
}

/**
 * The served schema: the base schema behind the permission layer, with every id argument in its
 * one spelling before the rules and resolvers see it.
 */
export async function buildAppSchema(): Promise<GraphQLSchema> {
  return normalizeIdArguments(applyPermissions(await buildBaseSchema()));
}
