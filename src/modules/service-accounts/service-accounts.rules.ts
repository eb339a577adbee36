import {
  and,
  isAdmin,
  isAuthenticated,
  isService,
  objectRule,
  or,
  tenantArgumentAllowed,
} from '../../kernel/rules.js';
import { serviceAccountConnectionRules } from './service-accounts.types.js';

/** A service reading its own account (through `viewer`). */
const ownAccount = objectRule(
  'ownServiceAccount',
  (parent, _args, ctx) =>
    ctx.caller?.kind === 'service' && (parent as { id?: string } | null)?.id === ctx.caller.serviceAccountId,
);
const adminOrOwn = or(isAdmin, ownAccount);
const anyCaller = or(isAuthenticated, isService);

/**
 * Service accounts are managed by ADMINs of their tenant (system ADMINs: any tenant). The
 * service checks the tenant of every row it touches as well; nested fields are reachable only
 * through the fields above.
 */
const adminOnly = isAdmin;

export const serviceAccountsRules = {
  Query: {
    serviceAccounts: and(
      isAdmin,
      tenantArgumentAllowed('serviceAccountsTenantArgument', (args) => args.tenantId),
    ),
    serviceAccount: adminOnly,
    viewer: isAuthenticated,
  },
  Mutation: {
    createServiceAccount: and(
      isAdmin,
      tenantArgumentAllowed(
        'createServiceAccountTenantArgument',
        (args) => (args.input as { tenantId?: unknown } | undefined)?.tenantId,
      ),
    ),
    updateServiceAccount: adminOnly,
    deleteServiceAccount: adminOnly,
    rotateServiceAccountSecret: adminOnly,
    createApiKey: adminOnly,
    revokeApiKey: adminOnly,
  },
  ServiceAccount: {
    id: adminOrOwn,
    tenant: adminOrOwn,
    name: adminOrOwn,
    description: adminOrOwn,
    clientId: adminOrOwn,
    scopes: adminOrOwn,
    status: adminOrOwn,
    secrets: adminOnly,
    apiKeys: adminOnly,
    createdAt: adminOrOwn,
    updatedAt: adminOrOwn,
    lastUsedAt: adminOrOwn,
  },
  Viewer: {
    user: anyCaller,
    serviceAccount: anyCaller,
    tenant: anyCaller,
    scopes: anyCaller,
  },
  ClientSecretInfo: {
    id: adminOnly,
    hint: adminOnly,
    createdAt: adminOnly,
    expiresAt: adminOnly,
    lastUsedAt: adminOnly,
  },
  ApiKey: {
    id: adminOnly,
    name: adminOnly,
    prefix: adminOnly,
    serviceAccount: adminOnly,
    createdAt: adminOnly,
    expiresAt: adminOnly,
    lastUsedAt: adminOnly,
    revokedAt: adminOnly,
  },
  ...serviceAccountConnectionRules,
  ServiceAccountCredentials: {
    serviceAccount: adminOnly,
    clientId: adminOnly,
    clientSecret: adminOnly,
  },
  CreatedApiKey: {
    apiKey: adminOnly,
    key: adminOnly,
  },
};
