import { and, isAdmin, tenantArgumentAllowed } from '../../graphql/rules.js';

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
    id: adminOnly,
    tenant: adminOnly,
    name: adminOnly,
    description: adminOnly,
    clientId: adminOnly,
    scopes: adminOnly,
    status: adminOnly,
    secrets: adminOnly,
    apiKeys: adminOnly,
    createdAt: adminOnly,
    updatedAt: adminOnly,
    lastUsedAt: adminOnly,
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
  ServiceAccountConnection: {
    edges: adminOnly,
    nodes: adminOnly,
    pageInfo: adminOnly,
    totalCount: adminOnly,
  },
  ServiceAccountEdge: {
    cursor: adminOnly,
    node: adminOnly,
  },
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
