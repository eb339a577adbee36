import { Arg, Ctx, ID, Mutation, Resolver } from 'type-graphql';
import type { Context, SignedInContext } from '../../kernel/context.js';
import {
  RequestPasswordResetInput,
  ResetPasswordInput,
  SetUserPasswordInput,
  VerifyEmailInput,
} from './recovery.inputs.js';
import {
  requestPasswordReset,
  resetPassword,
  sendPasswordReset,
  sendVerificationEmail,
  setUserPassword,
  verifyEmail,
} from './recovery.service.js';

@Resolver()
export class RecoveryResolver {
  @Mutation(() => Boolean, {
    description: 'Public. Always true; emails a reset link when the account exists and is active.',
  })
  async requestPasswordReset(
    @Arg('input', () => RequestPasswordResetInput) input: RequestPasswordResetInput,
    @Ctx() ctx: Context,
  ): Promise<boolean> {
    await ctx.services.authRateLimiter.consume(ctx.origin.ip);
    return requestPasswordReset(ctx.services, input, ctx.origin);
  }

  @Mutation(() => Boolean, {
    description:
      'Public: the token is the credential. Sets the password, marks the email verified, ends every session (PASSWORD_RESET), clears a lockout.',
  })
  async resetPassword(
    @Arg('input', () => ResetPasswordInput) input: ResetPasswordInput,
    @Ctx() ctx: Context,
  ): Promise<boolean> {
    await ctx.services.authRateLimiter.consume(ctx.origin.ip);
    return resetPassword(ctx.services, input, ctx.origin);
  }

  @Mutation(() => Boolean, {
    description:
      'The signed-in user: emails a verification link (true also when already verified). Changing the email (updateMe) makes it unverified again.',
  })
  sendVerificationEmail(@Ctx() ctx: SignedInContext): Promise<boolean> {
    return sendVerificationEmail(ctx.services, ctx.caller, ctx.origin);
  }

  @Mutation(() => Boolean, { description: 'Public: the token is the credential.' })
  async verifyEmail(
    @Arg('input', () => VerifyEmailInput) input: VerifyEmailInput,
    @Ctx() ctx: Context,
  ): Promise<boolean> {
    await ctx.services.authRateLimiter.consume(ctx.origin.ip);
    return verifyEmail(ctx.services, input, ctx.origin);
  }

  @Mutation(() => Boolean, {
    description:
      "ADMINs, services with users:write: sets a user's password, ends their sessions (PASSWORD_RESET).",
  })
  setUserPassword(
    @Arg('id', () => ID) id: string,
    @Arg('input', () => SetUserPasswordInput) input: SetUserPasswordInput,
    @Ctx() ctx: SignedInContext,
  ): Promise<boolean> {
    return setUserPassword(ctx.services, ctx.caller, id, input, ctx.origin);
  }

  @Mutation(() => Boolean, { description: 'ADMINs: emails the user a reset link.' })
  sendPasswordReset(@Arg('userId', () => ID) userId: string, @Ctx() ctx: SignedInContext): Promise<boolean> {
    return sendPasswordReset(ctx.services, ctx.caller, userId, ctx.origin);
  }
}
