import { Field, ID, InputType } from 'type-graphql';
import type { Role as RoleValue } from '../../db/schema.js';
import { Role } from '../../kernel/enums.js';

@InputType('InviteUserInput')
export class InviteUserInput {
  @Field(() => String)
  email!: string;

  @Field(() => Role, { nullable: true, description: "Defaults to the tenant's defaultRole setting." })
  role?: RoleValue | null;

  @Field(() => String, { nullable: true })
  displayName?: string | null;

  @Field(() => ID, { nullable: true, description: "System ADMINs only; defaults to the caller's tenant." })
  tenantId?: string | null;
}

@InputType('AcceptInvitationInput')
export class AcceptInvitationInput {
  @Field(() => String)
  token!: string;

  @Field(() => String)
  password!: string;

  @Field(() => String, { nullable: true, description: 'Defaults to the name the invitation was sent with.' })
  displayName?: string | null;
}
