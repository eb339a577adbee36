import { Field, InputType, Int } from 'type-graphql';
import type {
  Role as RoleValue,
  TenantSettingsValue,
  TenantStatus as TenantStatusValue,
} from '../../db/schema.js';
import { Role, TenantStatus } from '../../kernel/enums.js';

@InputType('TenantSettingsInput')
export class TenantSettingsInput implements Partial<Record<keyof TenantSettingsValue, unknown>> {
  @Field(() => Boolean, { nullable: true })
  allowSelfRegistration?: boolean | null;

  @Field(() => Role, { nullable: true })
  defaultRole?: RoleValue | null;

  @Field(() => Int, { nullable: true, description: '8 to 128.' })
  passwordMinLength?: number | null;

  @Field(() => Int, { nullable: true, description: '1 to 100.' })
  maxFailedLogins?: number | null;

  @Field(() => Int, { nullable: true, description: '1 to 1440.' })
  lockoutMinutes?: number | null;

  @Field(() => Int, { nullable: true, description: '60 to 86400.' })
  accessTokenTtlSeconds?: number | null;

  @Field(() => Int, { nullable: true, description: '300 to 7776000.' })
  refreshTokenTtlSeconds?: number | null;

  @Field(() => [Role], { nullable: true, description: 'Roles that must use a second factor.' })
  mfaRequiredForRoles?: RoleValue[] | null;
  @Field(() => Boolean, { nullable: true })
  requireEmailVerification?: boolean | null;

  @Field(() => String, {
    nullable: true,
    description:
      'An absolute http(s) URL without query or fragment; "" or null: use the service\'s PUBLIC_URL.',
  })
  appUrl?: string | null;
}

@InputType('CreateTenantInput')
export class CreateTenantInput {
  @Field(() => String, {
    description: '3-63 lowercase letters, digits and hyphens, not starting or ending with a hyphen.',
  })
  slug!: string;

  @Field(() => String)
  name!: string;

  @Field(() => String, { description: "The tenant's first ADMIN, created with it." })
  adminEmail!: string;

  @Field(() => String)
  adminPassword!: string;

  @Field(() => String, { nullable: true })
  adminDisplayName?: string | null;

  @Field(() => TenantSettingsInput, { nullable: true })
  settings?: TenantSettingsInput | null;
}

@InputType('UpdateTenantInput')
export class UpdateTenantInput {
  @Field(() => String, { nullable: true })
  name?: string | null;

  @Field(() => TenantStatus, { nullable: true, description: 'System ADMINs only.' })
  status?: TenantStatusValue | null;

  @Field(() => TenantSettingsInput, { nullable: true })
  settings?: TenantSettingsInput | null;
}
