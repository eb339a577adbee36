import { beforeAll, describe, expect, it } from 'vitest';
import {
  GraphQLRequestError,
  LogoutAllDocument,
  MeDocument,
  type SignedOutReason,
  TokenManager,
} from '../client/src/index.js';
import { createTenant, registerUser, type SignedIn } from './support/fixtures.js';
import { useTestServer } from './support/server.js';

/**
 * The client package's token manager in Node against the running server: real sign-in, refresh
 * and sign-out; time passes through the server's clock, which the manager is given as its own.
 */

const server = useTestServer();
let tenantSlug: string;
beforeAll(async () => {
  tenantSlug = (await createTenant(server)).slug;
});

/** A manager on the server's clock, and the operations it sent, by name. */
function managerFor() {
  const sent: string[] = [];
  const manager = new TokenManager({
    url: `${server.url}/graphql`,
    now: () => server.clock.now().getTime(),
    locks: null,
    fetch: async (input, init) => {
      const query = String(JSON.parse(String(init?.body ?? '{}')).query ?? '');
      sent.push(/^(?:query|mutation|subscription) (\w+)/.exec(query)?.[1] ?? '?');
      return fetch(input, init);
    },
  });
  const signedOut: SignedOutReason[] = [];
  manager.on('signedOut', (reason) => signedOut.push(reason));
  return { manager, sent, signedOut };
}

async function signedInUser(): Promise<{ user: SignedIn } & ReturnType<typeof managerFor>> {
  const user = await registerUser(server, tenantSlug);
  const client = managerFor();
  await client.manager.signIn({ tenant: tenantSlug, email: user.email, password: user.password });
  return { user, ...client };
}

describe('TokenManager', () => {
  it('signs in and sends typed operations with the access token', async () => {
    const { manager, user, sent } = await signedInUser();
    expect(manager.signedIn).toBe(true);
    const { me } = await manager.request(MeDocument);
    expect(me.email).toBe(user.email);
    expect(sent).toEqual(['Login', 'Me']);
    manager.dispose();
  });

  it('refreshes shortly before the access token expires, once for many requests at a time', async () => {
    const { manager, user, sent } = await signedInUser();
    const first = await manager.accessToken();
    // 30 s before expiry (the manager renews within the last minute).
    server.clock.advance(server.config.jwt.accessTokenTtlSeconds * 1000 - 30_000);
    const answers = await Promise.all(Array.from({ length: 5 }, () => manager.request(MeDocument)));
    for (const { me } of answers) expect(me.email).toBe(user.email);
    expect(sent.filter((name) => name === 'Refresh')).toHaveLength(1);
    const second = await manager.accessToken();
    expect(second).not.toBe(first);
    // The new token is not due: nothing more is refreshed.
    await manager.request(MeDocument);
    expect(sent.filter((name) => name === 'Refresh')).toHaveLength(1);
    manager.dispose();
  });

  it('refreshes and retries once when the API answers UNAUTHENTICATED', async () => {
    const { user, sent } = await signedInUser();
    // A manager whose clock is behind the server's: it believes its token is still fresh.
    const behind = new TokenManager({
      url: `${server.url}/graphql`,
      now: () => server.clock.now().getTime() - 3_600_000,
      locks: null,
      fetch: async (input, init) => {
        const query = String(JSON.parse(String(init?.body ?? '{}')).query ?? '');
        sent.push(/^(?:query|mutation) (\w+)/.exec(query)?.[1] ?? '?');
        return fetch(input, init);
      },
    });
    await behind.signIn({ tenant: tenantSlug, email: user.email, password: user.password });
    sent.length = 0;
    // Past expiry and the 30 s tolerance for clock skew.
    server.clock.advance((server.config.jwt.accessTokenTtlSeconds + 60) * 1000);
    const { me } = await behind.request(MeDocument);
    expect(me.email).toBe(user.email);
    expect(sent).toEqual(['Me', 'Refresh', 'Me']);
    behind.dispose();
  });

  it('emits signedOut when the session was ended elsewhere, and throws UNAUTHENTICATED', async () => {
    const { manager, user, signedOut, sent } = await signedInUser();
    await manager.request(MeDocument);
    // The same user ends every session from another device.
    const elsewhere = managerFor();
    await elsewhere.manager.signIn({ tenant: tenantSlug, email: user.email, password: user.password });
    await elsewhere.manager.request(LogoutAllDocument);
    const error = await manager.request(MeDocument).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(GraphQLRequestError);
    expect((error as GraphQLRequestError).code).toBe('UNAUTHENTICATED');
    expect(signedOut).toEqual(['expired']);
    expect(manager.signedIn).toBe(false);
    // One refresh was tried, and no more requests after it.
    expect(sent).toEqual(['Login', 'Me', 'Me', 'Refresh']);
    elsewhere.manager.dispose();
  });

  it('signs out: the API forgets the session and the manager its tokens', async () => {
    const { manager, signedOut } = await signedInUser();
    const token = await manager.accessToken();
    await manager.signOut();
    expect(signedOut).toEqual(['logout']);
    expect(await manager.accessToken()).toBeNull();
    const after = await server.gql('{ me { id } }', {}, { token: token ?? '' });
    expect(after.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });
});
