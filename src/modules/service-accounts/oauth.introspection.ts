import type { Deps } from '../../kernel/context.js';
import { UnauthenticatedError } from '../../kernel/errors.js';
import { isServiceToken } from '../keys/index.js';
import { parseRefreshToken } from '../sessions/sessions.queries.js';
import { looksLikeApiKey } from './credentials.js';
import { findOpenSessionByRefreshHash } from './oauth.queries.js';
import type { ServicePrincipal } from './service-principal.js';

export type IntrospectionAnswer = { active: false } | ({ active: true } & Record<string, unknown>);

const INACTIVE: IntrospectionAnswer = Object.freeze({ active: false });

/** Refusals of the token itself are "inactive"; anything else (PostgreSQL down) is an error. */
function inactiveIfRefused(error: unknown): undefined {
  if (error instanceof UnauthenticatedError) return undefined;
  throw error;
}

/**
 * RFC 7662: what the API would do with this token right now, decided by the very checks a
 * request makes (signature, expiry, the session, user, tenant and account as they are now).
 * Tokens of tenants the introspecting client may not see are as inactive as unknown ones.
 */
export async function introspect(
  services: Deps,
  token: string,
  caller: { tenantId: string; reachesAllTenants: boolean },
): Promise<IntrospectionAnswer> {
  if (token.length === 0 || token.length > 8192) return INACTIVE;
  const visible = (tenantId: string) => caller.reachesAllTenants || tenantId === caller.tenantId;
  const { issuer, audience } = services.tokens;
  const auth = services.serviceAccounts.auth;

  if (looksLikeApiKey(token)) {
    const principal = await auth.fromApiKey(token, { recordUse: false }).catch(inactiveIfRefused);
    if (!principal || !visible(principal.tenantId)) return INACTIVE;
    return serviceAnswer(principal, issuer, audience);
  }
  if (token.split('.').length !== 3) return introspectRefreshToken(services, token, visible);
  const claims = await services.tokens.verifyAny(token).catch(inactiveIfRefused);
  if (!claims || !visible(claims.tid)) return INACTIVE;
  if (isServiceToken(claims)) {
    const principal = await auth.fromAccessToken(claims, { recordUse: false }).catch(inactiveIfRefused);
    return principal ? serviceAnswer(principal, issuer, audience) : INACTIVE;
  }
  const active = await services.sessionGuard
    .assertActive(claims.sid, claims.tid, claims.sub)
    .catch(inactiveIfRefused);
  if (!active) return INACTIVE;
  return {
    active: true,
    token_type: 'Bearer',
    sub: claims.sub,
    tid: claims.tid,
    sid: claims.sid,
    // The role the API would act with now, which may differ from the one the token was issued with.
    role: active.role,
    jti: claims.jti,
    exp: claims.exp,
    iat: claims.iat,
    iss: issuer,
    aud: audience,
  };
}

function serviceAnswer(principal: ServicePrincipal, issuer: string, audience: string): IntrospectionAnswer {
  const { credential } = principal;
  const seconds = (date: Date) => Math.floor(date.getTime() / 1000);
  return {
    active: true,
    token_type: 'Bearer',
    sub: principal.serviceAccountId,
    tid: principal.tenantId,
    client_id: principal.clientId,
    scope: principal.scopes.join(' '),
    ...(credential.type === 'token' ? { jti: credential.jti } : {}),
    ...(credential.expiresAt ? { exp: seconds(credential.expiresAt) } : {}),
    iat: seconds(credential.issuedAt),
    iss: issuer,
    aud: audience,
  };
}

/**
 * A user's refresh token is active while the refresh mutation would take it: it is the current
 * token of a session that has not ended or expired, whose user and tenant are active. Looking
 * never rotates it nor counts as reuse. (Tokens of the older shape, without their tenant, and
 * the previous token within its reuse grace are answered inactive.)
 */
async function introspectRefreshToken(
  services: Deps,
  token: string,
  visible: (tenantId: string) => boolean,
): Promise<IntrospectionAnswer> {
  const presented = token.length <= 200 ? parseRefreshToken(token) : undefined;
  if (presented?.kind !== 'current' || !visible(presented.tenantId)) return INACTIVE;
  const session = await findOpenSessionByRefreshHash(services.db, presented.tenantId, presented.hash);
  if (!session) return INACTIVE;
  const active = await services.sessionGuard
    .assertActive(session.id, presented.tenantId, session.userId)
    .catch(inactiveIfRefused);
  if (!active) return INACTIVE;
  const seconds = (date: Date) => Math.floor(date.getTime() / 1000);
  return {
    active: true,
    token_type: 'refresh_token',
    sub: session.userId,
    tid: presented.tenantId,
    sid: session.id,
    role: active.role,
    exp: seconds(session.expiresAt),
    iat: seconds(session.createdAt),
    iss: services.tokens.issuer,
  };
}
