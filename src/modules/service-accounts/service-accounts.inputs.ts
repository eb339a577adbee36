import { Field, ID, InputType, Int } from 'type-graphql';
import { ServiceAccountStatus } from './service-accounts.types.js';

@InputType('CreateServiceAccountInput')
export class CreateServiceAccountInput {
  @Field(() => String)
  name!: string;

  @Field(() => String, { nullable: true })
  description?: string | null;

  @Field(() => [String], {
    description: "From the scope list in this contract's header; an unknown scope is BAD_USER_INPUT.",
  })
  scopes!: string[];

  @Field(() => ID, { nullable: true, description: "System ADMINs only; defaults to the caller's tenant." })
  tenantId?: string | null;
}

@InputType('UpdateServiceAccountInput')
export class UpdateServiceAccountInput {
  @Field(() => String, { nullable: true })
  name?: string | null;

  @Field(() => String, { nullable: true })
  description?: string | null;

  @Field(() => [String], { nullable: true })
  scopes?: string[] | null;

  @Field(() => ServiceAccountStatus, { nullable: true })
  status?: keyof typeof ServiceAccountStatus | null;
}

@InputType('RotateServiceAccountSecretInput')
export class RotateServiceAccountSecretInput {
  @Field(() => Int, {
    nullable: true,
    description: 'How long the old secret keeps working, 0 to 86400; default 0 (at once).',
  })
  graceSeconds?: number | null;
}

@InputType('CreateApiKeyInput')
export class CreateApiKeyInput {
  @Field(() => ID)
  serviceAccountId!: string;

  @Field(() => String)
  name!: string;

  @Field(() => Date, { nullable: true })
  expiresAt?: Date | null;
}
