import { eq } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { auditEvents } from '../src/db/schema.js';
import { createTenant, loginUser, registerUser, tokenWorks } from './support/fixtures.js';
import { CONFIRM_TOTP, enrolTotp, jwtClaims, passwordStep, START_TOTP, totpCode } from './support/mfa.js';
import { errorCode, SYSTEM_ADMIN, useTestServer } from './support/server.js';
import { openSocket } from './support/ws.js';

/** The tenant policy (mfaRequiredForRoles), the ADMIN reset, and MFA changes reaching userChanged. */

const server = useTestServer();
let admin: Awaited<ReturnType<typeof loginUser>>;

beforeAll(async () => {
  admin = await loginUser(server, { tenant: 'system', ...SYSTEM_ADMIN });
});

const UPDATE_TENANT = `mutation U($id: ID!, $input: UpdateTenantInput!) {
  updateTenant(id: $id, input: $input) { settings { mfaRequiredForRoles } } }`;

describe('mfaRequiredForRoles', () => {
  it('is a tenant setting ADMINs change, kept in order without repeats', async () => {
    const tenant = await createTenant(server);
    const answer = await server.gql(
      UPDATE_TENANT,
      { id: tenant.id, input: { settings: { mfaRequiredForRoles: ['USER', 'ADMIN', 'USER'] } } },
      { token: admin.accessToken },
    );
    expect(answer.errors).toBeUndefined();
    expect(answer.data?.updateTenant.settings.mfaRequiredForRoles).toEqual(['ADMIN', 'USER']);
    const bad = await server.gql(
      UPDATE_TENANT,
      { id: tenant.id, input: { settings: { mfaRequiredForRoles: ['OWNER'] } } },
      { token: admin.accessToken },
    );
    expect(errorCode(bad)).toBe('BAD_USER_INPUT');
  });

  it('lets a user of such a role without a second factor only enrol, then everything once enrolled', async () => {
    const tenant = await createTenant(server);
    const user = await registerUser(server, tenant.slug);
    await server.gql(
      UPDATE_TENANT,
      { id: tenant.id, input: { settings: { mfaRequiredForRoles: ['USER'] } } },
      { token: admin.accessToken },
    );
    const token = user.accessToken;
    // Still signed in, and may see who they are, their sessions, and sign out...
    const allowed = await server.gql(
      '{ me { id mfaEnabled } mySessions { id } myMfa { totpEnabled } }',
      {},
      { token },
    );
    expect(allowed.errors).toBeUndefined();
    expect(allowed.data?.me).toEqual({ id: user.userId, mfaEnabled: false });
    // ...but nothing else.
    for (const query of [
      'mutation { updateMe(input: { displayName: "x" }) { id } }',
      `mutation { changePassword(input: { currentPassword: "${user.password}", newPassword: "another long password 9" }) }`,
      '{ tenantInfo(slug: "system") { slug } me { id } }',
    ]) {
      const refused = await server.gql(query, {}, { token });
      const codes = (refused.errors ?? []).map((e) => e.extensions?.code);
      if (query.includes('tenantInfo')) {
        // Public fields stay public.
        expect(refused.errors).toBeUndefined();
      } else {
        expect(codes, query).toEqual(['MFA_ENROLLMENT_REQUIRED']);
      }
    }
    // A new sign-in is no different: tokens, restricted.
    const again = await loginUser(server, user);
    expect(
      errorCode(
        await server.gql(
          'mutation { updateMe(input: { displayName: "y" }) { id } }',
          {},
          { token: again.accessToken },
        ),
      ),
    ).toBe('MFA_ENROLLMENT_REQUIRED');

    // Enrolling is allowed, and lifts the restriction for the same token at once.
    const started = await server.gql(START_TOTP, {}, { token });
    const secret = started.data?.startTotpEnrollment.secret as string;
    const confirmed = await server.gql(
      CONFIRM_TOTP,
      { input: { code: totpCode(secret, server.clock.now()) } },
      { token },
    );
    expect(confirmed.errors).toBeUndefined();
    const now = await server.gql(
      'mutation { updateMe(input: { displayName: "Enrolled" }) { displayName mfaEnabled } }',
      {},
      { token },
    );
    expect(now.data?.updateMe).toEqual({ displayName: 'Enrolled', mfaEnabled: true });
    // And the next sign-in asks for the second factor.
    server.clock.advance(30_000);
    await passwordStep(server, user);
  });

  it('leaves other roles alone', async () => {
    const tenant = await createTenant(server, { settings: { mfaRequiredForRoles: ['ADMIN'] } });
    const user = await registerUser(server, tenant.slug);
    const answer = await server.gql(
      'mutation { updateMe(input: { displayName: "Free" }) { displayName } }',
      {},
      {
        token: user.accessToken,
      },
    );
    expect(answer.data?.updateMe.displayName).toBe('Free');
  });
});

describe('resetUserMfa', () => {
  it('removes every factor, ends the sessions with MFA_RESET, is audited, and is for ADMINs only', async () => {
    const tenant = await createTenant(server);
    const user = await enrolTotp(server, await registerUser(server, tenant.slug));
    const other = await registerUser(server, tenant.slug);
    const reset = 'mutation R($id: ID!) { resetUserMfa(userId: $id) }';
    expect(errorCode(await server.gql(reset, { id: user.userId }, { token: other.accessToken }))).toBe(
      'FORBIDDEN',
    );

    const socket = openSocket(server.url, user.accessToken);
    await socket.connected;
    const ended = socket.subscribe<{ sessionEnded: { reason: string } }>(
      'subscription { sessionEnded { reason } }',
    );
    const answer = await server.gql(reset, { id: user.userId }, { token: admin.accessToken });
    expect(answer.data?.resetUserMfa).toBe(true);
    expect((await ended.next(5_000)).sessionEnded.reason).toBe('MFA_RESET');
    await socket.dispose();
    expect(await tokenWorks(server, user.accessToken)).toBe(false);

    // A password alone signs in again.
    const back = await loginUser(server, user);
    expect(jwtClaims(back.accessToken).amr).toEqual(['pwd']);
    expect(
      (await server.gql('{ myMfa { totpEnabled recoveryCodesRemaining } }', {}, { token: back.accessToken }))
        .data,
    ).toEqual({
      myMfa: { totpEnabled: false, recoveryCodesRemaining: 0 },
    });
    const actions = await server.testDatabase.database.db
      .select({ action: auditEvents.action, actorId: auditEvents.actorId, metadata: auditEvents.metadata })
      .from(auditEvents)
      .where(eq(auditEvents.targetId, user.userId));
    expect(actions).toContainEqual({
      action: 'mfa.reset',
      actorId: admin.userId,
      metadata: { totp: true, passkeys: 0, recoveryCodes: 10, sessionsEnded: 1 },
    });
  });
});

describe('userChanged', () => {
  it('tells subscribers when a second factor is turned on and off', async () => {
    const tenant = await createTenant(server);
    const user = await registerUser(server, tenant.slug);
    const socket = openSocket(server.url, user.accessToken);
    await socket.connected;
    const changes = socket.subscribe<{ userChanged: { mfaEnabled: boolean } }>(
      'subscription { userChanged { id mfaEnabled } }',
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    await enrolTotp(server, user);
    expect((await changes.next(5_000)).userChanged.mfaEnabled).toBe(true);
    await server.gql(
      'mutation D($input: DisableTotpInput!) { disableTotp(input: $input) }',
      { input: { currentPassword: user.password } },
      { token: user.accessToken },
    );
    expect((await changes.next(5_000)).userChanged.mfaEnabled).toBe(false);
    await socket.dispose();
  });
});
