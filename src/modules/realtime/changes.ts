import type { Services } from '../../graphql/context.js';
import { topics, type UserChangedPayload } from './topics.js';

/**
 * What every write does once committed, before it answers: the caches of every instance drop
 * what changed (awaited, so the client's next request sees the new state on any instance), then
 * subscribers are told. Neither step ever fails the write: it has happened.
 */
export type ChangeDeps = Pick<Services, 'cache' | 'events'>;

/**
 * Users of one tenant changed (profile, role, status, lock, sign-in time, password) or were
 * deleted. `userChanged` subscribers re-read them; a deleted user's subscriptions complete.
 */
export async function afterUsersChanged(
  deps: ChangeDeps,
  tenantId: string,
  userIds: readonly string[],
  options: { deleted?: boolean } = {},
): Promise<void> {
  if (userIds.length === 0) return;
  await deps.cache.invalidate({ tenantId, users: userIds });
  await Promise.all(
    userIds.map((userId) =>
      deps.events.publish(topics.userChanged(tenantId, userId), {
        tenantId,
        userId,
        deleted: options.deleted === true,
      } satisfies UserChangedPayload),
    ),
  );
}

/** A tenant's row changed (name, settings, status), or the tenant is gone with everything in it. */
export async function afterTenantChanged(
  deps: ChangeDeps,
  tenantId: string,
  options: { deleted?: boolean } = {},
): Promise<void> {
  await deps.cache.invalidate({ tenantId, tenant: true, tenantDeleted: options.deleted === true });
}
