import { timingSafeEqual } from 'node:crypto';
import type { TenantRow } from '../../db/schema.js';
import type { Clock } from '../../kernel/clock.js';
import { UnauthenticatedError } from '../../kernel/errors.js';
import type { IdentityCache } from '../cache/identity-cache.js';
import type { AccessTokens, ServiceTokenClaims } from '../keys/index.js';
import type { AccountCredentials, CredentialCache } from './credential-cache.js';
import { apiKeyTenant, type CredentialHasher, clientIdOf, parseClientId } from './credentials.js';
import type { ServicePrincipal } from './service-principal.js';
import type { UsageRecorder } from './usage.js';

/** Why a client authentication failed; callers answer every reason with the same invalid_client. */
export type ClientAuthFailure = 'unknown_client' | 'bad_secret' | 'disabled' | 'tenant_suspended';

export type ClientAuthResult =
  | { ok: true; account: AccountCredentials; tenant: TenantRow; secretId: string; reachesAllTenants: boolean }
  | { ok: false; reason: ClientAuthFailure };

/**
 * Proves who a service is: its client secret (token, introspection and revocation endpoints),
 * its access token or its API key (every other request). Each check reads the account as it is
 * now (through the credential cache, which every change invalidates on every instance), so a
 * disabled or deleted account, a revoked key or a secret rotated out stops working at once.
 */
export class ServiceAuthenticator {
  constructor(
    private readonly deps: {
      credentials: CredentialCache;
      identity: IdentityCache;
      hasher: CredentialHasher;
      tokens: AccessTokens;
      clock: Clock;
      usage: UsageRecorder;
      systemTenantSlug: string;
    },
  ) {}

  async authenticateClient(clientId: string, secret: string): Promise<ClientAuthResult> {
    const named = parseClientId(clientId);
    const account = named && (await this.#account(named.tenantId, named.serviceAccountId));
    if (!named || !account) {
      // The same work as a wrong secret, so timing does not tell unknown clients apart.
      this.deps.hasher.hash(secret);
      return { ok: false, reason: 'unknown_client' };
    }
    const now = this.deps.clock.now().getTime();
    const presented = this.deps.hasher.hash(secret);
    let secretId: string | undefined;
    for (const stored of account.secrets) {
      if (stored.expiresAt !== null && stored.expiresAt <= now) continue;
      const hash = Buffer.from(stored.hash, 'base64');
      // Every live secret is compared (there are one or two), in constant time each.
      if (hash.length === presented.length && timingSafeEqual(hash, presented)) secretId = stored.id;
    }
    if (!secretId) return { ok: false, reason: 'bad_secret' };
    if (account.status !== 'ACTIVE') return { ok: false, reason: 'disabled' };
    const tenant = await this.#tenant(named.tenantId);
    if (tenant?.status !== 'ACTIVE') return { ok: false, reason: 'tenant_suspended' };
    return {
      ok: true,
      account,
      tenant,
      secretId,
      reachesAllTenants: tenant.slug === this.deps.systemTenantSlug,
    };
  }

  /** A service's access token, checked against the account as it is now. */
  async fromAccessToken(
    claims: Readonly<ServiceTokenClaims>,
    options: { recordUse?: boolean } = {},
  ): Promise<ServicePrincipal> {
    const account = await this.#account(claims.tid, claims.sub);
    const now = this.deps.clock.now().getTime();
    if (
      account?.status !== 'ACTIVE' ||
      claims.client_id !== clientIdOf(claims.tid, claims.sub) ||
      !account.secrets.some((s) => s.id === claims.csi && (s.expiresAt === null || s.expiresAt > now)) ||
      account.revokedTokens.some((r) => r.jti === claims.jti)
    ) {
      throw new UnauthenticatedError();
    }
    const tenant = await this.#tenant(claims.tid);
    if (tenant?.status !== 'ACTIVE') throw new UnauthenticatedError();
    if (options.recordUse !== false) this.deps.usage.tokenUsed(claims.tid, claims.sub);
    // Scopes taken from the account since the token was issued are gone from it at once.
    const granted = claims.scope.split(' ').filter((scope) => account.scopes.includes(scope));
    return {
      kind: 'service',
      serviceAccountId: claims.sub,
      tenantId: claims.tid,
      clientId: claims.client_id,
      scopes: granted,
      reachesAllTenants: tenant.slug === this.deps.systemTenantSlug,
      credential: {
        type: 'token',
        jti: claims.jti,
        secretId: claims.csi,
        issuedAt: new Date(claims.iat * 1000),
        expiresAt: new Date(claims.exp * 1000),
      },
    };
  }

  /** An API key (`idk_…`); UNAUTHENTICATED when unknown, revoked, expired, or its account is off. */
  async fromApiKey(key: string, options: { recordUse?: boolean } = {}): Promise<ServicePrincipal> {
    const tenantId = apiKeyTenant(key);
    if (!tenantId) throw new UnauthenticatedError();
    const hash = this.deps.hasher.hash(key);
    const state =
      this.deps.credentials.peekApiKey(tenantId, hash) ??
      (await this.deps.credentials.apiKey(tenantId, hash));
    const now = this.deps.clock.now().getTime();
    if (!state || state.revokedAt !== null || (state.expiresAt !== null && state.expiresAt <= now)) {
      throw new UnauthenticatedError();
    }
    const account = await this.#account(tenantId, state.serviceAccountId);
    if (account?.status !== 'ACTIVE') throw new UnauthenticatedError();
    const tenant = await this.#tenant(tenantId);
    if (tenant?.status !== 'ACTIVE') throw new UnauthenticatedError();
    if (options.recordUse !== false) this.deps.usage.apiKeyUsed(tenantId, state.serviceAccountId, state.id);
    return {
      kind: 'service',
      serviceAccountId: state.serviceAccountId,
      tenantId,
      clientId: clientIdOf(tenantId, state.serviceAccountId),
      scopes: account.scopes,
      reachesAllTenants: tenant.slug === this.deps.systemTenantSlug,
      credential: {
        type: 'apiKey',
        id: state.id,
        issuedAt: new Date(state.createdAt),
        expiresAt: state.expiresAt === null ? null : new Date(state.expiresAt),
      },
    };
  }

  async #account(tenantId: string, serviceAccountId: string): Promise<AccountCredentials | undefined> {
    return (
      this.deps.credentials.peekAccount(tenantId, serviceAccountId) ??
      (await this.deps.credentials.account(tenantId, serviceAccountId))
    );
  }

  async #tenant(tenantId: string): Promise<TenantRow | undefined> {
    return this.deps.identity.tenants.peek(tenantId, tenantId) ?? (await this.deps.identity.tenant(tenantId));
  }
}
