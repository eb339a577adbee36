import { randomBytes } from 'node:crypto';
import { and, asc, eq } from 'drizzle-orm';
import { expect } from 'vitest';
import { auditEvents } from '../../src/db/schema.js';
import { type GraphQLResponse, SYSTEM_ADMIN, startTestServer, type TestServer } from './server.js';

/**
 * Tenants, users and signed-in callers for the tenancy, users and permissions tests, all made
 * through the public API (createTenant, createUser, login) by the bootstrap system ADMIN.
 */

export type Role = 'ADMIN' | 'MODERATOR' | 'USER' | 'GUEST';
export const ROLES: Role[] = ['ADMIN', 'MODERATOR', 'USER', 'GUEST'];

/** Passes the default policy and shares nothing with the generated emails. */
export const PASSWORD = 'Tenancy fixture passphrase 7!';

let sequence = 0;
export function uniqueSlug(prefix = 't'): string {
  sequence += 1;
  return `${prefix}-${process.pid.toString(36)}-${sequence}-${randomBytes(2).toString('hex')}`;
}

/** Sign-ins are many here; the per-IP limit of the auth mutations would get in the way. */
export function startTenancyServer(): Promise<TestServer> {
  return startTestServer({ RATE_LIMIT_AUTH_PER_MINUTE: '100000' });
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

export function codeOf(response: GraphQLResponse<unknown>): string | undefined {
  return response.errors?.[0]?.extensions?.code;
}

const LOGIN = `mutation ($input: LoginInput!) {
  login(input: $input) { accessToken session { id } user { id role tenant { id slug } } }
}`;

export async function signIn(server: TestServer, tenantSlug: string, email: string, password = PASSWORD) {
  const data = ok(await server.gql(LOGIN, { input: { tenant: tenantSlug, email, password } }));
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

/** Whether an access token is still accepted (false: the request fails with 401). */
export async function tokenWorks(server: TestServer, token: string): Promise<boolean> {
  const response = await server.gql('{ me { id } }', {}, { token });
  if (response.status === 401 && codeOf(response) === 'UNAUTHENTICATED') return false;
  expect(response.errors).toBeUndefined();
  return true;
}

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
