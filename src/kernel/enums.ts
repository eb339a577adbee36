import { registerEnumType } from 'type-graphql';
import type { Role as RoleValue, SessionEndReason as SessionEndReasonValue } from '../db/schema.js';

/** Enum objects shared by several modules; the values are the database's. */

export const Role = { ADMIN: 'ADMIN', MODERATOR: 'MODERATOR', USER: 'USER', GUEST: 'GUEST' } as const;
export const UserStatus = { ACTIVE: 'ACTIVE', SUSPENDED: 'SUSPENDED' } as const;
export const TenantStatus = { ACTIVE: 'ACTIVE', SUSPENDED: 'SUSPENDED' } as const;
export const OrderDirection = { ASC: 'ASC', DESC: 'DESC' } as const;
export type OrderDirection = keyof typeof OrderDirection;

export const SessionEndReason = {
  LOGOUT: 'LOGOUT',
  REVOKED: 'REVOKED',
  PASSWORD_CHANGED: 'PASSWORD_CHANGED',
  REFRESH_TOKEN_REUSE: 'REFRESH_TOKEN_REUSE',
  USER_SUSPENDED: 'USER_SUSPENDED',
  USER_DELETED: 'USER_DELETED',
  TENANT_SUSPENDED: 'TENANT_SUSPENDED',
  TENANT_DELETED: 'TENANT_DELETED',
  EXPIRED: 'EXPIRED',
  MFA_RESET: 'MFA_RESET',
  PASSWORD_RESET: 'PASSWORD_RESET',
} as const satisfies Record<SessionEndReasonValue, SessionEndReasonValue>;

/** Higher roles include every right of the lower ones. */
export const ROLE_RANK: Record<RoleValue, number> = { GUEST: 0, USER: 1, MODERATOR: 2, ADMIN: 3 };

registerEnumType(Role, { name: 'Role' });
registerEnumType(UserStatus, { name: 'UserStatus' });
registerEnumType(TenantStatus, { name: 'TenantStatus' });
registerEnumType(OrderDirection, { name: 'OrderDirection' });
registerEnumType(SessionEndReason, {
  name: 'SessionEndReason',
  valuesConfig: {
    TENANT_SUSPENDED: { description: 'The tenant was suspended.' },
    TENANT_DELETED: { description: 'The tenant was deleted.' },
    EXPIRED: { description: 'The session reached its absolute lifetime.' },
    MFA_RESET: { description: "An ADMIN reset the user's second factors (resetUserMfa)." },
    PASSWORD_RESET: { description: 'The password was reset by an emailed link or set by an ADMIN.' },
  },
});
