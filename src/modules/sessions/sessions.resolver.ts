import { Arg, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import type { SessionRow } from '../../db/schema.js';
import { requireCaller } from '../../kernel/caller.js';
import type { Context, SignedInContext } from '../../kernel/context.js';
import type { UserView } from '../cache/identity-cache.js';
import { User } from '../users/users.types.js';
import { revokeSession, revokeUserSessions } from './sessions.service.js';
import { Session } from './sessions.types.js';
import { newest } from './sessions.validation.js';

@Resolver(() => Session)
export class SessionsResolver {
  @Query(() => [Session], {
    description: "The signed-in user's active sessions, oldest first (at most MAX_SESSIONS_PER_USER).",
  })
  async mySessions(@Ctx() ctx: SignedInContext): Promise<SessionRow[]> {
    const list = await ctx.loaders.activeSessions(requireCaller(ctx.caller).userId);
    // The limit holds after every sign-in; two racing sign-ins may briefly leave one more.
    return newest(list, ctx.services.config.maxSessionsPerUser);
  }

  @Mutation(() => Boolean, { description: "Ends one session: one's own, or any in the tenant for ADMINs." })
  revokeSession(@Arg('id', () => ID) id: string, @Ctx() ctx: SignedInContext): Promise<boolean> {
    return revokeSession(ctx.services, ctx.caller, ctx.origin, id);
  }

  @Mutation(() => Int, {
    description:
      'v2. Ends every session of a user. ADMINs; MODERATORs for USERs and GUESTs; services with sessions:revoke.',
  })
  revokeUserSessions(@Arg('userId', () => ID) userId: string, @Ctx() ctx: SignedInContext): Promise<number> {
    return revokeUserSessions(ctx.services, ctx.caller, ctx.origin, userId);
  }

  @FieldResolver(() => User)
  user(@Root() session: SessionRow, @Ctx() ctx: Context): UserView | Promise<UserView> {
    // Through the loaders of the session's tenant: a system ADMIN may be reading another tenant's.
    return ctx.loadersFor(session.tenantId).existingUser(session.userId);
  }

  @FieldResolver(() => Boolean, { description: 'True for the session of the token that made this request.' })
  current(@Root() session: SessionRow, @Ctx() ctx: Context): boolean {
    return ctx.caller?.kind === 'user' && ctx.caller.sessionId === session.id;
  }
}
