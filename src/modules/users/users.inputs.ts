import { Field, ID, InputType, registerEnumType } from 'type-graphql';
import type { Role as RoleValue, UserStatus as UserStatusValue } from '../../db/schema.js';
import { OrderDirection, Role, UserStatus } from '../../kernel/enums.js';

export const UserOrderField = {
  CREATED_AT: 'CREATED_AT',
  EMAIL: 'EMAIL',
  DISPLAY_NAME: 'DISPLAY_NAME',
  LAST_LOGIN_AT: 'LAST_LOGIN_AT',
} as const;
export type UserOrderField = keyof typeof UserOrderField;

registerEnumType(UserOrderField, { name: 'UserOrderField' });

@InputType('UserFilter')
export class UserFilter {
  @Field(() => String, {
    nullable: true,
    description: 'Case-insensitive substring of email or display name.',
  })
  search?: string | null;

  @Field(() => Role, { nullable: true })
  role?: RoleValue | null;

  @Field(() => UserStatus, { nullable: true })
  status?: UserStatusValue | null;
}

@InputType('UserOrder')
export class UserOrder {
  @Field(() => UserOrderField)
  field!: UserOrderField;

  @Field(() => OrderDirection)
  direction!: OrderDirection;
}

@InputType('CreateUserInput')
export class CreateUserInput {
  @Field(() => String)
  email!: string;

  @Field(() => String)
  password!: string;

  @Field(() => String, { nullable: true })
  displayName?: string | null;

  @Field(() => Role, { nullable: true, description: "Defaults to the tenant's defaultRole setting." })
  role?: RoleValue | null;

  @Field(() => ID, { nullable: true, description: "System ADMINs only; defaults to the caller's tenant." })
  tenantId?: string | null;
}

@InputType('UpdateUserInput')
export class UpdateUserInput {
  @Field(() => String, { nullable: true })
  displayName?: string | null;

  @Field(() => String, { nullable: true })
  email?: string | null;

  @Field(() => Role, { nullable: true })
  role?: RoleValue | null;

  @Field(() => UserStatus, { nullable: true })
  status?: UserStatusValue | null;
}
