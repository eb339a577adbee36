import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Ctx, Info, Int, Mutation, Query, Resolver } from 'type-graphql';
import type { UserRow } from '../../db/schema.js';
import { requireCaller } from '../../kernel/caller.js';
import type { Context, SignedInContext } from '../../kernel/context.js';
import { UnauthenticatedError } from '../../kernel/errors.js';
import type { UserView } from '../cache/identity-cache.js';
import { logout, logoutAll } from '../sessions/sessions.service.js';
import { User } from '../users/users.types.js';
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

/**
 * A sign-in answers with its tokens and describes the new session as its user sees it, whoever a
 * Bearer token sent along names (an auth link adds one to every request). It never becomes the
 * caller of the operation: the fields after it still run as the operation's own caller.
 */
export function signedIn(ctx: Context, info: GraphQLResolveInfo, result: AuthResult): AuthResult {
  ctx.signedInAs = { tenantId: result.user.tenantId, userId: result.user.id };
  ctx.answerAs(info, {
    kind: 'user',
    userId: result.user.id,
    tenantId: result.user.tenantId,
    role: result.user.role,
    sessionId: result.session.id,
    tokenId: '',
    // Only what the answer's own fields need; a real token check decides system access.
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
    @Info() info: GraphQLResolveInfo,
  ): Promise<AuthResult> {
    await ctx.services.authRateLimiter.consume(ctx.origin.ip);
    return signedIn(ctx, info, await register(ctx.services, input, ctx.origin));
  }

  @Mutation(() => AuthPayload, { description: 'Public.' })
  async login(
    @Arg('input', () => LoginInput) input: LoginInput,
    @Ctx() ctx: Context,
    @Info() info: GraphQLResolveInfo,
  ): Promise<AuthResult> {
    // Every attempt counts, aliased or repeated ones in the same operation included.
    await ctx.services.authRateLimiter.consume(ctx.origin.ip);
    return signedIn(ctx, info, await login(ctx.services, input, ctx.origin));
  }

  @Mutation(() => AuthPayload, { description: 'Public: the refresh token is the credential.' })
  async refresh(
    @Arg('input', () => RefreshInput) input: RefreshInput,
    @Ctx() ctx: Context,
    @Info() info: GraphQLResolveInfo,
  ): Promise<AuthResult> {
    await ctx.services.authRateLimiter.consume(ctx.origin.ip);
    const outcome = await refresh(ctx.services, input.refreshToken, ctx.origin);
    // Reuse: the session has ended (and was announced) by the time refresh returns.
    if ('reuse' in outcome) throw new UnauthenticatedError('Invalid refresh token.');
    return signedIn(ctx, info, outcome.result);
  }

  @Mutation(() => Boolean, { description: 'Ends the current session.' })
  logout(@Ctx() ctx: SignedInContext): Promise<boolean> {
    return logout(ctx.services, requireCaller(ctx.caller), ctx.origin);
  }

  @Mutation(() => Int, { description: 'Ends every session of the signed-in user; returns how many.' })
  logoutAll(@Ctx() ctx: SignedInContext): Promise<number> {
    return logoutAll(ctx.services, requireCaller(ctx.caller), ctx.origin);
  }

  @Query(() => User, { description: 'The signed-in user.' })
  me(@Ctx() ctx: SignedInContext): UserView | Promise<UserView> {
    // A service has no `me` (FORBIDDEN): it has `viewer`.
    const { userId } = requireCaller(ctx.caller);
    // The token check has just read this user: it is in memory unless caching is off.
    return ctx.loaders.existingUser(userId);
  }

  @Mutation(() => User)
  async updateMe(
    @Arg('input', () => UpdateMeInput) input: UpdateMeInput,
    @Ctx() ctx: SignedInContext,
  ): Promise<UserRow> {
    const user = await updateMe(ctx.services, requireCaller(ctx.caller), input, ctx.origin);
    return ctx.loaders.rememberUser(user);
  }

  @Mutation(() => Boolean, { description: 'Ends all other sessions of the user.' })
  changePassword(
    @Arg('input', () => ChangePasswordInput) input: ChangePasswordInput,
    @Ctx() ctx: SignedInContext,
  ): Promise<boolean> {
    return changePassword(ctx.services, requireCaller(ctx.caller), input, ctx.origin);
  }
}
