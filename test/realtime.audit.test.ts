import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { write } from '../src/kernel/unit-of-work.js';
import { topics } from '../src/modules/realtime/topics.js';
import {
  type Actor,
  CREATE_USER,
  makeTenant,
  makeWorld,
  ok,
  PASSWORD,
  signInSystemAdmin,
  type TenantHandle,
  type TenantWorld,
  uniqueSlug,
} from './support/fixtures.js';
import { useTestServer } from './support/server.js';
import { eventually, openSocket, type Socket, type Subscription } from './support/ws.js';

/**
 * auditEventAdded: an ADMIN's live feed of their tenant's audit trail. Events arrive once the
 * change they record has committed, never for one that rolled back, never from another tenant.
 */

const AUDIT_ADDED = `subscription ($tenantId: ID) {
  auditEventAdded(tenantId: $tenantId) { id tenantId actorId action targetType targetId metadata createdAt actor { id email } }
}`;
type Added = {
  auditEventAdded: {
    id: string;
    tenantId: string;
    actorId: string | null;
    action: string;
    targetId: string | null;
    metadata: Record<string, unknown> | null;
    createdAt: string;
    actor: { id: string; email: string } | null;
  };
};

const server = useTestServer();
let system: Actor;
let world: TenantWorld;
let other: TenantHandle;
const sockets: Socket[] = [];

beforeAll(async () => {
  system = await signInSystemAdmin(server);
  world = await makeWorld(server, system);
  other = await makeTenant(server, system);
});
afterAll(async () => {
  await Promise.all(sockets.map((s) => s.dispose()));
});

async function subscribe(by: Actor, tenantId?: string): Promise<Subscription<Added>> {
  const socket = openSocket(server.url, by.token);
  sockets.push(socket);
  await socket.connected;
  const subscription = socket.subscribe<Added>(AUDIT_ADDED, { tenantId });
  const topic = topics.auditEventAdded(tenantId ?? by.tenantId);
  await eventually(
    () => server.app.services.events.listening(topic) > 0 || subscription.completed,
    3_000,
    'the feed',
  );
  return subscription;
}

describe('auditEventAdded', () => {
  it("streams the tenant's audit events to its ADMINs as they commit, and nothing of other tenants", async () => {
    const feed = await subscribe(world.admin);
    const otherFeed = await subscribe(other.admin);
    const email = `${uniqueSlug('audited')}@example.test`;
    const created = ok(
      await server.gql(CREATE_USER, { input: { email, password: PASSWORD } }, { token: world.admin.token }),
    );
    const event = (await feed.next()).auditEventAdded;
    expect(event).toMatchObject({
      tenantId: world.id,
      actorId: world.admin.userId,
      action: 'user.created',
      targetId: created.createUser.id,
      actor: { id: world.admin.userId },
    });
    expect(Math.abs(Date.parse(event.createdAt) - server.clock.now().getTime())).toBeLessThan(1_000);

    // A failed sign-in is written outside any transaction; it is announced too.
    await server.gql('mutation ($input: LoginInput!) { login(input: $input) { accessToken } }', {
      input: { tenant: world.slug, email, password: 'definitely wrong 42' },
    });
    expect((await feed.next()).auditEventAdded).toMatchObject({ action: 'auth.login.failed', actorId: null });

    // Tenant B's own event reaches B's ADMIN, and by then nothing of A ever did.
    ok(
      await server.gql(
        CREATE_USER,
        { input: { email: `${uniqueSlug('b')}@example.test`, password: PASSWORD } },
        { token: other.admin.token },
      ),
    );
    expect((await otherFeed.next()).auditEventAdded).toMatchObject({
      tenantId: other.id,
      action: 'user.created',
    });
    expect(otherFeed.events).toHaveLength(1);
    expect(feed.events.every((e) => e.auditEventAdded.tenantId === world.id)).toBe(true);
  });

  it('never announces an event whose transaction rolled back', async () => {
    const feed = await subscribe(world.admin);
    const deps = server.app.services;
    const origin = { ip: '192.0.2.1', userAgent: 'test' };
    const event = (action: string) => ({
      tenantId: world.id,
      actorId: world.admin.userId,
      action,
      at: server.clock.now(),
    });
    await expect(
      write(deps, async (w) => {
        await w.audit(origin, event('test.rolled_back'));
        throw new Error('the change failed after its audit event was written');
      }),
    ).rejects.toThrow('the change failed');
    await write(deps, async (w) => {
      await w.audit(origin, event('test.committed'));
    });
    expect((await feed.next()).auditEventAdded.action).toBe('test.committed');
    expect(feed.events.map((e) => e.auditEventAdded.action)).toEqual(['test.committed']);
  });

  it('is for ADMINs: others are refused, and only system ADMINs may name another tenant', async () => {
    for (const role of ['MODERATOR', 'USER', 'GUEST'] as const) {
      const refused = await subscribe(world.as[role]);
      await refused.ended();
      expect(refused.errors[0]?.extensions?.code, role).toBe('FORBIDDEN');
    }
    const listeners = server.app.services.events.listening(topics.auditEventAdded(other.id));
    const sneaky = await subscribe(world.admin, other.id);
    await sneaky.ended();
    expect(sneaky.errors[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(server.app.services.events.listening(topics.auditEventAdded(other.id))).toBe(listeners);

    const operator = await subscribe(system, world.id);
    ok(
      await server.gql(
        CREATE_USER,
        { input: { email: `${uniqueSlug('op')}@example.test`, password: PASSWORD } },
        { token: world.admin.token },
      ),
    );
    expect((await operator.next()).auditEventAdded).toMatchObject({
      tenantId: world.id,
      action: 'user.created',
    });
  });
});
