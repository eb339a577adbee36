import { Arg, Ctx, Int, Mutation, Query, Resolver } from 'type-graphql';
import type { UserRow } from '../../db/schema.js';
import { adoptCaller, type Context, type SignedInContext } from '../../graphql/context.js';
import { NotFoundError, UnauthenticatedError } from '../../graphql/errors.js';
import type { UserView } from '../cache/identity-cache.js';
import { afterSessionsEnded, logout, logoutAll } from '../sessions/session-end.service.js';
import { User } from '../users/user.types.js';
import { changePassword, updateMe } from './account.service.js';
import { type AuthResult, login, refresh, register } from './auth.service.js';
import {
  AuthPayload,
  ChangePasswordInput,
  LoginInput,
  RefreshInput,
  RegisterInput,
  UpdateMeInput,
} from './auth.types.js';

function signedIn(ctx: Context, result: AuthResult): AuthResult {
  // The payload belongs to the new session, whoever a Bearer token sent along names: a client that
  // signs in to a second account while still sending the first one's token (an auth link adds it
  // to every request) must get the second account's payload, not FORBIDDEN on its fields.
  ctx.caller = null;
  adoptCaller(ctx, {
    userId: result.user.id,
    tenantId: result.user.tenantId,
    role: result.user.role,
    sessionId: result.session.id,
    tokenId: '',
    // Only what the payload's own fields need; a real token check decides system access.
    isSystemAdmin: false,
  });
  return result;
}

@Resolver()
export class AuthResolver {
  @Mutation(() => AuthPayload, { description: 'Public, where the tenant allows self-registration.' })
  async register(
    @Arg('input', () => RegisterInput) input: RegisterInput,
    @Ctx() ctx: Context,
  ): Promise<AuthResult> {
    await ctx.services.authRateLimiter.consume(ctx.origin.ip);
    return signedIn(ctx, await register(ctx.services, input, ctx.origin));
  }

  @Mutation(() => AuthPayload, { description: 'Public.' })
  async login(@Arg('input', () => LoginInput) input: LoginInput, @Ctx() ctx: Context): Promise<AuthResult> {
    // Every attempt counts, aliased or repeated ones in the same operation included.
    await ctx.services.authRateLimiter.consume(ctx.origin.ip);
    return signedIn(ctx, await login(ctx.services, input, ctx.origin));
  }

  @Mutation(() => AuthPayload, { description: 'Public: the refresh token is the credential.' })
  async refresh(
    @Arg('input', () => RefreshInput) input: RefreshInput,
    @Ctx() ctx: Context,
  ): Promise<AuthResult> {
    await ctx.services.authRateLimiter.consume(ctx.origin.ip);
    const outcome = await refresh(ctx.services, input.refreshToken, ctx.origin);
    if ('reuse' in outcome) {
      // Announced once, by the request that ended it.
      if (outcome.reuse.endedNow) {
        await afterSessionsEnded(
          ctx.services,
          [{ id: outcome.reuse.sessionId, tenantId: outcome.reuse.tenantId, userId: outcome.reuse.userId }],
          'REFRESH_TOKEN_REUSE',
        );
      }
      throw new UnauthenticatedError('Invalid refresh token.');
    }
    return signedIn(ctx, outcome.result);
  }

  @Mutation(() => Boolean, { description: 'Ends the current session.' })
  logout(@Ctx() ctx: SignedInContext): Promise<boolean> {
    return logout(ctx.services, ctx.caller, ctx.origin);
  }

  @Mutation(() => Int, { description: 'Ends every session of the signed-in user; returns how many.' })
  logoutAll(@Ctx() ctx: SignedInContext): Promise<number> {
    return logoutAll(ctx.services, ctx.caller, ctx.origin);
  }

  @Query(() => User, { description: 'The signed-in user.' })
  me(@Ctx() ctx: SignedInContext): UserView | Promise<UserView> {
    // The token check has just read this user: it is in memory unless caching is off.
    return (
      ctx.loaders.userInMemory(ctx.caller.userId) ??
      ctx.loaders.userById.load(ctx.caller.userId).then((user) => {
        if (!user) throw new NotFoundError('User');
        return user;
      })
    );
  }

  @Mutation(() => User)
  async updateMe(
    @Arg('input', () => UpdateMeInput) input: UpdateMeInput,
    @Ctx() ctx: SignedInContext,
  ): Promise<UserRow> {
    const user = await updateMe(ctx.services, ctx.caller, input, ctx.origin);
    ctx.loaders.userById.clear(user.id).prime(user.id, user);
    return user;
  }

  @Mutation(() => Boolean, { description: 'Ends all other sessions of the user.' })
  changePassword(
    @Arg('input', () => ChangePasswordInput) input: ChangePasswordInput,
    @Ctx() ctx: SignedInContext,
  ): Promise<boolean> {
    return changePassword(ctx.services, ctx.caller, input, ctx.origin);
  }
}
