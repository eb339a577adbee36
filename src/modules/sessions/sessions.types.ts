import { Field, ID, ObjectType } from 'type-graphql';
import type { SessionRow } from '../../db/schema.js';

/** `user` and `current` are resolved from the row and the request. */
@ObjectType('Session')
export class Session
  implements Pick<SessionRow, 'id' | 'createdAt' | 'lastUsedAt' | 'expiresAt' | 'ipAddress' | 'userAgent'>
{
  @Field(() => ID)
  id!: string;

  @Field(() => Date)
  createdAt!: Date;

  @Field(() => Date)
  lastUsedAt!: Date;

  @Field(() => Date)
  expiresAt!: Date;

  @Field(() => String, { nullable: true })
  ipAddress!: string | null;

  @Field(() => String, { nullable: true })
  userAgent!: string | null;
}
