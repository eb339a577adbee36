import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';
import type { ApiKeyRow, ServiceAccountRow, ServiceAccountSecretRow } from '../../db/schema.js';
import type { Caller } from '../../kernel/caller.js';
import { connectionTypes } from '../../kernel/pagination.js';
import { isAdmin } from '../../kernel/rules.js';

export const ServiceAccountStatus = { ACTIVE: 'ACTIVE', DISABLED: 'DISABLED' } as const;
registerEnumType(ServiceAccountStatus, { name: 'ServiceAccountStatus' });

/** What a client may read of a secret: never its hash. */
@ObjectType('ClientSecretInfo')
export class ClientSecretInfo
  implements Pick<ServiceAccountSecretRow, 'id' | 'hint' | 'createdAt' | 'expiresAt' | 'lastUsedAt'>
{
  @Field(() => ID)
  id!: string;

  @Field(() => String, { description: 'The last 4 characters, to tell secrets apart.' })
  hint!: string;

  @Field(() => Date)
  createdAt!: Date;

  @Field(() => Date, {
    nullable: true,
    description: 'Set while a rotated-out secret still works (grace period).',
  })
  expiresAt!: Date | null;

  @Field(() => Date, { nullable: true })
  lastUsedAt!: Date | null;
}

/** An API key as lists show it: its prefix, never the key or its hash. */
@ObjectType('ApiKey')
export class ApiKey
  implements
    Pick<ApiKeyRow, 'id' | 'name' | 'prefix' | 'createdAt' | 'expiresAt' | 'lastUsedAt' | 'revokedAt'>
{
  @Field(() => ID)
  id!: string;

  @Field(() => String)
  name!: string;

  @Field(() => String, { description: 'The first characters of the key, shown in lists, e.g. idk_3f9a.' })
  prefix!: string;

  @Field(() => Date)
  createdAt!: Date;

  @Field(() => Date, { nullable: true })
  expiresAt!: Date | null;

  @Field(() => Date, { nullable: true })
  lastUsedAt!: Date | null;

  @Field(() => Date, { nullable: true })
  revokedAt!: Date | null;
}

@ObjectType('ServiceAccount')
export class ServiceAccount
  implements
    Pick<
      ServiceAccountRow,
      'id' | 'name' | 'description' | 'scopes' | 'createdAt' | 'updatedAt' | 'lastUsedAt'
    >
{
  @Field(() => ID)
  id!: string;

  @Field(() => String)
  name!: string;

  @Field(() => String, { nullable: true })
  description!: string | null;

  @Field(() => [String])
  scopes!: string[];

  @Field(() => ServiceAccountStatus)
  status!: keyof typeof ServiceAccountStatus;

  @Field(() => Date)
  createdAt!: Date;

  @Field(() => Date)
  updatedAt!: Date;

  @Field(() => Date, { nullable: true })
  lastUsedAt!: Date | null;
}

/** Service accounts are listed to ADMINs only (see service-accounts.rules.ts). */
export const { Connection: ServiceAccountConnection, rules: serviceAccountConnectionRules } = connectionTypes<
  typeof ServiceAccount,
  ServiceAccountRow
>(ServiceAccount, 'ServiceAccount', isAdmin);

@ObjectType('ServiceAccountCredentials', {
  description: 'Returned once: the secret is stored only as a hash.',
})
export class ServiceAccountCredentials {
  @Field(() => ServiceAccount)
  serviceAccount!: ServiceAccountRow;

  @Field(() => String)
  clientId!: string;

  @Field(() => String)
  clientSecret!: string;
}

@ObjectType('CreatedApiKey', { description: 'Returned once: the key is stored only as a hash.' })
export class CreatedApiKey {
  @Field(() => ApiKey)
  apiKey!: ApiKeyRow;

  @Field(() => String)
  key!: string;
}

/** Who is calling: a user or a service account (resolved from the caller, see ViewerResolver). */
@ObjectType('Viewer', { description: 'Who is calling: a user or a service account.' })
export class Viewer {
  /** The caller, fixed when the operation started. */
  caller!: Caller;
}
