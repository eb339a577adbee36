import { allow } from 'graphql-shield';
import { isAdmin, isAuthenticated } from '../../graphql/rules.js';

export const tenantsRules = {
  Query: {
    tenantInfo: allow,
  },
  Tenant: {
    id: isAuthenticated,
    slug: isAuthenticated,
    name: isAuthenticated,
    status: isAuthenticated,
    createdAt: isAuthenticated,
    updatedAt: isAuthenticated,
    // Loaders only ever hand a tenant ADMIN their own tenant.
    settings: isAdmin,
  },
  TenantSettings: {
    allowSelfRegistration: isAuthenticated,
    defaultRole: isAuthenticated,
    passwordMinLength: isAuthenticated,
    maxFailedLogins: isAuthenticated,
    lockoutMinutes: isAuthenticated,
    accessTokenTtlSeconds: isAuthenticated,
    refreshTokenTtlSeconds: isAuthenticated,
  },
  PublicTenantInfo: {
    slug: allow,
    name: allow,
    allowSelfRegistration: allow,
    passwordMinLength: allow,
  },
};
