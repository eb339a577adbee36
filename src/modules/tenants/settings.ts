import type { Config } from '../../config.js';
import type { Role, TenantRow, TenantSettingsValue } from '../../db/schema.js';

/** Allowed range of each numeric setting. */
export const SETTING_BOUNDS = {
  passwordMinLength: { min: 8, max: 128 },
  maxFailedLogins: { min: 1, max: 100 },
  lockoutMinutes: { min: 1, max: 1440 },
  accessTokenTtlSeconds: { min: 60, max: 86_400 },
  refreshTokenTtlSeconds: { min: 300, max: 7_776_000 },
} as const;

export const BASE_TENANT_SETTINGS: TenantSettingsValue = {
  allowSelfRegistration: true,
  defaultRole: 'USER' satisfies Role,
  passwordMinLength: 12,
  maxFailedLogins: 5,
  lockoutMinutes: 15,
  accessTokenTtlSeconds: 900,
  refreshTokenTtlSeconds: 604_800,
  mfaRequiredForRoles: [],
  requireEmailVerification: false,
  appUrl: null,
};

/** Settings a new tenant starts with: token lifetimes follow the server's configuration. */
export function defaultTenantSettings(jwt: Config['jwt'], isSystem = false): TenantSettingsValue {
  return {
    ...BASE_TENANT_SETTINGS,
    allowSelfRegistration: !isSystem,
    accessTokenTtlSeconds: jwt.accessTokenTtlSeconds,
    refreshTokenTtlSeconds: jwt.refreshTokenTtlSeconds,
  };
}

/** The stored settings with defaults filled in for anything a newer release added. */
export function tenantSettings(tenant: Pick<TenantRow, 'settings'>): TenantSettingsValue {
  return { ...BASE_TENANT_SETTINGS, ...tenant.settings };
}

/**
 * Token lifetimes a tenant actually gets: its own settings, capped by the server's configured
 * lifetimes so that an operator can shorten every tenant's tokens at once.
 */
export function tokenLifetimes(tenant: Pick<TenantRow, 'settings'>, jwt: Config['jwt']) {
  const settings = tenantSettings(tenant);
  return {
    accessTokenTtlSeconds: Math.min(settings.accessTokenTtlSeconds, jwt.accessTokenTtlSeconds),
    refreshTokenTtlSeconds: Math.min(settings.refreshTokenTtlSeconds, jwt.refreshTokenTtlSeconds),
  };
}
