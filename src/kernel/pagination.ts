import { type AnyColumn, type Placeholder, type SQL, sql } from 'drizzle-orm';
import { type ClassType, Field, Int, ObjectType } from 'type-graphql';
import type { OrderDirection } from './enums.js';
import { BadUserInputError } from './errors.js';
import { isUuid } from './ids.js';
import { isAuthenticated, type ShieldRule } from './rules.js';

/**
 * Keyset ("cursor") pagination shared by every connection. A page is the rows strictly after the
 * cursor's (sort value, id) in the chosen order, so inserts and deletes elsewhere never shift or
 * repeat rows, and no query ever uses OFFSET.
 */

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

@ObjectType('PageInfo')
export class PageInfo {
  @Field(() => Boolean)
  hasNextPage!: boolean;

  @Field(() => Boolean)
  hasPreviousPage!: boolean;

  @Field(() => String, { nullable: true })
  startCursor!: string | null;

  @Field(() => String, { nullable: true })
  endCursor!: string | null;
}

/**
 * The GraphQL types of a list of `Node`s: `<name>Edge` and `<name>Connection`, the shape of
 * `Connection<T>` below, with their permission rules. A page or an edge shows only what the field
 * that returned it already decided the caller may list, so any signed-in caller may read them;
 * the node's own type keeps its own rules. `rule` narrows that where the list itself is for fewer
 * callers (service accounts: ADMINs). `Row` is what resolvers put in a page, when it is not the
 * node class itself.
 */
export function connectionTypes<Node extends ClassType, Row = InstanceType<Node>>(
  node: Node,
  name: string,
  rule: ShieldRule = isAuthenticated,
) {
  @ObjectType(`${name}Edge`)
  class Edge {
    @Field(() => String)
    cursor!: string;

    @Field(() => node)
    node!: Row;
  }

  @ObjectType(`${name}Connection`)
  class NodeConnection {
    @Field(() => [Edge])
    edges!: Edge[];

    @Field(() => [node])
    nodes!: Row[];

    @Field(() => PageInfo)
    pageInfo!: PageInfo;

    @Field(() => Int)
    totalCount!: Promise<number>;
  }

  const rules = {
    [`${name}Connection`]: {
      edges: rule,
      nodes: rule,
      pageInfo: rule,
      totalCount: rule,
    },
    [`${name}Edge`]: {
      cursor: rule,
      node: rule,
    },
  };
  return { Edge, Connection: NodeConnection, rules };
}

export function validateFirst(first: number | null | undefined): number {
  const value = first ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(value) || value < 0 || value > MAX_PAGE_SIZE) {
    throw BadUserInputError.field('first', `first must be a whole number from 0 to ${MAX_PAGE_SIZE}.`);
  }
  return value;
}

/** One way of ordering a table: the SQL expression, and how its value travels in a cursor. */
export interface SortKey {
  /** The expression rows are ordered by; it must match an index for large tables. */
  expr: SQL;
  /** The same value as text, exactly as the cursor carries it. */
  asText: SQL;
  /** Turns a cursor's text back into a value comparable with `expr`. */
  fromText: (value: string | Placeholder) => SQL;
  /** Rejects text that `fromText` could not safely turn back into a value. */
  accepts: (value: string) => boolean;
}

const UTC_MICROS = 'YYYY-MM-DD"T"HH24:MI:SS.US';
const TIMESTAMP_TEXT = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})\.(\d{3})\d{3}$/;

/** A timestamptz sort key; cursors carry microseconds in UTC, the column's full precision. */
export function timestampKey(expr: SQL, options: { nullsAsMinusInfinity?: boolean } = {}): SortKey {
  const text = sql`to_char(${expr} at time zone 'UTC', ${UTC_MICROS})`;
  return {
    expr,
    // to_char of -infinity is null; the cursor spells it out.
    asText: options.nullsAsMinusInfinity ? sql`coalesce(${text}, '-infinity')` : text,
    fromText: (value) => sql`(${value}::timestamp at time zone 'UTC')`,
    accepts: (value) => {
      if (options.nullsAsMinusInfinity && value === '-infinity') return true;
      const match = TIMESTAMP_TEXT.exec(value);
      if (!match) return false;
      // A round trip through Date rejects impossible dates such as February 30th.
      const iso = `${match[1]}T${match[2]}.${match[3]}Z`;
      const parsed = new Date(iso);
      return !Number.isNaN(parsed.getTime()) && parsed.toISOString() === iso && !iso.startsWith('0000');
    },
  };
}

export function textKey(expr: SQL): SortKey {
  return {
    expr,
    asText: expr,
    fromText: (value) => sql`${value}::text`,
    // PostgreSQL text cannot hold NUL; anything else compares fine.
    accepts: (value) => !value.includes('\u0000') && value.length <= 1_000,
  };
}

interface CursorPayload {
  /** The ordering the cursor belongs to, e.g. "users:EMAIL:DESC". */
  o: string;
  v: string;
  id: string;
}

export function encodeCursor(ordering: string, value: string, id: string): string {
  const payload: CursorPayload = { o: ordering, v: value, id };
  return Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');
}

const invalidCursor = () =>
  BadUserInputError.field('after', 'The cursor is not valid for this list and ordering.');

/** Reads a cursor made by `encodeCursor` for the same ordering; anything else is BAD_USER_INPUT. */
export function decodeCursor(cursor: string, ordering: string, key: SortKey): { value: string; id: string } {
  if (cursor.length > 2_000 || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalidCursor();
  let payload: Partial<CursorPayload>;
  try {
    payload = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalidCursor();
  }
  if (
    typeof payload !== 'object' ||
    payload === null ||
    payload.o !== ordering ||
    typeof payload.v !== 'string' ||
    !isUuid(payload.id) ||
    !key.accepts(payload.v)
  ) {
    throw invalidCursor();
  }
  return { value: payload.v, id: payload.id };
}

/** `(expr, id) > (value, id)` for ascending order, `<` for descending: the rows after the cursor. */
export function afterCursor(
  key: SortKey,
  idColumn: AnyColumn,
  direction: OrderDirection,
  cursor: { value: string | Placeholder; id: string | Placeholder },
): SQL {
  const after = sql`(${key.fromText(cursor.value)}, ${cursor.id}::uuid)`;
  return direction === 'ASC'
    ? sql`(${key.expr}, ${idColumn}) > ${after}`
    : sql`(${key.expr}, ${idColumn}) < ${after}`;
}

export function orderByKey(key: SortKey, idColumn: AnyColumn, direction: OrderDirection): SQL[] {
  return direction === 'ASC'
    ? [sql`${key.expr} asc`, sql`${idColumn} asc`]
    : [sql`${key.expr} desc`, sql`${idColumn} desc`];
}

/**
 * Escapes LIKE's wildcards (backslash is LIKE's default escape) so that a search for "50%" means
 * those three characters; callers wrap it as `'%' || lower($s) || '%'`.
 */
export function escapeLike(search: string): string {
  return search.replace(/[\\%_]/g, (c) => `\\${c}`);
}

export interface Connection<T> {
  edges: { readonly cursor: string; node: T }[];
  nodes: T[];
  pageInfo: PageInfo;
  readonly totalCount: Promise<number>;
}

/** An edge whose cursor is encoded only if a client asks for it (most pages ask for endCursor alone). */
class Edge<T extends { id: string; sortValue: string }> {
  #cursor: string | undefined;

  constructor(
    readonly node: T,
    private readonly ordering: string,
  ) {}

  get cursor(): string {
    this.#cursor ??= encodeCursor(this.ordering, this.node.sortValue, this.node.id);
    return this.#cursor;
  }
}

/**
 * Builds a connection from up to `first + 1` rows (the extra one only says whether there is a
 * next page). `totalCount` is a getter so that its count query runs only when a client asks. The
 * nodes keep their `sortValue` column: no field exposes it, and copying every row to drop it cost
 * more than the rest of this function.
 */
export function toConnection<T extends { id: string }>(
  rows: (T & { sortValue: string })[],
  options: { first: number; hasCursor: boolean; ordering: string; count: () => Promise<number> },
): Connection<T> {
  const page = rows.length > options.first ? rows.slice(0, options.first) : rows;
  const edges = page.map((row) => new Edge(row, options.ordering));
  let total: Promise<number> | undefined;
  return {
    edges,
    nodes: page,
    pageInfo: {
      hasNextPage: rows.length > options.first,
      hasPreviousPage: options.hasCursor,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null,
    },
    get totalCount() {
      total ??= options.count();
      return total;
    },
  };
}
