import type { Role as RoleValue, TenantSettingsValue } from '../../db/schema.js';
import type { FieldError } from '../../kernel/errors.js';
import { hasControlCharacters } from '../../kernel/text.js';
import { isHttpBaseUrl } from '../../kernel/urls.js';
import { SETTING_BOUNDS } from './settings.js';
import type { TenantSettingsInput } from './tenants.inputs.js';

export const TENANT_NAME_MAX_LENGTH = 100;
const SLUG = /^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])$/;

const ROLE_ORDER: readonly RoleValue[] = ['ADMIN', 'MODERATOR', 'USER', 'GUEST'];

type Checked<T> = { value: T } | { error: FieldError };

export function checkSlug(raw: string, field = 'slug'): Checked<string> {
  const value = raw.trim();
  if (!SLUG.test(value)) {
    return {
      error: {
        field,
        message:
          'Slug must be 3-63 lowercase letters, digits or hyphens, not starting or ending with a hyphen.',
      },
    };
  }
  return { value };
}

export function checkTenantName(raw: string | null | undefined, field = 'name'): Checked<string> {
  const value = raw?.trim() ?? '';
  if (value.length === 0) return { error: { field, message: 'Name is required.' } };
  if ([...value].length > TENANT_NAME_MAX_LENGTH) {
    return { error: { field, message: `Name must be at most ${TENANT_NAME_MAX_LENGTH} characters.` } };
  }
  if (hasControlCharacters(value))
    return { error: { field, message: 'Name must not contain control characters.' } };
  return { value };
}

type NumericSetting = keyof typeof SETTING_BOUNDS;

/**
 * Applies `input` on top of `base` and checks the result. Returns the full settings and only
 * the names of the settings that actually changed (for the audit trail).
 */
export function checkSettings(
  base: TenantSettingsValue,
  input: TenantSettingsInput | null | undefined,
  field = 'settings',
): { value: TenantSettingsValue; changed: string[]; errors: FieldError[] } {
  const value = { ...base };
  const errors: FieldError[] = [];
  if (!input) return { value, changed: [], errors };
  for (const [name, given] of Object.entries(input) as [keyof TenantSettingsValue, unknown][]) {
    if (given === undefined) continue;
    const path = `${field}.${name}`;
    if (name === 'appUrl') {
      // null or "" goes back to the service's PUBLIC_URL.
      const url = typeof given === 'string' ? given.trim().replace(/\/+$/, '') : null;
      if (url !== null && url !== '' && (url.length > 2_000 || !isHttpBaseUrl(url))) {
        errors.push({
          field: path,
          message: 'appUrl must be an absolute http(s) URL without query or fragment.',
        });
        continue;
      }
      value.appUrl = url === '' ? null : url;
      continue;
    }
    if (given === null) {
      errors.push({ field: path, message: `${name} cannot be null; omit it to keep the current value.` });
      continue;
    }
    if (name in SETTING_BOUNDS) {
      const { min, max } = SETTING_BOUNDS[name as NumericSetting];
      if (typeof given !== 'number' || !Number.isInteger(given) || given < min || given > max) {
        errors.push({ field: path, message: `${name} must be a whole number from ${min} to ${max}.` });
        continue;
      }
    }
    if (name === 'defaultRole' && given === 'ADMIN') {
      // Self-registration hands out the default role to anyone who signs up.
      errors.push({ field: path, message: 'defaultRole cannot be ADMIN.' });
      continue;
    }
    if (name === 'mfaRequiredForRoles') {
      // Kept in rank order without repeats, so that equal settings compare equal.
      const roles = given as RoleValue[];
      Object.assign(value, { [name]: ROLE_ORDER.filter((role) => roles.includes(role)) });
      continue;
    }
    Object.assign(value, { [name]: given });
  }
  if (errors.length === 0 && value.accessTokenTtlSeconds > value.refreshTokenTtlSeconds) {
    errors.push({
      field: `${field}.accessTokenTtlSeconds`,
      message: 'accessTokenTtlSeconds must not exceed refreshTokenTtlSeconds.',
    });
  }
  const changed = (Object.keys(value) as (keyof TenantSettingsValue)[])
    .filter((name) => JSON.stringify(value[name]) !== JSON.stringify(base[name]))
    .map((name) => `${field}.${name}`);
  return { value, changed, errors };
}
