import { readFileSync } from 'node:fs';
import { and, eq, sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { connectDatabase, type Database, MIGRATIONS_FOLDER } from '../src/db/client.js';
import { invitations, tenants, users } from '../src/db/schema.js';
import {
  type Actor,
  CREATE_USER,
  makeTenant,
  ok,
  PASSWORD,
  signIn,
  signInSystemAdmin,
  type TenantHandle,
  UPDATE_USER,
  uniqueSlug,
} from './support/fixtures.js';
import { errorCode, useTestServer } from './support/server.js';

/**
 * One address, one account: an email typed in NFD ("e" + U+0301) and in NFC ("é") is the same
 * address wherever an email enters (register, login, createUser, updateUser, updateMe,
 * inviteUser, requestPasswordReset), stored in NFC. Existing rows are rewritten by a migration,
 * on PostgreSQL and PGlite alike, without merging two accounts.
 */

const nfc = (local: string) => `${local}-jos\u00e9@example.test`;
const nfd = (local: string) => `${local}-jose\u0301@example.test`;
const REGISTER = 'mutation ($input: RegisterInput!) { register(input: $input) { user { id email } } }';

const server = useTestServer();
let system: Actor;
let tenant: TenantHandle;

beforeAll(async () => {
  system = await signInSystemAdmin(server);
  tenant = await makeTenant(server, system, { settings: { allowSelfRegistration: true } });
});

const register = (email: string) =>
  server.gql(REGISTER, { input: { tenant: tenant.slug, email, password: PASSWORD } });

describe('security: emails are compared and stored in NFC', () => {
  it('register in NFD stores NFC; the NFC spelling is taken; sign-in works with either', async () => {
    const local = uniqueSlug('r');
    expect(nfc(local)).not.toBe(nfd(local));
    const first = ok(await register(nfd(local)));
    expect(first.register.user.email).toBe(nfc(local));
    expect(errorCode(await register(nfc(local)))).toBe('CONFLICT');
    expect(errorCode(await register(nfd(local).toUpperCase()))).toBe('CONFLICT');
    for (const spelling of [nfc(local), nfd(local)]) {
      expect((await signIn(server, tenant.slug, spelling)).userId).toBe(first.register.user.id);
    }
  });

  it('createUser, updateUser, updateMe and inviteUser meet the same account in either form', async () => {
    const local = uniqueSlug('c');
    const created = ok(
      await server.gql(
        CREATE_USER,
        { input: { email: nfd(local), password: PASSWORD } },
        { token: tenant.admin.token },
      ),
    );
    expect(created.createUser.email).toBe(nfc(local));
    const again = await server.gql(
      CREATE_USER,
      { input: { email: nfc(local), password: PASSWORD } },
      { token: tenant.admin.token },
    );
    expect(errorCode(again)).toBe('CONFLICT');

    const other = ok(
      await server.gql(
        CREATE_USER,
        { input: { email: `${uniqueSlug('o')}@example.test`, password: PASSWORD } },
        { token: tenant.admin.token },
      ),
    );
    const moved = await server.gql(
      UPDATE_USER,
      { id: other.createUser.id, input: { email: nfd(local) } },
      { token: tenant.admin.token },
    );
    expect(errorCode(moved)).toBe('CONFLICT');

    const me = await signIn(server, tenant.slug, other.createUser.email);
    const mine = await server.gql(
      'mutation ($input: UpdateMeInput!) { updateMe(input: $input) { email } }',
      { input: { email: nfd(local), currentPassword: PASSWORD } },
      { token: me.token },
    );
    expect(errorCode(mine)).toBe('CONFLICT');

    // A fresh address in NFD becomes NFC through updateUser too.
    const fresh = uniqueSlug('f');
    const renamed = ok(
      await server.gql(
        UPDATE_USER,
        { id: other.createUser.id, input: { email: nfd(fresh) } },
        { token: tenant.admin.token },
      ),
    );
    expect(renamed.updateUser.email).toBe(nfc(fresh));

    const invited = await server.gql(
      'mutation ($input: InviteUserInput!) { inviteUser(input: $input) { email } }',
      { input: { email: nfd(uniqueSlug('i')) } },
      { token: tenant.admin.token },
    );
    expect(invited.errors).toBeUndefined();
    expect(invited.data?.inviteUser.email).toMatch(/jos\u00e9@/);
    const invitedExisting = await server.gql(
      'mutation ($input: InviteUserInput!) { inviteUser(input: $input) { email } }',
      { input: { email: nfd(local) } },
      { token: tenant.admin.token },
    );
    expect(errorCode(invitedExisting)).toBe('CONFLICT');
  });
});

/** Runs the migration that normalises existing rows on `database`, with rows written before it. */
async function migrationOn(database: Database) {
  const db = database.db;
  const [t] = await db
    .insert(tenants)
    .values({ slug: uniqueSlug('m'), name: 'Migrated' })
    .returning({ id: tenants.id });
  const tenantId = t?.id as string;
  const row = (email: string, at: number) => ({
    tenantId,
    email,
    passwordHash: 'x',
    role: 'USER' as const,
    createdAt: new Date(at),
    updatedAt: new Date(at),
  });
  await db.insert(users).values([
    row(nfd('alone'), 1_000),
    // Two accounts that differ only in their form: the older NFD one is not merged into the NFC one.
    row(nfd('pair'), 1_000),
    row(nfc('pair'), 2_000),
    // Two spellings in no normal form that fold to one (marks in either order): the oldest takes NFC.
    row('twice-e\u0302\u0323@example.test', 1_000),
    row('twice-e\u0323\u0302@example.test', 2_000),
  ]);
  await db.insert(invitations).values({
    tenantId,
    email: nfd('invited'),
    role: 'USER',
    tokenHash: Buffer.alloc(32, 7),
    createdAt: new Date(),
    expiresAt: new Date(Date.now() + 86_400_000),
  });
  const file = readFileSync(`${MIGRATIONS_FOLDER}/0009_normalize_emails.sql`, 'utf8');
  for (const statement of file.split('--> statement-breakpoint')) await db.execute(sql.raw(statement));
  const emails = (
    await db.select({ email: users.email }).from(users).where(eq(users.tenantId, tenantId))
  ).map((r) => r.email);
  expect(emails.sort()).toEqual(
    [
      nfc('alone'),
      nfd('pair'),
      nfc('pair'),
      'twice-\u1ec7@example.test',
      'twice-e\u0323\u0302@example.test',
    ].sort(),
  );
  const [invitation] = await db
    .select({ email: invitations.email })
    .from(invitations)
    .where(and(eq(invitations.tenantId, tenantId)));
  expect(invitation?.email).toBe(nfc('invited'));
}

describe('migration 0009: existing emails in NFC', () => {
  it('on PostgreSQL', async () => {
    await migrationOn(server.testDatabase.database);
  });

  it('on PGlite', async () => {
    const database = await connectDatabase({ kind: 'pglite', dataDir: undefined });
    try {
      await database.migrate();
      await migrationOn(database);
    } finally {
      await database.close();
    }
  }, 60_000);
});
