import { and, count, eq, getTableColumns, type SQL, sql } from 'drizzle-orm';
import type { Db, Executor } from '../../db/client.js';
import { isUniqueViolation } from '../../db/errors.js';
import { preparedPerDatabase } from '../../db/prepared.js';
import { planEveryTime } from '../../db/prepared-statements.js';
import { type Role, type UserRow, type UserStatus, userSearchText, users } from '../../db/schema.js';
import type { OrderDirection } from '../../kernel/enums.js';
import { ConflictError } from '../../kernel/errors.js';
import {
  afterCursor,
  type Connection,
  decodeCursor,
  escapeLike,
  orderByKey,
  type SortKey,
  textKey,
  timestampKey,
  toConnection,
} from '../../kernel/pagination.js';
import type { UserView } from '../cache/identity-cache.js';
import type { UserOrderField } from './users.inputs.js';

export async function findUserById(db: Executor, tenantId: string, id: string): Promise<UserRow | undefined> {
  const [row] = await db
    .select()
    .from(users)
    .where(and(eq(users.tenantId, tenantId), eq(users.id, id)))
    .limit(1);
  return row;
}

/** Locks the row for the rest of the transaction, so checks made on it stay true until commit. */
export async function lockUser(db: Executor, tenantId: string, id: string): Promise<UserRow | undefined> {
  const [row] = await db
    .select()
    .from(users)
    .where(and(eq(users.tenantId, tenantId), eq(users.id, id)))
    .for('update');
  return row;
}

/**
 * Locks every ACTIVE ADMIN of a tenant (in id order, so two transactions cannot deadlock) and
 * returns their ids. Two concurrent demotions therefore run one after the other, and the second
 * one sees the first one's result: a tenant cannot be left without an active ADMIN.
 */
export async function lockActiveAdmins(db: Executor, tenantId: string): Promise<string[]> {
  const rows = await db
    .select({ id: users.id })
    .from(users)
    .where(and(eq(users.tenantId, tenantId), eq(users.role, 'ADMIN'), eq(users.status, 'ACTIVE')))
    .orderBy(users.id)
    .for('update');
  return rows.map((row) => row.id);
}

/** The tenant a user belongs to, by primary key: only system ADMINs look across tenants. */
export async function findUserTenantId(db: Executor, id: string): Promise<string | undefined> {
  const [row] = await db.select({ tenantId: users.tenantId }).from(users).where(eq(users.id, id)).limit(1);
  return row?.tenantId;
}

export const USERS_EMAIL_UNIQUE = 'users_tenant_email_key';

/** The one answer when an address is already an account's in that tenant. */
export const emailTaken = () =>
  new ConflictError('email', 'An account with this email already exists in this tenant.');

/**
 * Runs a statement that writes a user's email: the unique (tenant, email) violation becomes
 * CONFLICT on `email`, whoever writes it (an ADMIN, a registration, an invitation, a profile).
 * Inside a transaction the violation has aborted it, so the error also rolls the write back.
 */
export async function emailUnique<T>(statement: Promise<T>): Promise<T> {
  try {
    return await statement;
  } catch (error) {
    if (isUniqueViolation(error, USERS_EMAIL_UNIQUE)) throw emailTaken();
    throw error;
  }
}

export type NewUser = typeof users.$inferInsert;

/** Creates one user; an email already taken in the tenant is CONFLICT (see emailUnique). */
export async function insertUser(db: Executor, values: NewUser): Promise<UserRow> {
  const [user] = await emailUnique(db.insert(users).values(values).returning());
  if (!user) throw new Error('user insert returned no row');
  return user;
}

/** Creates the user unless the tenant has that email already (first start): whether it did. */
export async function insertUserIfAbsent(db: Executor, values: NewUser): Promise<boolean> {
  const rows = await db.insert(users).values(values).onConflictDoNothing().returning({ id: users.id });
  return rows.length > 0;
}

export type UserFieldChanges = Partial<
  Pick<UserRow, 'displayName' | 'email' | 'role' | 'status' | 'emailVerifiedAt' | 'updatedAt'>
>;

/** Changes a user's own fields; a new email already taken in the tenant is CONFLICT (see emailUnique). */
export async function setUserFields(
  db: Executor,
  tenantId: string,
  id: string,
  changes: UserFieldChanges,
): Promise<UserRow | undefined> {
  const [user] = await emailUnique(
    db
      .update(users)
      .set(changes)
      .where(and(eq(users.tenantId, tenantId), eq(users.id, id)))
      .returning(),
  );
  return user;
}

/** Lifts a lockout: no lock, no failed attempts counted. */
export async function clearLockout(
  db: Executor,
  tenantId: string,
  id: string,
  now: Date,
): Promise<UserRow | undefined> {
  const [user] = await db
    .update(users)
    .set({ lockedUntil: null, failedLoginCount: 0, updatedAt: now })
    .where(and(eq(users.tenantId, tenantId), eq(users.id, id)))
    .returning();
  return user;
}

/** Deletes a user; what they own goes with them (foreign keys cascade). */
export async function deleteUserRow(db: Executor, tenantId: string, id: string): Promise<void> {
  await db.delete(users).where(and(eq(users.tenantId, tenantId), eq(users.id, id)));
}

/** Each ordering's expression is exactly the one indexed after tenant_id (see db/schema.ts). */
const SORT_KEYS: Record<UserOrderField, SortKey> = {
  CREATED_AT: timestampKey(sql`${users.createdAt}`),
  EMAIL: textKey(sql`lower(${users.email})`),
  DISPLAY_NAME: textKey(sql`coalesce(lower(${users.displayName}), '')`),
  LAST_LOGIN_AT: timestampKey(sql`coalesce(${users.lastLoginAt}, '-infinity'::timestamptz)`, {
    nullsAsMinusInfinity: true,
  }),
};

export interface UserListQuery {
  tenantId: string;
  first: number;
  after: string | null;
  search: string | null;
  role: Role | null;
  status: UserStatus | null;
  field: UserOrderField;
  direction: OrderDirection;
}

/** The columns a listed user is read with: never the password hash or the failed-login count. */
const { passwordHash: _hash, failedLoginCount: _count, ...LISTED_COLUMNS } = getTableColumns(users);

/**
 * The filters of a list query, with each value given by `value(name)`: a placeholder in the
 * prepared page statement, the value itself in the (rarely asked) count. `search` is the term
 * with LIKE's wildcards escaped (see escapeLike), so it matches as a plain substring.
 */
function listFilters(
  shape: Pick<ListShape, 'role' | 'status' | 'search'>,
  value: (name: string) => unknown,
): SQL | undefined {
  return and(
    tenantFilters(shape, value),
    // The expression of the trigram index users_search_idx.
    shape.search ? searchMatch(value('search')) : undefined,
  );
}

/** Tenant first (the shard key), then role and status; no search. */
function tenantFilters(shape: Pick<ListShape, 'role' | 'status'>, value: (name: string) => unknown): SQL {
  return and(
    sql`${users.tenantId} = ${value('tenantId')}`,
    shape.role ? sql`${users.role} = ${value('role')}` : undefined,
    shape.status ? sql`${users.status} = ${value('status')}` : undefined,
  ) as SQL;
}

/** `text like '%term%'` over the trigram index's expression, with an escaped term. */
function searchMatch(escaped: unknown): SQL {
  return sql`${userSearchText(users.email, users.displayName)} like ('%' || lower(${escaped}) || '%')`;
}

/**
 * The same substring test for a row already read (the ordered scans): `strpos` over the same text,
 * with the term as typed (nothing to escape). Never served by the trigram index, so PostgreSQL
 * cannot trade the ordered scan for it.
 */
function searchHit(term: unknown): SQL {
  return sql`strpos(${userSearchText(users.email, users.displayName)}, lower(${term})) > 0`;
}

/**
 * How a search finds its page. A page of substring matches in the list's order needs the first
 * matches along that order, not every match. PostgreSQL picks, for the term at hand (each search
 * statement is planned for its values, see planEveryTime), between reading the rows along the
 * order until the page is full (a common term: it stops after one page however large the tenant)
 * and looking every match up in the trigram index users_search_idx, then sorting them (a rare
 * term). A term without three letters or digits in a row has no trigram to look up: the index
 * would return every row of the tenant, so such a term always reads along the order ('ordered');
 * every other term lets PostgreSQL choose ('planned').
 */
export type SearchPlan = 'ordered' | 'planned';

/** Whether pg_trgm can extract a trigram from the term: a run of three letters or digits. */
export function hasTrigram(term: string): boolean {
  return /[\p{L}\p{N}]{3}/u.test(term);
}

/**
 * The statements for one shape of list query (ordering, cursor or not, which filters), built once
 * and prepared: the values travel as placeholders, so every page of every tenant reuses them.
 */
const listStatements = new Map<string, ReturnType<typeof listStatement>>();

function listStatement(shape: ListShape) {
  return preparedPerDatabase((db: Db) => {
    const key = SORT_KEYS[shape.field];
    const value = (name: string) => sql.placeholder(name);
    const after = shape.cursor
      ? afterCursor(key, users.id, shape.direction, { value: value('afterValue'), id: value('afterId') })
      : undefined;
    const page = (filters: SQL | undefined) =>
      db
        .select({ ...LISTED_COLUMNS, sortValue: sql<string>`${key.asText}` })
        .from(users)
        .where(and(filters, after))
        .orderBy(...orderByKey(key, users.id, shape.direction))
        .limit(value('limit'))
        .prepare('listUsers');
    // No search, or a term without a trigram: the rows along the order, filtered, up to the page.
    const ordered = page(
      and(tenantFilters(shape, value), shape.search ? searchHit(value('term')) : undefined),
    );
    if (!shape.search) return { ordered };
    const planned = page(listFilters(shape, value));
    // How many rows the term matches decides the plan; see planEveryTime.
    planEveryTime(planned.getQuery().sql);
    return { ordered, planned };
  });
}

interface ListShape {
  field: UserOrderField;
  direction: OrderDirection;
  cursor: boolean;
  role: boolean;
  status: boolean;
  search: boolean;
}

/**
 * One page of a tenant's users; the count runs only if the client asks for totalCount. A search
 * is a case-insensitive substring match on email and display name (`%` and `_` are themselves).
 * `onPlan` learns which way a search found its page (tests check that both ways answer alike).
 */
export async function listUsers(
  db: Db,
  query: UserListQuery,
  onPlan?: (plan: SearchPlan) => void,
): Promise<Connection<UserView>> {
  const key = SORT_KEYS[query.field];
  const ordering = `users:${query.field}:${query.direction}`;
  const cursor = query.after === null ? null : decodeCursor(query.after, ordering, key);
  const shape: ListShape = {
    field: query.field,
    direction: query.direction,
    cursor: cursor !== null,
    role: query.role !== null,
    status: query.status !== null,
    search: query.search !== null,
  };
  const shapeKey = `${shape.field}:${shape.direction}:${+shape.cursor}${+shape.role}${+shape.status}${+shape.search}`;
  let statements = listStatements.get(shapeKey);
  if (!statements) {
    statements = listStatement(shape);
    listStatements.set(shapeKey, statements);
  }
  const values: Record<string, unknown> = {
    tenantId: query.tenantId,
    role: query.role,
    status: query.status,
    term: query.search,
    search: query.search === null ? null : escapeLike(query.search),
    afterValue: cursor?.value,
    afterId: cursor?.id,
    limit: query.first + 1,
  };
  const { ordered, planned } = statements(db);
  const plan: SearchPlan | null =
    query.search === null ? null : hasTrigram(query.search) ? 'planned' : 'ordered';
  const rows = await (plan === 'planned' && planned ? planned : ordered).execute(values);
  if (plan) onPlan?.(plan);
  return toConnection<UserView>(rows, {
    first: query.first,
    hasCursor: cursor !== null,
    ordering,
    count: async () => {
      const [row] = await db
        .select({ n: count() })
        .from(users)
        .where(listFilters(shape, (name) => values[name]));
      return Number(row?.n ?? 0);
    },
  });
}
