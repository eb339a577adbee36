import { Field, ID, ObjectType } from 'type-graphql';
import type { SessionEndReason as SessionEndReasonValue } from '../../db/schema.js';
import { SessionEndReason } from '../../kernel/enums.js';

@ObjectType('SessionEndedEvent')
export class SessionEndedEvent {
  @Field(() => ID)
  sessionId!: string;

  @Field(() => ID)
  userId!: string;

  @Field(() => SessionEndReason)
  reason!: SessionEndReasonValue;

  @Field(() => Date)
  at!: Date;
}
