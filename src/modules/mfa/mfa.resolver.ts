import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Ctx, ID, Info, Mutation, Query, Resolver } from 'type-graphql';
import type { PasskeyRow } from '../../db/schema.js';
import { requireCaller } from '../../kernel/caller.js';
import type { Context, SignedInContext } from '../../kernel/context.js';
import { signedIn } from '../auth/auth.resolver.js';
import type { AuthResult } from '../auth/auth.service.js';
import { AuthPayload } from '../auth/auth.types.js';
import {
  CompleteMfaLoginInput,
  ConfirmTotpInput,
  DisableTotpInput,
  FinishPasskeyLoginInput,
  FinishPasskeyRegistrationInput,
  StartPasskeyAuthenticationInput,
} from './mfa.inputs.js';
import {
  confirmTotpEnrollment,
  disableTotp,
  type MfaStatusValue,
  mfaStatus,
  regenerateRecoveryCodes,
  resetUserMfa,
  startTotpEnrollment,
} from './mfa.service.js';
import { MfaStatus, Passkey, PasskeyChallenge, RecoveryCodes, TotpEnrollment } from './mfa.types.js';
import { completeMfaLogin, finishPasskeyLogin, startPasskeyAuthentication } from './mfa-login.service.js';
import {
  deletePasskey,
  finishPasskeyRegistration,
  type PasskeyChallengeValue,
  startPasskeyRegistration,
} from './passkeys.service.js';

@Resolver()
export class MfaResolver {
  @Query(() => MfaStatus, { description: "The signed-in user's second factors." })
  myMfa(@Ctx() ctx: SignedInContext): Promise<MfaStatusValue> {
    return mfaStatus(ctx.services, requireCaller(ctx.caller));
  }

  @Mutation(() => AuthPayload, {
    description: 'Public: the second step of a login or register that answered MFA_REQUIRED.',
  })
  async completeMfaLogin(
    @Arg('input', () => CompleteMfaLoginInput) input: CompleteMfaLoginInput,
    @Ctx() ctx: Context,
    @Info() info: GraphQLResolveInfo,
  ): Promise<AuthResult> {
    await ctx.services.authRateLimiter.consume(ctx.origin.ip);
    return signedIn(ctx, info, await completeMfaLogin(ctx.services, input, ctx.origin));
  }

  @Mutation(() => TotpEnrollment)
  startTotpEnrollment(@Ctx() ctx: SignedInContext): Promise<TotpEnrollment> {
    return startTotpEnrollment(ctx.services, requireCaller(ctx.caller), ctx.origin);
  }

  @Mutation(() => RecoveryCodes, { description: 'Turns TOTP on; returns 10 fresh recovery codes.' })
  async confirmTotpEnrollment(
    @Arg('input', () => ConfirmTotpInput) input: ConfirmTotpInput,
    @Ctx() ctx: SignedInContext,
  ): Promise<RecoveryCodes> {
    return {
      codes: await confirmTotpEnrollment(ctx.services, requireCaller(ctx.caller), input.code, ctx.origin),
    };
  }

  @Mutation(() => Boolean)
  disableTotp(
    @Arg('input', () => DisableTotpInput) input: DisableTotpInput,
    @Ctx() ctx: SignedInContext,
  ): Promise<boolean> {
    return disableTotp(ctx.services, requireCaller(ctx.caller), input, ctx.origin);
  }

  @Mutation(() => RecoveryCodes, {
    description: 'Replaces the recovery codes; needs a current TOTP code or an unused recovery code.',
  })
  async regenerateRecoveryCodes(
    @Arg('input', () => ConfirmTotpInput) input: ConfirmTotpInput,
    @Ctx() ctx: SignedInContext,
  ): Promise<RecoveryCodes> {
    return {
      codes: await regenerateRecoveryCodes(ctx.services, requireCaller(ctx.caller), input.code, ctx.origin),
    };
  }

  @Mutation(() => PasskeyChallenge)
  startPasskeyRegistration(@Ctx() ctx: SignedInContext): Promise<PasskeyChallengeValue> {
    return startPasskeyRegistration(ctx.services, requireCaller(ctx.caller));
  }

  @Mutation(() => Passkey)
  finishPasskeyRegistration(
    @Arg('input', () => FinishPasskeyRegistrationInput) input: FinishPasskeyRegistrationInput,
    @Ctx() ctx: SignedInContext,
  ): Promise<PasskeyRow> {
    return finishPasskeyRegistration(ctx.services, requireCaller(ctx.caller), input, ctx.origin);
  }

  @Mutation(() => Boolean)
  deletePasskey(@Arg('id', () => ID) id: string, @Ctx() ctx: SignedInContext): Promise<boolean> {
    return deletePasskey(ctx.services, requireCaller(ctx.caller), id, ctx.origin);
  }

  @Mutation(() => PasskeyChallenge, { description: 'Public.' })
  async startPasskeyAuthentication(
    @Arg('input', () => StartPasskeyAuthenticationInput) input: StartPasskeyAuthenticationInput,
    @Ctx() ctx: Context,
  ): Promise<PasskeyChallengeValue> {
    await ctx.services.authRateLimiter.consume(ctx.origin.ip);
    return startPasskeyAuthentication(ctx.services, input);
  }

  @Mutation(() => AuthPayload, { description: 'Public: a passwordless sign-in with a passkey.' })
  async finishPasskeyLogin(
    @Arg('input', () => FinishPasskeyLoginInput) input: FinishPasskeyLoginInput,
    @Ctx() ctx: Context,
    @Info() info: GraphQLResolveInfo,
  ): Promise<AuthResult> {
    await ctx.services.authRateLimiter.consume(ctx.origin.ip);
    return signedIn(ctx, info, await finishPasskeyLogin(ctx.services, input, ctx.origin));
  }

  @Mutation(() => Boolean, {
    description:
      "ADMINs: removes a user's TOTP, passkeys and recovery codes; ends their sessions (MFA_RESET).",
  })
  resetUserMfa(@Arg('userId', () => ID) userId: string, @Ctx() ctx: SignedInContext): Promise<boolean> {
    return resetUserMfa(ctx.services, requireCaller(ctx.caller), userId, ctx.origin);
  }
}
