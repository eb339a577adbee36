/**
 * A service account calling the API: through an access token from POST /oauth/token, or an API
 * key. It has no role and no session; what it may do is its scopes, in its own tenant (a
 * system-tenant account may name another tenant, as a system ADMIN may).
 */
export interface ServicePrincipal {
  kind: 'service';
  serviceAccountId: string;
  tenantId: string;
  clientId: string;
  /** The scopes this request carries: the token's, cut to what the account still holds. */
  scopes: readonly string[];
  /** The account belongs to the system tenant: it may name another tenant where a field allows. */
  reachesAllTenants: boolean;
  credential:
    | { type: 'token'; jti: string; secretId: string; issuedAt: Date; expiresAt: Date }
    | { type: 'apiKey'; id: string; issuedAt: Date; expiresAt: Date | null };
}

export function hasScopeOf(principal: ServicePrincipal, scope: string): boolean {
  return principal.scopes.includes(scope);
}
