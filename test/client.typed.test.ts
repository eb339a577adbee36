import { beforeAll, describe, expect, it } from 'vitest';
import {
  LogoutDocument,
  MeDocument,
  RefreshDocument,
  RegisterDocument,
  SignInDocument,
  TenantsPageDocument,
  UsersPageDocument,
} from '../src/client/generated/graphql.js';
import { createTenant, strongPassword, unique } from './support/fixtures.js';
import { errorCode, SYSTEM_ADMIN, useTestServer } from './support/server.js';
import { dataOf, typedGql } from './support/typed.js';

/**
 * The client operations in src/client/operations, sent as their generated typed documents: if
 * the schema changes under them, this file stops compiling (npm run typecheck) or these fail.
 */

const server = useTestServer();
let tenant: { id: string; slug: string };

beforeAll(async () => {
  tenant = await createTenant(server);
});

describe('typed client operations', () => {
  it('an admin signs in, reads me, pages through users, refreshes and signs out', async () => {
    const prefix = unique('typed');
    for (const n of [1, 2, 3]) {
      dataOf(
        await typedGql(server, RegisterDocument, {
          input: { tenant: tenant.slug, email: `${prefix}-${n}@example.test`, password: strongPassword() },
        }),
      );
    }

    const signedIn = dataOf(
      await typedGql(server, SignInDocument, {
        input: { tenant: 'system', email: SYSTEM_ADMIN.email, password: SYSTEM_ADMIN.password },
      }),
    ).login;
    expect(signedIn.tokenType).toBe('Bearer');
    expect(signedIn.user.role).toBe('ADMIN');

    const { me } = dataOf(await typedGql(server, MeDocument, {}, signedIn.accessToken));
    expect(me).toMatchObject({ email: SYSTEM_ADMIN.email, role: 'ADMIN', tenant: { slug: 'system' } });

    // Two pages of the other tenant's matching users, ordered by email.
    const page = (after: string | null) =>
      typedGql(
        server,
        UsersPageDocument,
        {
          tenantId: tenant.id,
          first: 2,
          after,
          filter: { search: prefix, status: 'ACTIVE' },
          orderBy: { field: 'EMAIL', direction: 'ASC' },
        },
        signedIn.accessToken,
      ).then((response) => dataOf(response).users);
    const first = await page(null);
    expect(first.totalCount).toBe(3);
    expect(first.pageInfo.hasNextPage).toBe(true);
    const second = await page(first.pageInfo.endCursor ?? null);
    expect(second.pageInfo.hasNextPage).toBe(false);
    expect([...first.nodes, ...second.nodes].map((user) => user.email)).toEqual([
      `${prefix}-1@example.test`,
      `${prefix}-2@example.test`,
      `${prefix}-3@example.test`,
    ]);

    const { tenants } = dataOf(
      await typedGql(server, TenantsPageDocument, { first: 5, search: tenant.slug }, signedIn.accessToken),
    );
    expect(tenants.nodes.map((row) => row.slug)).toEqual([tenant.slug]);
    expect(tenants.nodes[0]?.stats.totalUsers).toBeGreaterThanOrEqual(3);

    const refreshed = dataOf(
      await typedGql(server, RefreshDocument, { input: { refreshToken: signedIn.refreshToken } }),
    ).refresh;
    expect(refreshed.session.id).toBe(signedIn.session.id);
    expect(refreshed.refreshToken).not.toBe(signedIn.refreshToken);

    expect(dataOf(await typedGql(server, LogoutDocument, {}, refreshed.accessToken)).logout).toBe(true);
    const after = await typedGql(server, MeDocument, {}, refreshed.accessToken);
    expect(errorCode(after)).toBe('UNAUTHENTICATED');
    const again = await typedGql(server, RefreshDocument, {
      input: { refreshToken: refreshed.refreshToken },
    });
    expect(errorCode(again)).toBe('UNAUTHENTICATED');
  });

  it('a new user registers and is signed in at once', async () => {
    const email = `${unique('fresh')}@example.test`;
    const registered = dataOf(
      await typedGql(server, RegisterDocument, {
        input: { tenant: tenant.slug, email, password: strongPassword(), displayName: 'Fresh User' },
      }),
    ).register;
    expect(registered.user).toMatchObject({ email, displayName: 'Fresh User', role: 'USER' });
    const { me } = dataOf(await typedGql(server, MeDocument, {}, registered.accessToken));
    expect(me).toMatchObject({ id: registered.user.id, status: 'ACTIVE', tenant: { slug: tenant.slug } });
  });
});
