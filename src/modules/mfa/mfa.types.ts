import { GraphQLJSONObject } from 'graphql-scalars';
import { Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import type { PasskeyRow } from '../../db/schema.js';
import type { MfaMethodValue } from './second-step.js';

export const MfaMethod = {
  TOTP: 'TOTP',
  RECOVERY_CODE: 'RECOVERY_CODE',
  PASSKEY: 'PASSKEY',
} as const satisfies Record<MfaMethodValue, MfaMethodValue>;

registerEnumType(MfaMethod, { name: 'MfaMethod' });

@ObjectType('TotpEnrollment')
export class TotpEnrollment {
  @Field(() => String, { description: 'Base32 secret, for manual entry.' })
  secret!: string;

  @Field(() => String, {
    description: 'otpauth://totp/... URI for authenticator apps (issuer = tenant name).',
  })
  otpauthUri!: string;
}

@ObjectType('RecoveryCodes')
export class RecoveryCodes {
  @Field(() => [String], { description: 'Shown once; each works once.' })
  codes!: string[];
}

/** The credential itself (public key, counter) is not for clients. */
@ObjectType('Passkey')
export class Passkey implements Pick<PasskeyRow, 'id' | 'name' | 'createdAt' | 'lastUsedAt'> {
  @Field(() => ID)
  id!: string;

  @Field(() => String)
  name!: string;

  @Field(() => Date)
  createdAt!: Date;

  @Field(() => Date, { nullable: true })
  lastUsedAt!: Date | null;
}

@ObjectType('MfaStatus')
export class MfaStatus {
  @Field(() => Boolean)
  totpEnabled!: boolean;

  @Field(() => [Passkey])
  passkeys!: PasskeyRow[];

  @Field(() => Int)
  recoveryCodesRemaining!: number;
}

@ObjectType('PasskeyChallenge')
export class PasskeyChallenge {
  @Field(() => ID)
  challengeId!: string;

  @Field(() => GraphQLJSONObject, {
    description:
      'PublicKeyCredentialCreationOptionsJSON or PublicKeyCredentialRequestOptionsJSON (WebAuthn Level 3).',
  })
  options!: Record<string, unknown>;
}
