import { Field, InputType, ObjectType } from 'type-graphql';
import type { SessionRow, UserRow } from '../../db/schema.js';
import { Session } from '../sessions/sessions.types.js';
import { User } from '../users/users.types.js';

@ObjectType('AuthPayload')
export class AuthPayload {
  @Field(() => String)
  accessToken!: string;

  @Field(() => Date)
  accessTokenExpiresAt!: Date;

  @Field(() => String)
  refreshToken!: string;

  @Field(() => Date)
  refreshTokenExpiresAt!: Date;

  @Field(() => String, { description: 'Always "Bearer".' })
  tokenType!: 'Bearer';

  @Field(() => User)
  user!: UserRow;

  @Field(() => Session)
  session!: SessionRow;
}

@InputType('RegisterInput')
export class RegisterInput {
  @Field(() => String, { description: 'Tenant slug.' })
  tenant!: string;

  @Field(() => String)
  email!: string;

  @Field(() => String)
  password!: string;

  @Field(() => String, { nullable: true })
  displayName?: string | null;
}

@InputType('LoginInput')
export class LoginInput {
  @Field(() => String, { description: 'Tenant slug.' })
  tenant!: string;

  @Field(() => String)
  email!: string;

  @Field(() => String)
  password!: string;
}

@InputType('RefreshInput')
export class RefreshInput {
  @Field(() => String)
  refreshToken!: string;
}

@InputType('UpdateMeInput')
export class UpdateMeInput {
  @Field(() => String, { nullable: true })
  displayName?: string | null;

  @Field(() => String, { nullable: true })
  email?: string | null;

  @Field(() => String, { nullable: true, description: 'Required when email changes.' })
  currentPassword?: string | null;
}

@InputType('ChangePasswordInput')
export class ChangePasswordInput {
  @Field(() => String)
  currentPassword!: string;

  @Field(() => String)
  newPassword!: string;
}
