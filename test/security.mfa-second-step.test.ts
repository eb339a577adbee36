import { and, eq } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { users } from '../src/db/schema.js';
import { createTenant, registerUser, strongPassword, unique } from './support/fixtures.js';
import { completeWithCode, enrolTotp, passwordStep, type TotpUser, totpCode } from './support/mfa.js';
import { errorCode, startTestServer, useTestServer } from './support/server.js';

/**
 * The second step of a sign-in (completeMfaLogin) holds only while the account is as the
 * password step verified it: a password changed, a role changed or a suspension in between ends
 * the mfaToken for good. Over real HTTP, as the person holding an mfaToken would send it.
 */

const server = useTestServer({ KEY_ENCRYPTION_KEY: 'k'.repeat(40) });
let tenantSlug: string;

beforeAll(async () => {
  tenantSlug = (await createTenant(server, { name: `Acme ${unique('t')}` })).slug;
});

async function totpUser(): Promise<TotpUser> {
  return enrolTotp(server, await registerUser(server, tenantSlug));
}

/** The second step with the code of the next time step (each code works once). */
function secondStep(user: TotpUser, mfaToken: string) {
  server.clock.advance(30_000);
  return completeWithCode(server, mfaToken, 'TOTP', totpCode(user.secret, server.clock.now()));
}

const setUser = (user: TotpUser, values: Partial<typeof users.$inferInsert>) =>
  server.testDatabase.database.db
    .update(users)
    .set(values)
    .where(and(eq(users.id, user.userId)));

describe('security: the second step re-checks what the password step verified', () => {
  it('(unchanged, the second step signs in)', async () => {
    const user = await totpUser();
    const { mfaToken } = await passwordStep(server, user);
    const done = await secondStep(user, mfaToken);
    expect(done.errors).toBeUndefined();
    expect(done.data?.completeMfaLogin.accessToken).toEqual(expect.any(String));
  });

  it('refuses the mfaToken once the password was changed in between', async () => {
    const user = await totpUser();
    const { mfaToken } = await passwordStep(server, user);
    const newPassword = strongPassword();
    const changed = await server.gql(
      'mutation ($input: ChangePasswordInput!) { changePassword(input: $input) }',
      { input: { currentPassword: user.password, newPassword } },
      { token: user.accessToken },
    );
    expect(changed.errors).toBeUndefined();
    const late = await secondStep(user, mfaToken);
    expect(errorCode(late)).toBe('UNAUTHENTICATED');
    expect(late.data?.completeMfaLogin ?? null).toBeNull();
    // The new password's own sign-in still works.
    const again = await passwordStep(server, { ...user, password: newPassword });
    expect((await secondStep(user, again.mfaToken)).errors).toBeUndefined();
  });

  it('refuses the mfaToken once the role was changed in between', async () => {
    const user = await totpUser();
    const { mfaToken } = await passwordStep(server, user);
    await setUser(user, { role: 'GUEST' });
    expect(errorCode(await secondStep(user, mfaToken))).toBe('UNAUTHENTICATED');
  });

  it('refuses the mfaToken of a user suspended in between, also once they are active again', async () => {
    const user = await totpUser();
    const { mfaToken } = await passwordStep(server, user);
    await setUser(user, { status: 'SUSPENDED' });
    expect(errorCode(await secondStep(user, mfaToken))).toBe('UNAUTHENTICATED');
    await setUser(user, { status: 'ACTIVE' });
    expect(errorCode(await secondStep(user, mfaToken))).toBe('UNAUTHENTICATED');
  });

  it('refuses the mfaToken of a user suspended and re-activated in between, without any attempt meanwhile', async () => {
    const user = await totpUser();
    const { mfaToken } = await passwordStep(server, user);
    // As updateUser does it: each change moves updatedAt.
    await setUser(user, { status: 'SUSPENDED', updatedAt: new Date(server.clock.now().getTime() + 1) });
    await setUser(user, { status: 'ACTIVE', updatedAt: new Date(server.clock.now().getTime() + 2) });
    expect(errorCode(await secondStep(user, mfaToken))).toBe('UNAUTHENTICATED');
  });

  it('refuses the mfaToken once the hash was replaced directly (a reset, an admin setting it)', async () => {
    const user = await totpUser();
    const { mfaToken } = await passwordStep(server, user);
    const [row] = await server.testDatabase.database.db
      .select({ hash: users.passwordHash })
      .from(users)
      .where(eq(users.id, user.userId));
    // The same password, hashed again: another hash all the same.
    await setUser(user, { passwordHash: `${row?.hash}` });
    expect((await secondStep(user, mfaToken)).errors).toBeUndefined();
    const next = await passwordStep(server, user);
    const { PasswordHasher } = await import('../src/modules/passwords/index.js');
    const rehashed = await new PasswordHasher({ cost: 4, pepper: undefined }).hash(user.password);
    await setUser(user, { passwordHash: rehashed });
    expect(errorCode(await secondStep(user, next.mfaToken))).toBe('UNAUTHENTICATED');
  });

  it('a hash upgraded by the password step itself (BCRYPT_COST raised) does not end the sign-in', async () => {
    const user = await totpUser();
    const raised = await startTestServer(
      { KEY_ENCRYPTION_KEY: 'k'.repeat(40), BCRYPT_COST: '5' },
      { database: server.testDatabase },
    );
    try {
      const hashOf = async () =>
        (
          await server.testDatabase.database.db
            .select({ hash: users.passwordHash })
            .from(users)
            .where(eq(users.id, user.userId))
        )[0]?.hash;
      expect(await hashOf()).toMatch(/\$2[aby]\$04\$/);
      // The next time step after the last code this user's account has seen.
      raised.clock.advance(server.clock.now().getTime() - raised.clock.now().getTime() + 30_000);
      const step = await raised.gql(
        'mutation ($input: LoginInput!) { login(input: $input) { accessToken } }',
        { input: { tenant: user.tenant, email: user.email, password: user.password } },
      );
      expect(step.errors?.[0]?.extensions?.code).toBe('MFA_REQUIRED');
      expect(await hashOf()).toMatch(/\$2[aby]\$05\$/);
      const done = await completeWithCode(
        raised,
        step.errors?.[0]?.extensions?.mfaToken as string,
        'TOTP',
        totpCode(user.secret, raised.clock.now()),
      );
      expect(done.errors, JSON.stringify(done.errors)).toBeUndefined();
    } finally {
      await raised.close();
    }
  });
});
