import DataLoader from 'dataloader';
import type { GraphQLResolveInfo } from 'graphql';
import type { Db } from '../../db/client.js';
import type { SessionRow } from '../../db/schema.js';
import type { Clock } from '../../kernel/clock.js';
import { NotFoundError } from '../../kernel/errors.js';
import { isUuid } from '../../kernel/ids.js';
import { selects } from '../../kernel/selection.js';
import type { IdentityCache, UserView } from '../cache/identity-cache.js';
import { activeSessionsOfUsers } from '../sessions/sessions.queries.js';

declare module '../../kernel/context.js' {
  /**
   * A request's user loaders see only the tenant they were built for: every query filters by it,
   * so an id from another tenant finds nothing. Users come through the identity cache (keyed by
   * that same tenant id), without their password hash.
   */
  interface Loaders {
    /**
     * The user, or null: without waiting when this process holds it (the signed-in caller,
     * mostly), else batched with the rest of the request's users.
     */
    user(id: string): UserView | null | Promise<UserView | null>;
    /** As `user`, for a user that must exist: NOT_FOUND otherwise. */
    existingUser(id: string): UserView | Promise<UserView>;
    /** A user row this request has just written: the rest of its answer reads that one. */
    rememberUser<T extends UserView>(user: T): T;
    /**
     * Reads ahead what the rows of a page of users (the connection resolved at `info`) ask for,
     * for the whole page at once: their active sessions, when the operation selects them, so
     * that no row then waits on its own (see `activeSessions`).
     */
    prefetchUsersPage(info: GraphQLResolveInfo, users: readonly { id: string }[]): Promise<void> | undefined;
    /** A user's active sessions, oldest first: without waiting when a page's prefetch read them. */
    activeSessions(userId: string): SessionRow[] | Promise<SessionRow[]>;
  }
}

export interface UserLoaderDeps {
  db: Db;
  cache: IdentityCache;
  clock: Clock;
}

const userNotFound = () => new NotFoundError('User');

/** Whether the rows of the connection resolved at `info` ask for `field` (as edges or nodes). */
function rowsSelect(info: GraphQLResolveInfo, field: string): boolean {
  return selects(info, ['edges', 'node', field]) || selects(info, ['nodes', field]);
}

/**
 * One request's user loaders for one tenant. Each DataLoader is built on its first use: most
 * requests (`me`, a token check, a sign-in) touch one of them or none.
 */
export class UserLoaders {
  #userById?: DataLoader<string, UserView | null>;
  #activeSessionsByUserId?: DataLoader<string, SessionRow[]>;
  /** The sessions a page's prefetch read, by user. */
  #sessionsRead?: Map<string, SessionRow[]>;

  constructor(
    private readonly deps: UserLoaderDeps,
    readonly tenantId: string | null,
  ) {}

  user(id: string): UserView | null | Promise<UserView | null> {
    return this.userInMemory(id) ?? this.userById.load(id);
  }

  existingUser(id: string): UserView | Promise<UserView> {
    return (
      this.userInMemory(id) ??
      this.userById.load(id).then((user) => {
        if (!user) throw userNotFound();
        return user;
      })
    );
  }

  /** A user of this tenant if this process holds it, without waiting. */
  private userInMemory(id: string): UserView | undefined {
    return this.tenantId === null ? undefined : this.deps.cache.users.peek(this.tenantId, id);
  }

  rememberUser<T extends UserView>(user: T): T {
    this.userById.clear(user.id).prime(user.id, user);
    return user;
  }

  prefetchUsersPage(info: GraphQLResolveInfo, users: readonly { id: string }[]): Promise<void> | undefined {
    if (users.length === 0 || !rowsSelect(info, 'sessions')) return undefined;
    const userIds = users.map((user) => user.id);
    return this.activeSessionsByUserId.loadMany(userIds).then((lists) => {
      this.#sessionsRead ??= new Map();
      userIds.forEach((id, i) => {
        const list = lists[i];
        if (Array.isArray(list)) this.#sessionsRead?.set(id, list);
      });
    });
  }

  activeSessions(userId: string): SessionRow[] | Promise<SessionRow[]> {
    return this.#sessionsRead?.get(userId) ?? this.activeSessionsByUserId.load(userId);
  }

  private get userById(): DataLoader<string, UserView | null> {
    this.#userById ??= new DataLoader(async (ids) => {
      const { tenantId, deps } = this;
      if (tenantId === null) return ids.map(() => null);
      // A malformed id would make PostgreSQL fail the cast; it names nobody, like a missing id.
      const byId = await deps.cache.usersOf(tenantId, ids.filter(isUuid));
      return ids.map((id) => byId.get(id) ?? null);
    });
    return this.#userById;
  }

  private get activeSessionsByUserId(): DataLoader<string, SessionRow[]> {
    this.#activeSessionsByUserId ??= new DataLoader(async (userIds) => {
      const { tenantId, deps } = this;
      if (tenantId === null) return userIds.map(() => []);
      const rows = await activeSessionsOfUsers(deps.db, tenantId, userIds, deps.clock.now());
      const byUser = new Map<string, SessionRow[]>();
      for (const row of rows) {
        const list = byUser.get(row.userId);
        if (list) list.push(row);
        else byUser.set(row.userId, [row]);
      }
      return userIds.map((id) => byUser.get(id) ?? []);
    });
    return this.#activeSessionsByUserId;
  }
}
