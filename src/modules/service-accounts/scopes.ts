/**
 * The scopes a service account may hold, each granting exactly the operations the contract lists
 * for it (the field rules that name them are in service-accounts.scope-rules.ts).
 */
export const SCOPES = [
  'users:read',
  'users:write',
  'sessions:read',
  'sessions:revoke',
  'tenant:read',
  'audit:read',
  'tokens:introspect',
  'invitations:write',
] as const;

export type Scope = (typeof SCOPES)[number];

const KNOWN = new Set<string>(SCOPES);

export function isScope(value: unknown): value is Scope {
  return typeof value === 'string' && KNOWN.has(value);
}

/** A space-separated OAuth scope parameter as a list, or undefined when malformed. */
export function parseScopeParameter(value: string): string[] | undefined {
  // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), separated by single spaces.
  if (!/^[\x21\x23-\x5b\x5d-\x7e]+( [\x21\x23-\x5b\x5d-\x7e]+)*$/.test(value)) return undefined;
  return [...new Set(value.split(' '))];
}
