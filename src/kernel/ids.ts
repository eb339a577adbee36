const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The one spelling of an id: a UUID in lower case (as PostgreSQL and uuid generate them), so
 * that cache keys, invalidations and comparisons agree with the database whatever case a client
 * sent. Anything else is left as it is (it names nothing: "not found").
 */
export function normalizeId(value: string): string {
  return UUID.test(value) ? value.toLowerCase() : value;
}

/** Ids arrive as free text; one that is not a UUID cannot name anything, so it is "not found". */
export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}
