import { beforeAll, describe, expect, it } from 'vitest';
import { attemptLogin, createTenant, registerUser, strongPassword, unique } from './support/fixtures.js';
import { errorCode, useTestServer } from './support/server.js';

/**
 * `currentPassword` (changePassword, and updateMe when it changes the email) is a password guess
 * like a sign-in: with a stolen access token it must not be an unlimited oracle for the password
 * behind it. It spends the client's per-IP budget and counts towards the account's lockout.
 */

const CHANGE_PASSWORD = `mutation ($input: ChangePasswordInput!) { changePassword(input: $input) }`;
const UPDATE_ME = `mutation ($input: UpdateMeInput!) { updateMe(input: $input) { id email } }`;

describe('wrong current passwords count towards the lockout', () => {
  const server = useTestServer();
  let tenant: string;

  beforeAll(async () => {
    tenant = (await createTenant(server, { settings: { maxFailedLogins: 3, lockoutMinutes: 15 } })).slug;
  });

  const changePassword = (token: string, currentPassword: string, newPassword = strongPassword()) =>
    server.gql(CHANGE_PASSWORD, { input: { currentPassword, newPassword } }, { token });
  const changeEmail = (token: string, currentPassword: string) =>
    server.gql(
      UPDATE_ME,
      { input: { email: `${unique('moved')}@example.test`, currentPassword } },
      { token },
    );

  it('locks the account after maxFailedLogins wrong guesses, as sign-in does', async () => {
    const user = await registerUser(server, tenant);
    expect(errorCode(await changePassword(user.accessToken, 'guess number one'))).toBe('BAD_USER_INPUT');
    expect(errorCode(await changeEmail(user.accessToken, 'guess number two'))).toBe('BAD_USER_INPUT');
    expect(errorCode(await changePassword(user.accessToken, 'guess number three'))).toBe('BAD_USER_INPUT');

    // Locked: the right password no longer works, neither here nor at sign-in.
    const right = await changePassword(user.accessToken, user.password);
    expect(errorCode(right)).toBe('BAD_USER_INPUT');
    expect(right.errors?.[0]?.message).not.toMatch(/lock/i);
    expect(errorCode(await changeEmail(user.accessToken, user.password))).toBe('BAD_USER_INPUT');
    expect(errorCode(await attemptLogin(server, tenant, user.email, user.password))).toBe('UNAUTHENTICATED');

    // The lock ends like a sign-in lock (the access token has expired by then: sign in again).
    server.clock.advance(16 * 60_000);
    const again = await attemptLogin(server, tenant, user.email, user.password);
    expect(again.errors).toBeUndefined();
    const token = again.data?.login.accessToken as string;
    expect((await changePassword(token, user.password)).data?.changePassword).toBe(true);
  });

  it('clears the count after a right current password, as sign-in does', async () => {
    const user = await registerUser(server, tenant);
    expect(errorCode(await changePassword(user.accessToken, 'wrong one'))).toBe('BAD_USER_INPUT');
    expect(errorCode(await changePassword(user.accessToken, 'wrong two'))).toBe('BAD_USER_INPUT');
    const next = strongPassword();
    expect((await changePassword(user.accessToken, user.password, next)).data?.changePassword).toBe(true);
    expect(errorCode(await changePassword(user.accessToken, 'wrong three'))).toBe('BAD_USER_INPUT');
    expect(errorCode(await changePassword(user.accessToken, 'wrong four'))).toBe('BAD_USER_INPUT');
    expect((await attemptLogin(server, tenant, user.email, next)).errors).toBeUndefined();
  });

  it('counts parallel guesses too: at most maxFailedLogins are evaluated', async () => {
    const user = await registerUser(server, tenant);
    const guesses = await Promise.all(
      Array.from({ length: 10 }, (_, i) => changePassword(user.accessToken, `parallel guess ${i}`)),
    );
    for (const guess of guesses) expect(errorCode(guess)).toBe('BAD_USER_INPUT');
    expect(errorCode(await changePassword(user.accessToken, user.password))).toBe('BAD_USER_INPUT');
  });
});

describe('wrong current passwords spend the per-IP budget', () => {
  const server = useTestServer({ RATE_LIMIT_AUTH_PER_MINUTE: '5' });
  let tenant: string;

  beforeAll(async () => {
    tenant = (await createTenant(server, { settings: { maxFailedLogins: 1000 } })).slug;
  });

  it('answers RATE_LIMITED once the budget of sign-in attempts is spent', async () => {
    // The sign-up itself is one attempt of the five.
    const user = await registerUser(server, tenant);
    const codes: (string | undefined)[] = [];
    for (let i = 0; i < 8; i++) {
      const answer =
        i % 2 === 0
          ? await server.gql(
              CHANGE_PASSWORD,
              { input: { currentPassword: `guess ${i}`, newPassword: strongPassword() } },
              { token: user.accessToken },
            )
          : await server.gql(
              UPDATE_ME,
              { input: { email: `${unique('moved')}@example.test`, currentPassword: `guess ${i}` } },
              { token: user.accessToken },
            );
      codes.push(errorCode(answer));
    }
    expect(codes.slice(0, 4)).toEqual(Array(4).fill('BAD_USER_INPUT'));
    expect(codes.slice(4)).toEqual(Array(4).fill('RATE_LIMITED'));
    // Sign-in from the same address draws on the same, spent budget.
    expect(errorCode(await attemptLogin(server, tenant, user.email, user.password))).toBe('RATE_LIMITED');
  });
});
