import { GraphQLJSONObject } from 'graphql-scalars';
import { Field, ID, InputType } from 'type-graphql';
import { MfaMethod } from './mfa.types.js';
import type { MfaMethodValue } from './second-step.js';

@InputType('ConfirmTotpInput')
export class ConfirmTotpInput {
  @Field(() => String)
  code!: string;
}

@InputType('CompleteMfaLoginInput')
export class CompleteMfaLoginInput {
  @Field(() => String, { description: "From the MFA_REQUIRED error's extensions.mfaToken." })
  mfaToken!: string;

  @Field(() => MfaMethod)
  method!: MfaMethodValue;

  @Field(() => String, { nullable: true, description: 'The 6-digit TOTP code or a recovery code.' })
  code?: string | null;

  @Field(() => ID, {
    nullable: true,
    description:
      "For PASSKEY: the challenge from startPasskeyAuthentication and the authenticator's AuthenticationResponseJSON.",
  })
  challengeId?: string | null;

  @Field(() => GraphQLJSONObject, { nullable: true })
  passkeyResponse?: Record<string, unknown> | null;
}

@InputType('FinishPasskeyRegistrationInput')
export class FinishPasskeyRegistrationInput {
  @Field(() => ID)
  challengeId!: string;

  @Field(() => GraphQLJSONObject, { description: "The authenticator's RegistrationResponseJSON." })
  response!: Record<string, unknown>;

  @Field(() => String, { nullable: true })
  name?: string | null;
}

@InputType('StartPasskeyAuthenticationInput')
export class StartPasskeyAuthenticationInput {
  @Field(() => String, {
    nullable: true,
    description: 'Tenant slug: a passkey sign-in without a password (usernameless).',
  })
  tenant?: string | null;

  @Field(() => String, { nullable: true, description: 'Or: the second step of a password sign-in.' })
  mfaToken?: string | null;
}

@InputType('FinishPasskeyLoginInput')
export class FinishPasskeyLoginInput {
  @Field(() => ID)
  challengeId!: string;

  @Field(() => GraphQLJSONObject)
  response!: Record<string, unknown>;
}

@InputType('DisableTotpInput')
export class DisableTotpInput {
  @Field(() => String, {
    nullable: true,
    description: 'A current TOTP or recovery code, or the account password.',
  })
  code?: string | null;

  @Field(() => String, { nullable: true })
  currentPassword?: string | null;
}
