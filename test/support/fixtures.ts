import { randomBytes } from 'node:crypto';
import { and, asc, eq } from 'drizzle-orm';
import { expect } from 'vitest';
import { auditEvents, type TenantRow, type TenantSettingsValue, tenants } from '../../src/db/schema.js';
import { type GraphQLResponse, SYSTEM_ADMIN, type TestServer } from './server.js';

/**
 * The tests' one vocabulary for test data, made through the public API wherever it can be.
 * - Self-service callers (auth, account, recovery tests): `createTenant` inserts a tenant row
 *   directly; `registerUser` / `loginUser` give a `SignedIn` (the whole AuthPayload).
 * - Administered tenants (tenancy, users, permissions tests): `makeTenant` / `makeUser` /
 *   `makeActor` / `makeWorld` go through createTenant, createUser and login by the bootstrap
 *   system ADMIN and give `Actor`s (a token and who it is).
 * Servers come from `useTestServer` / `startTestServer` (./server.ts), whose defaults already
 * lift the per-IP sign-in budget that these many sign-ins would exceed.
 */

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

// Administered tenants: callers made by the system ADMIN and signed in as Actors.

export type Role = 'ADMIN' | 'MODERATOR' | 'USER' | 'GUEST';
export const ROLES: Role[] = ['ADMIN', 'MODERATOR', 'USER', 'GUEST'];

/** Passes the default policy and shares nothing with the generated emails. */
export const PASSWORD = 'Tenancy fixture passphrase 7!';

export function uniqueSlug(prefix = 't'): string {
  sequence += 1;
  return `${prefix}-${process.pid.toString(36)}-${sequence}-${randomBytes(2).toString('hex')}`;
}

/** Someone signed in: their access token and who they are. */
export interface Actor {
  token: string;
  userId: string;
  sessionId: string;
  tenantId: string;
  tenantSlug: string;
  email: string;
  role: Role;
}

/** Fails the test with the server's errors rather than a confusing undefined later on. */
export function ok<T>(response: GraphQLResponse<T>): T {
  expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
  if (!response.data) throw new Error('no data in the response');
  return response.data;
}

const ACTOR_LOGIN = `mutation ($input: LoginInput!) {
  login(input: $input) { accessToken session { id } user { id role tenant { id slug } } }
}`;

export async function signIn(server: TestServer, tenantSlug: string, email: string, password = PASSWORD) {
  const data = ok(await server.gql(ACTOR_LOGIN, { input: { tenant: tenantSlug, email, password } }));
  const { accessToken, session, user } = data.login;
  return {
    token: accessToken,
    userId: user.id,
    sessionId: session.id,
    tenantId: user.tenant.id,
    tenantSlug: user.tenant.slug,
    email,
    role: user.role,
  } as Actor;
}

export function signInSystemAdmin(server: TestServer): Promise<Actor> {
  return signIn(server, server.config.systemTenantSlug, SYSTEM_ADMIN.email, SYSTEM_ADMIN.password);
}

export const CREATE_TENANT = `mutation ($input: CreateTenantInput!) {
  createTenant(input: $input) { tenant { id slug name status } admin { id email role } }
}`;

export const CREATE_USER = `mutation ($input: CreateUserInput!) {
  createUser(input: $input) { id email displayName role status tenant { id } }
}`;

export interface TenantHandle {
  id: string;
  slug: string;
  admin: Actor;
}

/** A new tenant with its first ADMIN, signed in. */
export async function makeTenant(
  server: TestServer,
  system: Actor,
  options: { slug?: string; name?: string; settings?: Record<string, unknown> } = {},
): Promise<TenantHandle> {
  const slug = options.slug ?? uniqueSlug();
  const adminEmail = `admin@${slug}.test`;
  const data = ok(
    await server.gql(
      CREATE_TENANT,
      {
        input: {
          slug,
          name: options.name ?? `Tenant ${slug}`,
          adminEmail,
          adminPassword: PASSWORD,
          settings: options.settings,
        },
      },
      { token: system.token },
    ),
  );
  return { id: data.createTenant.tenant.id, slug, admin: await signIn(server, slug, adminEmail) };
}

/** A user created by `by` (an ADMIN), optionally signed in. */
export async function makeUser(
  server: TestServer,
  by: Actor,
  options: { role?: Role; email?: string; displayName?: string | null; tenantId?: string } = {},
): Promise<{ id: string; email: string; role: Role }> {
  const email = options.email ?? `${uniqueSlug('u')}@example.test`;
  const data = ok(
    await server.gql(
      CREATE_USER,
      {
        input: {
          email,
          password: PASSWORD,
          role: options.role ?? 'USER',
          displayName: options.displayName,
          tenantId: options.tenantId,
        },
      },
      { token: by.token },
    ),
  );
  return { id: data.createUser.id, email, role: data.createUser.role };
}

export async function makeActor(server: TestServer, tenant: TenantHandle, role: Role): Promise<Actor> {
  const user = await makeUser(server, tenant.admin, { role });
  return signIn(server, tenant.slug, user.email);
}

/** A tenant with one signed-in caller of every role (the ADMIN is the tenant's first one). */
export interface TenantWorld extends TenantHandle {
  as: Record<Role, Actor>;
}

export async function makeWorld(server: TestServer, system: Actor): Promise<TenantWorld> {
  const tenant = await makeTenant(server, system);
  const [moderator, user, guest] = await Promise.all(
    (['MODERATOR', 'USER', 'GUEST'] as const).map((role) => makeActor(server, tenant, role)),
  );
  return {
    ...tenant,
    as: { ADMIN: tenant.admin, MODERATOR: moderator as Actor, USER: user as Actor, GUEST: guest as Actor },
  };
}

/** The number of SQL statements the server sends while `work` runs. */
export async function countStatements(server: TestServer, work: () => Promise<unknown>): Promise<number> {
  const counter = server.testDatabase.database.statements;
  const before = counter.count;
  await work();
  return counter.count - before;
}

export const UPDATE_USER = `mutation ($id: ID!, $input: UpdateUserInput!) {
  updateUser(id: $id, input: $input) { id email displayName role status }
}`;
export const DELETE_USER = 'mutation ($id: ID!) { deleteUser(id: $id) }';
export const UNLOCK_USER = 'mutation ($id: ID!) { unlockUser(id: $id) { id lockedUntil } }';

/** Audit events of one tenant, oldest first, read straight from the table. */
export async function auditTrail(server: TestServer, tenantId: string, action?: string) {
  const rows = await server.testDatabase.database.db
    .select()
    .from(auditEvents)
    .where(and(eq(auditEvents.tenantId, tenantId), action ? eq(auditEvents.action, action) : undefined))
    .orderBy(asc(auditEvents.createdAt), asc(auditEvents.id));
  return rows;
}

/** The sorted field names of a BAD_USER_INPUT answer's `extensions.fields`. */
export function fieldsOf(response: GraphQLResponse<unknown>): string[] {
  const fields = (response.errors?.[0]?.extensions?.fields ?? []) as { field: string }[];
  return fields.map((f) => f.field).sort();
}

/** The sorted `metadata.fields` of an audit event (user.updated, tenant.updated). */
export function auditedFields(event: { metadata: unknown } | undefined): string[] {
  const metadata = (event?.metadata ?? {}) as { fields?: string[] };
  return [...(metadata.fields ?? [])].sort();
}
