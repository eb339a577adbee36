import { Field, ID, Int, ObjectType } from 'type-graphql';
import type {
  Role as RoleValue,
  TenantRow,
  TenantSettingsValue,
  TenantStatus as TenantStatusValue,
} from '../../db/schema.js';
import { Role, TenantStatus } from '../../graphql/enums.js';

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
