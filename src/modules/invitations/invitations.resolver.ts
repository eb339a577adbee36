import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Ctx, FieldResolver, ID, Info, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import type { Context, SignedInContext } from '../../kernel/context.js';
import { NotFoundError } from '../../kernel/errors.js';
import { isUuid } from '../../kernel/ids.js';
import type { Connection } from '../../kernel/pagination.js';
import { signedIn } from '../auth/auth.resolver.js';
import type { AuthResult } from '../auth/auth.service.js';
import { AuthPayload } from '../auth/auth.types.js';
import type { UserView } from '../cache/identity-cache.js';
import { User } from '../users/users.types.js';
import { AcceptInvitationInput, InviteUserInput } from './invitations.inputs.js';
import type { InvitationStatusValue, InvitationView } from './invitations.queries.js';
import {
  acceptInvitation,
  invitationStatus,
  inviteUser,
  listTenantInvitations,
  revokeInvitation,
} from './invitations.service.js';
import { Invitation, InvitationConnection, InvitationStatus } from './invitations.types.js';

@Resolver(() => Invitation)
export class InvitationsResolver {
  @Query(() => InvitationConnection, { description: 'ADMINs and services with invitations:write.' })
  async invitations(
    @Ctx() ctx: SignedInContext,
    @Arg('first', () => Int, { nullable: true, defaultValue: 20 }) first: number,
    @Arg('after', () => String, { nullable: true }) after?: string | null,
    @Arg('status', () => InvitationStatus, { nullable: true }) status?: InvitationStatusValue | null,
    @Arg('tenantId', () => ID, { nullable: true }) tenantId?: string | null,
  ): Promise<Connection<InvitationView>> {
    const scope = tenantId ?? ctx.caller.tenantId;
    if (scope !== ctx.caller.tenantId) {
      // loadersFor refuses everyone but system ADMINs; their unknown tenant is NOT_FOUND.
      const tenant = isUuid(scope) ? await ctx.loadersFor(scope).tenant(scope) : null;
      if (!tenant) throw new NotFoundError('Tenant');
    }
    return listTenantInvitations(ctx.services, ctx.caller, scope, { first, after, status });
  }

  @Mutation(() => Invitation, {
    description:
      'ADMINs (any role up to their own); MODERATORs (USER, GUEST); services with invitations:write. CONFLICT when the email already has an account in the tenant.',
  })
  inviteUser(
    @Arg('input', () => InviteUserInput) input: InviteUserInput,
    @Ctx() ctx: SignedInContext,
  ): Promise<InvitationView> {
    return inviteUser(ctx.services, ctx.caller, input, ctx.origin);
  }

  @Mutation(() => Boolean, {
    description: 'True when this call revoked a pending invitation; false when it was no longer pending.',
  })
  revokeInvitation(@Arg('id', () => ID) id: string, @Ctx() ctx: SignedInContext): Promise<boolean> {
    return revokeInvitation(ctx.services, ctx.caller, id, ctx.origin);
  }

  @Mutation(() => AuthPayload, {
    description: 'Public: creates the account with a verified email and signs it in.',
  })
  async acceptInvitation(
    @Arg('input', () => AcceptInvitationInput) input: AcceptInvitationInput,
    @Ctx() ctx: Context,
    @Info() info: GraphQLResolveInfo,
  ): Promise<AuthResult> {
    await ctx.services.authRateLimiter.consume(ctx.origin.ip);
    return signedIn(ctx, info, await acceptInvitation(ctx.services, input, ctx.origin));
  }

  @FieldResolver(() => InvitationStatus)
  status(@Root() invitation: InvitationView, @Ctx() ctx: Context): InvitationStatusValue {
    return invitationStatus(invitation, ctx.services.clock.now());
  }

  @FieldResolver(() => User, { nullable: true, description: 'Null once that user no longer exists.' })
  invitedBy(
    @Root() invitation: InvitationView,
    @Ctx() ctx: Context,
  ): UserView | null | Promise<UserView | null> {
    if (!invitation.invitedBy) return null;
    return ctx.loadersFor(invitation.tenantId).user(invitation.invitedBy);
  }
}
