import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';
import type { Role as RoleValue } from '../../db/schema.js';
import { Role } from '../../kernel/enums.js';
import { connectionTypes } from '../../kernel/pagination.js';
import type { InvitationStatusValue, InvitationView } from './invitations.queries.js';

export const InvitationStatus = {
  PENDING: 'PENDING',
  ACCEPTED: 'ACCEPTED',
  REVOKED: 'REVOKED',
  EXPIRED: 'EXPIRED',
} as const satisfies Record<InvitationStatusValue, InvitationStatusValue>;

registerEnumType(InvitationStatus, { name: 'InvitationStatus' });

/** `status` and `invitedBy` are resolved (see the resolver): derived from the row and the time. */
@ObjectType('Invitation')
export class Invitation
  implements Pick<InvitationView, 'id' | 'email' | 'role' | 'createdAt' | 'expiresAt' | 'acceptedAt'>
{
  @Field(() => ID)
  id!: string;

  @Field(() => String)
  email!: string;

  @Field(() => Role)
  role!: RoleValue;

  @Field(() => Date)
  createdAt!: Date;

  @Field(() => Date)
  expiresAt!: Date;

  @Field(() => Date, { nullable: true })
  acceptedAt!: Date | null;
}

export const { Connection: InvitationConnection, rules: invitationConnectionRules } = connectionTypes<
  typeof Invitation,
  InvitationView
>(Invitation, 'Invitation');
