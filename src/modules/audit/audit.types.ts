import { GraphQLJSONObject } from 'graphql-scalars';
import { Field, ID, InputType, ObjectType } from 'type-graphql';
import type { AuditEventRow } from '../../db/schema.js';
import { connectionTypes } from '../../kernel/pagination.js';

/** `actor` is resolved separately, through the loaders of the event's tenant. */
@ObjectType('AuditEvent')
export class AuditEvent
  implements
    Pick<
      AuditEventRow,
      | 'id'
      | 'tenantId'
      | 'actorId'
      | 'action'
      | 'targetType'
      | 'targetId'
      | 'ipAddress'
      | 'userAgent'
      | 'createdAt'
    >
{
  @Field(() => ID)
  id!: string;

  @Field(() => ID)
  tenantId!: string;

  @Field(() => ID, { nullable: true })
  actorId!: string | null;

  @Field(() => String, {
    description: 'Dotted verb, e.g. auth.login.succeeded, auth.login.failed, user.updated, tenant.created.',
  })
  action!: string;

  @Field(() => String, { nullable: true })
  targetType!: string | null;

  @Field(() => ID, { nullable: true })
  targetId!: string | null;

  @Field(() => String, { nullable: true })
  ipAddress!: string | null;

  @Field(() => String, { nullable: true })
  userAgent!: string | null;

  @Field(() => GraphQLJSONObject, { nullable: true })
  metadata!: Record<string, unknown> | null;

  @Field(() => Date)
  createdAt!: Date;
}

/** `AuditEventConnection` (and its `AuditEventEdge`), and the rules of both. */
export const { Connection: AuditEventConnection, rules: auditEventConnectionRules } = connectionTypes(
  AuditEvent,
  'AuditEvent',
);

@InputType('AuditEventFilter')
export class AuditEventFilter {
  @Field(() => String, {
    nullable: true,
    description: "Exact action, or a prefix ending in '.', e.g. 'auth.'",
  })
  action?: string | null;

  @Field(() => ID, { nullable: true })
  actorId?: string | null;

  @Field(() => ID, { nullable: true })
  targetId?: string | null;

  @Field(() => Date, { nullable: true })
  since?: Date | null;

  @Field(() => Date, { nullable: true })
  until?: Date | null;
}
