import { randomBytes } from 'node:crypto';
import { type TenantRow, type TenantSettingsValue, tenants } from '../../src/db/schema.js';
import type { GraphQLResponse, TestServer } from './server.js';

/**
 * Test data made through the public API wherever it exists. Tenants are inserted directly
 * (there is no createTenant mutation yet); users always come from `register`.
 */

/**
 * Configuration for servers of the auth tests. Every request of a test comes from 127.0.0.1, so
 * the per-IP budget for register/login/refresh would turn most of them into RATE_LIMITED.
 */
export const AUTH_TEST_ENV = { RATE_LIMIT_AUTH_PER_MINUTE: '100000' } as const;

let sequence = 0;

/** A value no other call (in any test file or worker) returns: lowercase letters and digits. */
export function unique(prefix: string): string {
  sequence += 1;
  return `${prefix}${process.pid.toString(36)}x${sequence}x${randomBytes(3).toString('hex')}`;
}

/** A password that passes the default policy and has nothing in common with generated emails. */
export function strongPassword(): string {
  return `Pw ${randomBytes(12).toString('base64url')} !`;
}

export interface TenantOptions {
  slug?: string;
  name?: string;
  /** Stored as-is; anything left out takes the defaults (self-registration allowed, role USER). */
  settings?: Partial<TenantSettingsValue>;
  status?: TenantRow['status'];
}

export async function createTenant(server: TestServer, options: TenantOptions = {}): Promise<TenantRow> {
  const slug = options.slug ?? unique('tenant');
  const now = server.clock.now();
  const [row] = await server.testDatabase.database.db
    .insert(tenants)
    .values({
      slug,
      name: options.name ?? `Tenant ${slug}`,
      status: options.status ?? 'ACTIVE',
      settings: options.settings ?? {},
      createdAt: now,
      updatedAt: now,
    })
    .returning();
  if (!row) throw new Error('tenant insert returned no row');
  return row;
}

/** Everything a signed-in AuthPayload carries, as the tests read it. */
export const AUTH_PAYLOAD_FIELDS = `
  accessToken accessTokenExpiresAt refreshToken refreshTokenExpiresAt tokenType
  user { id email displayName role }
  session { id createdAt lastUsedAt expiresAt ipAddress userAgent current }`;

export const REGISTER = `mutation Register($input: RegisterInput!) { register(input: $input) { ${AUTH_PAYLOAD_FIELDS} } }`;
export const LOGIN = `mutation Login($input: LoginInput!) { login(input: $input) { ${AUTH_PAYLOAD_FIELDS} } }`;
export const REFRESH = `mutation Refresh($input: RefreshInput!) { refresh(input: $input) { ${AUTH_PAYLOAD_FIELDS} } }`;

export interface AuthPayload {
  accessToken: string;
  accessTokenExpiresAt: string;
  refreshToken: string;
  refreshTokenExpiresAt: string;
  tokenType: string;
  user: { id: string; email: string; displayName: string | null; role: string };
  session: {
    id: string;
    createdAt: string;
    lastUsedAt: string;
    expiresAt: string;
    ipAddress: string | null;
    userAgent: string | null;
    current: boolean;
  };
}

export interface SignedIn extends AuthPayload {
  tenant: string;
  email: string;
  password: string;
  userId: string;
  sessionId: string;
}

type Headers = Record<string, string>;

function signedIn(
  response: GraphQLResponse<Record<string, AuthPayload>>,
  key: string,
  what: { tenant: string; email: string; password: string },
): SignedIn {
  const payload = response.data?.[key];
  if (response.errors || !payload) {
    throw new Error(`${key} failed: ${JSON.stringify(response.errors)}`);
  }
  return { ...payload, ...what, userId: payload.user.id, sessionId: payload.session.id };
}

export interface UserOptions {
  email?: string;
  password?: string;
  displayName?: string | null;
  headers?: Headers;
}

/** Registers a new user (unique email and password unless given) and returns its signed-in tokens. */
export async function registerUser(
  server: TestServer,
  tenantSlug: string,
  options: UserOptions = {},
): Promise<SignedIn> {
  const email = options.email ?? `${unique('user')}@example.test`;
  const password = options.password ?? strongPassword();
  const response = await server.gql(
    REGISTER,
    { input: { tenant: tenantSlug, email, password, displayName: options.displayName ?? null } },
    { headers: options.headers },
  );
  return signedIn(response, 'register', { tenant: tenantSlug, email, password });
}

/** The raw answer to a login, for tests that expect it to fail. */
export function attemptLogin(
  server: TestServer,
  tenantSlug: string,
  email: string,
  password: string,
  headers?: Headers,
): Promise<GraphQLResponse<{ login: AuthPayload }>> {
  return server.gql(LOGIN, { input: { tenant: tenantSlug, email, password } }, { headers });
}

/** Signs in, expecting success: a new session of an existing user. */
export async function loginUser(
  server: TestServer,
  user: Pick<SignedIn, 'tenant' | 'email' | 'password'>,
  headers?: Headers,
): Promise<SignedIn> {
  const response = await attemptLogin(server, user.tenant, user.email, user.password, headers);
  return signedIn(response, 'login', { tenant: user.tenant, email: user.email, password: user.password });
}

/** The raw answer to a refresh. */
export function attemptRefresh(
  server: TestServer,
  refreshToken: string,
): Promise<GraphQLResponse<{ refresh: AuthPayload }>> {
  return server.gql(REFRESH, { input: { refreshToken } });
}

/** Whether an access token still gets the caller's own `me` (false: a 401 UNAUTHENTICATED). */
export async function tokenWorks(server: TestServer, accessToken: string): Promise<boolean> {
  const response = await server.gql('{ me { id } }', {}, { token: accessToken });
  if (response.status === 401 && response.errors?.[0]?.extensions?.code === 'UNAUTHENTICATED') return false;
  if (response.errors || !response.data?.me?.id) {
    throw new Error(`unexpected answer to me: ${response.status} ${JSON.stringify(response.errors)}`);
  }
  return true;
}
