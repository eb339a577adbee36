import { inArray } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { sessions } from '../src/db/schema.js';
import {
  attemptLogin,
  attemptRefresh,
  createTenant,
  loginUser,
  registerUser,
  type SignedIn,
  strongPassword,
  tokenWorks,
  unique,
} from './support/fixtures.js';
import { errorCode, useTestServer } from './support/server.js';

/** The signed-in user's own account: profile, email and password. */

const server = useTestServer();
let tenantSlug: string;

beforeAll(async () => {
  tenantSlug = (await createTenant(server)).slug;
});

const UPDATE_ME = 'mutation ($input: UpdateMeInput!) { updateMe(input: $input) { id email displayName } }';
const CHANGE_PASSWORD = 'mutation ($input: ChangePasswordInput!) { changePassword(input: $input) }';

function updateMe(user: SignedIn, input: Record<string, unknown>) {
  return server.gql(UPDATE_ME, { input }, { token: user.accessToken });
}

function changePassword(user: SignedIn, currentPassword: string, newPassword: string) {
  return server.gql(
    CHANGE_PASSWORD,
    { input: { currentPassword, newPassword } },
    { token: user.accessToken },
  );
}

async function me(user: SignedIn) {
  return (await server.gql('{ me { id email displayName } }', {}, { token: user.accessToken })).data?.me;
}

describe('updateMe', () => {
  it('changes the display name, and clears it when blank', async () => {
    const user = await registerUser(server, tenantSlug, { displayName: 'Before' });
    const response = await updateMe(user, { displayName: '  Ada Lovelace ' });
    expect(response.data?.updateMe).toEqual({
      id: user.userId,
      email: user.email,
      displayName: 'Ada Lovelace',
    });
    expect((await me(user))?.displayName).toBe('Ada Lovelace');
    expect((await updateMe(user, { displayName: '   ' })).data?.updateMe.displayName).toBeNull();
  });

  it('needs the current password to change the email: missing or wrong is BAD_USER_INPUT on currentPassword', async () => {
    const user = await registerUser(server, tenantSlug);
    const newEmail = `${unique('moved')}@example.test`;
    for (const currentPassword of [undefined, null, '', `${user.password}x`]) {
      const response = await updateMe(user, { email: newEmail, currentPassword });
      expect(errorCode(response)).toBe('BAD_USER_INPUT');
      expect(response.errors?.[0]?.extensions?.fields).toEqual([
        { field: 'currentPassword', message: expect.any(String) },
      ]);
      expect(JSON.stringify(response)).not.toContain(user.password);
    }
    expect((await me(user))?.email).toBe(user.email);
  });

  it('changes the email with the current password; sign-in then uses the new one', async () => {
    const user = await registerUser(server, tenantSlug);
    const newEmail = `${unique('Moved')}@Example.test`;
    const response = await updateMe(user, { email: ` ${newEmail} `, currentPassword: user.password });
    expect(response.data?.updateMe.email).toBe(newEmail);
    expect(errorCode(await attemptLogin(server, tenantSlug, user.email, user.password))).toBe(
      'UNAUTHENTICATED',
    );
    const again = await attemptLogin(server, tenantSlug, newEmail.toLowerCase(), user.password);
    expect(again.data?.login.user.id).toBe(user.userId);
  });

  it('keeps emails unique per tenant, in any case: CONFLICT', async () => {
    const user = await registerUser(server, tenantSlug);
    const other = await registerUser(server, tenantSlug, { email: `${unique('Owner')}@example.test` });
    const response = await updateMe(user, {
      email: other.email.toUpperCase(),
      currentPassword: user.password,
    });
    expect(errorCode(response)).toBe('CONFLICT');
    expect((await me(user))?.email).toBe(user.email);
    // The same address is free in another tenant.
    const elsewhere = await registerUser(server, (await createTenant(server)).slug);
    const moved = await updateMe(elsewhere, { email: other.email, currentPassword: elsewhere.password });
    expect(moved.data?.updateMe.email).toBe(other.email);
  });

  it('rejects an invalid email with BAD_USER_INPUT on email', async () => {
    const user = await registerUser(server, tenantSlug);
    const response = await updateMe(user, { email: 'not an email', currentPassword: user.password });
    expect(errorCode(response)).toBe('BAD_USER_INPUT');
    expect(response.errors?.[0]?.extensions?.fields).toEqual([
      { field: 'email', message: expect.any(String) },
    ]);
  });
});

describe('changePassword', () => {
  it('refuses a wrong current password with BAD_USER_INPUT on currentPassword, changing nothing', async () => {
    const user = await registerUser(server, tenantSlug);
    const other = await loginUser(server, user);
    const wrong = `${user.password}?`;
    const response = await changePassword(user, wrong, strongPassword());
    expect(errorCode(response)).toBe('BAD_USER_INPUT');
    expect(response.errors?.[0]?.extensions?.fields).toEqual([
      { field: 'currentPassword', message: expect.any(String) },
    ]);
    expect(JSON.stringify(response)).not.toContain(wrong);
    expect(await tokenWorks(server, other.accessToken)).toBe(true);
    expect((await attemptLogin(server, tenantSlug, user.email, user.password)).data?.login).toBeTruthy();
  });

  it('applies the password policy to the new password (BAD_USER_INPUT on newPassword)', async () => {
    const user = await registerUser(server, tenantSlug, { email: `${unique('rosalind')}@example.test` });
    const localPart = user.email.split('@')[0] as string;
    for (const newPassword of ['short', 'qwerty123456', `my-${localPart}-password`]) {
      const response = await changePassword(user, user.password, newPassword);
      expect(errorCode(response), newPassword).toBe('BAD_USER_INPUT');
      const fields = response.errors?.[0]?.extensions?.fields as { field: string }[];
      expect(fields.length).toBeGreaterThan(0);
      expect(fields.every((f) => f.field === 'newPassword')).toBe(true);
      expect(JSON.stringify(response)).not.toContain(newPassword);
    }
    expect((await attemptLogin(server, tenantSlug, user.email, user.password)).data?.login).toBeTruthy();
  });

  it('ends every other session, keeps the current one, and switches sign-in to the new password', async () => {
    const user = await registerUser(server, tenantSlug);
    const others = [await loginUser(server, user), await loginUser(server, user)];
    for (const s of [user, ...others]) expect(await tokenWorks(server, s.accessToken)).toBe(true);
    const bystander = await registerUser(server, tenantSlug);
    const newPassword = strongPassword();

    const response = await changePassword(user, user.password, newPassword);
    expect(response.errors).toBeUndefined();
    expect(response.data?.changePassword).toBe(true);

    for (const other of others) {
      expect(await tokenWorks(server, other.accessToken)).toBe(false);
      expect(errorCode(await attemptRefresh(server, other.refreshToken))).toBe('UNAUTHENTICATED');
    }
    const rows = await server.testDatabase.database.db
      .select({ endReason: sessions.endReason })
      .from(sessions)
      .where(
        inArray(
          sessions.id,
          others.map((o) => o.sessionId),
        ),
      );
    expect(rows.map((r) => r.endReason)).toEqual(['PASSWORD_CHANGED', 'PASSWORD_CHANGED']);

    // The session that changed it goes on, refresh included.
    expect(await tokenWorks(server, user.accessToken)).toBe(true);
    const listed = await server.gql('{ mySessions { id current } }', {}, { token: user.accessToken });
    expect(listed.data?.mySessions).toEqual([{ id: user.sessionId, current: true }]);
    const refreshed = await attemptRefresh(server, user.refreshToken);
    expect(refreshed.data?.refresh.session.id).toBe(user.sessionId);
    expect(await tokenWorks(server, bystander.accessToken)).toBe(true);

    expect(errorCode(await attemptLogin(server, tenantSlug, user.email, user.password))).toBe(
      'UNAUTHENTICATED',
    );
    const withNew = await attemptLogin(server, tenantSlug, user.email, newPassword);
    expect(withNew.data?.login.user.id).toBe(user.userId);
  });
});
