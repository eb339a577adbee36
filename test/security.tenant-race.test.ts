import { sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { overWebSocket } from './support/abuse-ws.js';
import {
  type Actor,
  CREATE_USER,
  makeTenant,
  PASSWORD,
  signInSystemAdmin,
  uniqueSlug,
} from './support/fixtures.js';
import { errorCode, useTestServer } from './support/server.js';

/**
 * A tenant deleted while a user is being created in it (register, createUser) is answered
 * NOT_FOUND — as if it had been gone before — never INTERNAL_SERVER_ERROR from the foreign key.
 * Deterministically (a trigger deletes the tenant between the service's check and its INSERT),
 * and as a real race of deleteTenant against sign-ups, over HTTP and WebSocket.
 */

const REGISTER = `mutation ($input: RegisterInput!) { register(input: $input) { user { id } } }`;
const DELETE_TENANT = 'mutation ($id: ID!) { deleteTenant(id: $id) }';

const server = useTestServer();
let system: Actor;

beforeAll(async () => {
  system = await signInSystemAdmin(server);
  const execute = (statement: string) => server.testDatabase.database.db.execute(sql.raw(statement));
  // The tenant goes away exactly between the check and the insert of a "vanish…" user.
  await execute(`create function zz_vanish_tenant() returns trigger language plpgsql as $$
    begin delete from tenants where id = new.tenant_id; return new; end $$`);
  await execute(`create trigger zz_vanish before insert on users for each row
    when (new.email like 'vanish%') execute function zz_vanish_tenant()`);
});

const register = (tenant: string, email: string) =>
  server.gql(REGISTER, { input: { tenant, email, password: PASSWORD } });

describe('security: creating a user in a tenant being deleted', () => {
  it('register and createUser answer NOT_FOUND when the tenant vanishes before the insert', async () => {
    const tenant = await makeTenant(server, system, { settings: { allowSelfRegistration: true } });
    const registered = await register(tenant.slug, `vanish-${uniqueSlug('r')}@example.test`);
    expect(registered.errors).toEqual([
      { message: 'Tenant not found.', path: ['register'], extensions: { code: 'NOT_FOUND' } },
    ]);
    for (const by of [tenant.admin, system]) {
      const created = await server.gql(
        CREATE_USER,
        {
          input: {
            email: `vanish-${uniqueSlug('c')}@example.test`,
            password: PASSWORD,
            tenantId: by === system ? tenant.id : undefined,
          },
        },
        { token: by.token },
      );
      expect(errorCode(created)).toBe('NOT_FOUND');
      expect(created.errors?.[0]?.message).toBe('Tenant not found.');
    }
    const overWs = await overWebSocket(
      server,
      system.token,
      `mutation { createUser(input: { email: "vanish-ws@example.test", password: "${PASSWORD}", tenantId: "${tenant.id}" }) { id } }`,
    );
    expect(overWs.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });

  it('a real race: sign-ups and createUser against deleteTenant never answer INTERNAL_SERVER_ERROR', async () => {
    for (let round = 0; round < 3; round++) {
      const tenant = await makeTenant(server, system, { settings: { allowSelfRegistration: true } });
      const attempts = Array.from({ length: 12 }, (_, i) =>
        i % 2 === 0
          ? register(tenant.slug, `${uniqueSlug('race')}@example.test`)
          : server.gql(
              CREATE_USER,
              {
                input: {
                  email: `${uniqueSlug('race')}@example.test`,
                  password: PASSWORD,
                  tenantId: tenant.id,
                },
              },
              { token: system.token },
            ),
      );
      const deleted = server.gql(DELETE_TENANT, { id: tenant.id }, { token: system.token });
      const answers = await Promise.all([...attempts, deleted]);
      expect(errorCode(answers[answers.length - 1] as never)).toBeUndefined();
      for (const answer of answers) {
        expect(['NOT_FOUND', 'FORBIDDEN', undefined]).toContain(errorCode(answer));
      }
    }
  });
});
