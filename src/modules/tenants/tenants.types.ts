import { Field, ID, Int, ObjectType } from 'type-graphql';
import type {
  Role as RoleValue,
  TenantRow,
  TenantSettingsValue,
  TenantStatus as TenantStatusValue,
  UserRow,
  UserStatus as UserStatusValue,
} from '../../db/schema.js';
import { Role, TenantStatus, UserStatus } from '../../kernel/enums.js';
import { connectionTypes } from '../../kernel/pagination.js';
import { User } from '../users/users.types.js';
import type { TenantStatsValue } from './tenants.stats.queries.js';

@ObjectType('TenantSettings')
export class TenantSettings implements TenantSettingsValue {
  @Field(() => Boolean)
  allowSelfRegistration!: boolean;

  @Field(() => Role)
  defaultRole!: RoleValue;

  @Field(() => Int)
  passwordMinLength!: number;

  @Field(() => Int)
  maxFailedLogins!: number;

  @Field(() => Int)
  lockoutMinutes!: number;

  @Field(() => Int)
  accessTokenTtlSeconds!: number;

  @Field(() => Int)
  refreshTokenTtlSeconds!: number;

  @Field(() => [Role], {
    description:
      'Roles whose users must enrol a second factor (MFA_ENROLLMENT_REQUIRED until they do). Default [].',
  })
  mfaRequiredForRoles!: RoleValue[];
  @Field(() => Boolean, {
    description: 'Sign-in refused with EMAIL_NOT_VERIFIED until the email is verified. Default false.',
  })
  requireEmailVerification!: boolean;

  @Field(() => String, {
    nullable: true,
    description:
      "Base URL of the tenant's app; links in emails point under it (e.g. {appUrl}/reset-password?token=...). Null: the service's PUBLIC_URL.",
  })
  appUrl!: string | null;
}

/** `settings` and `stats` are resolved separately: they are for ADMINs only. */
@ObjectType('Tenant')
export class Tenant
  implements Pick<TenantRow, 'id' | 'slug' | 'name' | 'status' | 'createdAt' | 'updatedAt'>
{
  @Field(() => ID)
  id!: string;

  @Field(() => String)
  slug!: string;

  @Field(() => String)
  name!: string;

  @Field(() => TenantStatus)
  status!: TenantStatusValue;

  @Field(() => Date)
  createdAt!: Date;

  @Field(() => Date)
  updatedAt!: Date;
}

@ObjectType('PublicTenantInfo', {
  description: 'What a login or sign-up page may show before anyone is signed in.',
})
export class PublicTenantInfo {
  @Field(() => String)
  slug!: string;

  @Field(() => String)
  name!: string;

  @Field(() => Boolean)
  allowSelfRegistration!: boolean;

  @Field(() => Int)
  passwordMinLength!: number;
}

@ObjectType('RoleCount')
export class RoleCount {
  @Field(() => Role)
  role!: RoleValue;

  @Field(() => Int)
  count!: number;
}

@ObjectType('StatusCount')
export class StatusCount {
  @Field(() => UserStatus)
  status!: UserStatusValue;

  @Field(() => Int)
  count!: number;
}

@ObjectType('TenantStats')
export class TenantStats implements TenantStatsValue {
  @Field(() => Int)
  totalUsers!: number;

  @Field(() => [RoleCount], { description: 'Every role, with 0 where no user has it.' })
  usersByRole!: RoleCount[];

  @Field(() => [StatusCount], { description: 'Every status, with 0 where no user has it.' })
  usersByStatus!: StatusCount[];

  @Field(() => Int)
  activeSessions!: number;

  @Field(() => Int)
  loginsLast24h!: number;

  @Field(() => Int)
  failedLoginsLast24h!: number;
}

/** `TenantConnection` (and its `TenantEdge`), and the rules of both. */
export const { Connection: TenantConnection, rules: tenantConnectionRules } = connectionTypes(
  Tenant,
  'Tenant',
);

@ObjectType('CreateTenantPayload')
export class CreateTenantPayload {
  @Field(() => Tenant)
  tenant!: TenantRow;

  @Field(() => User)
  admin!: UserRow;
}
