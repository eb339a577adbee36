import { administersTenant, allow, isAdmin, isAuthenticated, isSystemAdmin } from '../../kernel/rules.js';
import { tenantConnectionRules } from './tenants.types.js';

/**
 * Every signed-in user may read their own tenant's identity; `tenant(id)` answers null for
 * other tenants unless the caller is a system ADMIN, so these fields need only a caller.
 */
export const tenantsRules = {
  Query: {
    tenantInfo: allow,
    tenant: isAuthenticated,
    tenants: isSystemAdmin,
  },
  Mutation: {
    createTenant: isSystemAdmin,
    // Tenant ADMINs: their own tenant's name and settings; the service checks the rest.
    updateTenant: isAdmin,
    deleteTenant: isSystemAdmin,
  },
  Tenant: {
    id: isAuthenticated,
    slug: isAuthenticated,
    name: isAuthenticated,
    status: isAuthenticated,
    createdAt: isAuthenticated,
    updatedAt: isAuthenticated,
    settings: administersTenant,
    stats: administersTenant,
  },
  // Only reachable through Tenant.settings and Tenant.stats, which are checked above.
  TenantSettings: {
    allowSelfRegistration: isAuthenticated,
    defaultRole: isAuthenticated,
    passwordMinLength: isAuthenticated,
    maxFailedLogins: isAuthenticated,
    lockoutMinutes: isAuthenticated,
    accessTokenTtlSeconds: isAuthenticated,
    refreshTokenTtlSeconds: isAuthenticated,
    mfaRequiredForRoles: isAuthenticated,
  },
  TenantStats: {
    totalUsers: isAuthenticated,
    usersByRole: isAuthenticated,
    usersByStatus: isAuthenticated,
    activeSessions: isAuthenticated,
    loginsLast24h: isAuthenticated,
    failedLoginsLast24h: isAuthenticated,
  },
  RoleCount: {
    role: isAuthenticated,
    count: isAuthenticated,
  },
  StatusCount: {
    status: isAuthenticated,
    count: isAuthenticated,
  },
  ...tenantConnectionRules,
  CreateTenantPayload: {
    tenant: isAuthenticated,
    admin: isAuthenticated,
  },
  PublicTenantInfo: {
    slug: allow,
    name: allow,
    allowSelfRegistration: allow,
    passwordMinLength: allow,
  },
};
