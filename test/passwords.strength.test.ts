import { readFileSync } from 'node:fs';
import { buildSchema, getNamedType, isInputObjectType } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkPasswordPolicy, MAX_ESTIMATED_LENGTH } from '../src/modules/passwords/index.js';
import { createTenant, loginUser, registerUser, strongPassword, unique } from './support/fixtures.js';
import { errorCode, type GraphQLResponse, SYSTEM_ADMIN, useTestServer } from './support/server.js';
import { TestSmtpServer, tokenOf } from './support/smtp.js';

/**
 * Guessable passwords (keyboard walks, repeats, sequences, words with substitutions) are refused
 * wherever a password is set, with the estimate's advice as the field message.
 */

const GUESSABLE = [
  'qwertyuiopas',
  'zxcvbnmasdfg',
  'asdfghjkl;12',
  'aaaaaaaaaaaa',
  'abcdefghijkl',
  'P@ssw0rd2024',
];

describe('the policy refuses guessable patterns', () => {
  it.each(GUESSABLE)('%s', (password) => {
    const violations = checkPasswordPolicy(password, { minLength: 12 });
    expect(violations.map((v) => v.rule)).toEqual(['GUESSABLE']);
    const message = violations[0]?.message ?? '';
    expect(message.length).toBeGreaterThan(10);
    expect(message.toLowerCase()).not.toContain(password.toLowerCase().slice(0, 6));
  });

  it('accepts passphrases and random strings', () => {
    for (const password of ['violet-tram-harbour-9', 'correct horse battery staple 42', strongPassword()]) {
      expect(checkPasswordPolicy(password, { minLength: 12 })).toEqual([]);
    }
  });

  it('counts the account’s own words (email, display name, tenant) as guessable', () => {
    const password = 'lindqvistharbourview';
    expect(checkPasswordPolicy(password, { minLength: 12 })).toEqual([]);
    const own = checkPasswordPolicy(password, {
      minLength: 12,
      email: 'greta@harbourview.example',
      userInputs: ['Greta Lindqvist'],
    });
    expect(own).toEqual([
      {
        rule: 'GUESSABLE',
        message:
          'There should not be any personal or page related data. Add more words that are less common.',
      },
    ]);
  });

  it(`estimates only the first ${MAX_ESTIMATED_LENGTH} characters, so long inputs cost what short ones do`, () => {
    const strongHead = 'Vq7#mZ2!pL9@wR4$kT8^xN3&bH6*cJ1('.padEnd(MAX_ESTIMATED_LENGTH, 'y5%G');
    // A guessable tail after a strong head is not looked at…
    expect(checkPasswordPolicy(`${strongHead}${'a'.repeat(200)}`, { minLength: 12 })).toEqual([]);
    // …and a guessable head is refused whatever follows it.
    const weakHead = 'qwerty'.repeat(10).slice(0, MAX_ESTIMATED_LENGTH);
    expect(checkPasswordPolicy(`${weakHead}${strongHead}`, { minLength: 12 }).map((v) => v.rule)).toEqual([
      'GUESSABLE',
    ]);
  });
});

/** Every input field through which a client sets a password, and how to send one there. */
const PASSWORD_SETTERS: Record<string, (password: string) => Promise<GraphQLResponse>> = {
  'RegisterInput.password': (password) =>
    server.gql('mutation ($input: RegisterInput!) { register(input: $input) { accessToken } }', {
      input: { tenant: tenant.slug, email: `${unique('walk')}@example.test`, password },
    }),
  'CreateUserInput.password': (password) =>
    server.gql(
      'mutation ($input: CreateUserInput!) { createUser(input: $input) { id } }',
      { input: { tenantId: tenant.id, email: `${unique('walk')}@example.test`, password } },
      { token: admin },
    ),
  'CreateTenantInput.adminPassword': (password) =>
    server.gql(
      'mutation ($input: CreateTenantInput!) { createTenant(input: $input) { tenant { id } } }',
      {
        input: {
          slug: unique('walk').toLowerCase(),
          name: 'Walk',
          adminEmail: `${unique('walk')}@example.test`,
          adminPassword: password,
        },
      },
      { token: admin },
    ),
  // The three set through an emailed link or by an ADMIN, each through its real flow: the token
  // is read from the email that arrived at the test's SMTP server.
  'AcceptInvitationInput.password': async (password) => {
    const email = `${unique('invited')}@example.test`;
    const invited = await server.gql(
      'mutation ($input: InviteUserInput!) { inviteUser(input: $input) { id } }',
      { input: { email, tenantId: tenant.id } },
      { token: admin },
    );
    expect(invited.errors).toBeUndefined();
    const [mail] = await smtp.waitFor(email);
    return server.gql(
      'mutation ($input: AcceptInvitationInput!) { acceptInvitation(input: $input) { accessToken } }',
      { input: { token: tokenOf(mail?.link), password } },
    );
  },
  'ResetPasswordInput.newPassword': async (password) => {
    const user = await registerUser(server, tenant.slug);
    const requested = await server.gql(
      'mutation ($input: RequestPasswordResetInput!) { requestPasswordReset(input: $input) }',
      { input: { tenant: tenant.slug, email: user.email } },
    );
    expect(requested.data?.requestPasswordReset).toBe(true);
    const [mail] = await smtp.waitFor(user.email);
    return server.gql('mutation ($input: ResetPasswordInput!) { resetPassword(input: $input) }', {
      input: { token: tokenOf(mail?.link), newPassword: password },
    });
  },
  'SetUserPasswordInput.newPassword': async (password) => {
    const user = await registerUser(server, tenant.slug);
    return server.gql(
      'mutation ($id: ID!, $input: SetUserPasswordInput!) { setUserPassword(id: $id, input: $input) }',
      { id: user.userId, input: { newPassword: password } },
      { token: admin },
    );
  },
  'ChangePasswordInput.newPassword': async (password) => {
    const user = await registerUser(server, tenant.slug);
    return server.gql(
      'mutation ($input: ChangePasswordInput!) { changePassword(input: $input) }',
      { input: { currentPassword: user.password, newPassword: password } },
      { token: user.accessToken },
    );
  },
};

/** Fields that carry a password the caller already has (to prove who they are), not a new one. */
const PASSWORDS_PRESENTED = new Set([
  'LoginInput.password',
  'ChangePasswordInput.currentPassword',
  'UpdateMeInput.currentPassword',
  'DisableTotpInput.currentPassword',
]);

let smtp: TestSmtpServer;
let tenant: { id: string; slug: string };
let admin: string;
beforeAll(async () => {
  smtp = await new TestSmtpServer().start();
});
afterAll(async () => {
  await smtp?.stop();
});
const server = useTestServer(() => ({ SMTP_URL: smtp.url }));
beforeAll(async () => {
  tenant = await createTenant(server);
  admin = (await loginUser(server, { tenant: 'system', ...SYSTEM_ADMIN })).accessToken;
});

describe('every way of setting a password refuses a keyboard walk', () => {
  it('covers every input field of the schema that takes a password', () => {
    const schema = buildSchema(readFileSync(new URL('../schema/schema.graphql', import.meta.url), 'utf8'));
    const fields = Object.values(schema.getTypeMap())
      .filter(isInputObjectType)
      .flatMap((type) =>
        Object.values(type.getFields())
          .filter((field) => /password/i.test(field.name) && getNamedType(field.type).name === 'String')
          .map((field) => `${type.name}.${field.name}`),
      )
      .filter((name) => !PASSWORDS_PRESENTED.has(name));
    expect(fields.sort()).toEqual(Object.keys(PASSWORD_SETTERS).sort());
  });

  it.each(Object.keys(PASSWORD_SETTERS))('%s', async (name) => {
    const send = PASSWORD_SETTERS[name];
    if (!send) throw new Error(name);
    const field = name.split('.')[1];
    const refused = await send('qwertyuiopas');
    expect(errorCode(refused)).toBe('BAD_USER_INPUT');
    expect(refused.errors?.[0]?.extensions?.fields).toEqual([
      { field, message: 'This is similar to a commonly used password. Add more words that are less common.' },
    ]);
    expect(JSON.stringify(refused)).not.toContain('qwertyuiop');
    const accepted = await send(strongPassword());
    expect(accepted.errors).toBeUndefined();
  });
});
