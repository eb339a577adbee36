import { Field, InputType } from 'type-graphql';

@InputType('RequestPasswordResetInput')
export class RequestPasswordResetInput {
  @Field(() => String, { description: 'Tenant slug.' })
  tenant!: string;

  @Field(() => String)
  email!: string;
}

@InputType('ResetPasswordInput')
export class ResetPasswordInput {
  @Field(() => String, {
    description:
      'From the emailed link. Bad, used or expired: BAD_USER_INPUT with fields [{ field: "token" }].',
  })
  token!: string;

  @Field(() => String)
  newPassword!: string;
}

@InputType('VerifyEmailInput')
export class VerifyEmailInput {
  @Field(() => String)
  token!: string;
}

@InputType('SetUserPasswordInput')
export class SetUserPasswordInput {
  @Field(() => String)
  newPassword!: string;
}
