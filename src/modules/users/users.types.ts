import { Field, ID, ObjectType } from 'type-graphql';
import type { Role as RoleValue, UserRow, UserStatus as UserStatusValue } from '../../db/schema.js';
import { Role, UserStatus } from '../../kernel/enums.js';
import { connectionTypes } from '../../kernel/pagination.js';

/** The fields a client may read. The password hash is deliberately absent. */
@ObjectType('User')
export class User
  implements
    Pick<
      UserRow,
      | 'id'
      | 'email'
      | 'displayName'
      | 'role'
      | 'status'
      | 'lockedUntil'
      | 'lastLoginAt'
      | 'mfaEnabled'
      | 'emailVerifiedAt'
      | 'createdAt'
      | 'updatedAt'
    >
{
  @Field(() => ID)
  id!: string;

  @Field(() => String)
  email!: string;

  @Field(() => String, { nullable: true })
  displayName!: string | null;

  @Field(() => Role)
  role!: RoleValue;

  @Field(() => UserStatus)
  status!: UserStatusValue;

  @Field(() => Date, {
    nullable: true,
    description: 'Set while the account is locked after too many failed logins.',
  })
  lockedUntil!: Date | null;

  @Field(() => Date, { nullable: true })
  lastLoginAt!: Date | null;

  @Field(() => Boolean, {
    description: 'True when the user has TOTP or a passkey. The user themself, MODERATORs and ADMINs.',
  })
  mfaEnabled!: boolean;

  @Field(() => Date)
  createdAt!: Date;

  @Field(() => Date)
  updatedAt!: Date;

  @Field(() => Date, {
    nullable: true,
    description: 'When the email was verified (by a link, an accepted invitation, or an ADMIN); null if not.',
  })
  emailVerifiedAt!: Date | null;
}

/** `UserConnection` (and its `UserEdge`), and the rules of both. */
export const { Connection: UserConnection, rules: userConnectionRules } = connectionTypes(User, 'User');
