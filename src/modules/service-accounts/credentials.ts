import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { isUuid } from '../../kernel/ids.js';

/**
 * The shapes of machine credentials, and their hashes. Every credential carries the id of its
 * tenant, so the row it names is looked up inside one tenant (one shard, later):
 *
 * - client_id: `sa_` + base64url(tenant uuid ‖ account uuid), no secret in it;
 * - client secret: `sas_` + 32 random bytes (256 bits), base64url;
 * - API key: `idk_` + 32 random bytes, base64url (43 characters), then base64url(tenant uuid).
 *
 * Secrets and keys are random, not chosen by people, so one HMAC-SHA-256 with a server-side
 * pepper is as strong a hash as they need (a slow password hash would only cap throughput).
 */

const CLIENT_ID_PREFIX = 'sa_';
const SECRET_PREFIX = 'sas_';
export const API_KEY_PREFIX = 'idk_';
const RANDOM_BYTES = 32;
/** base64url length of RANDOM_BYTES. */
const RANDOM_CHARS = 43;
/** base64url length of a 16-byte uuid. */
const UUID_CHARS = 22;
/** What lists show of a key: `idk_` and the first 4 random characters. */
export const API_KEY_SHOWN_LENGTH = 8;

function uuidBytes(uuid: string): Buffer {
  return Buffer.from(uuid.replaceAll('-', ''), 'hex');
}

function uuidOf(bytes: Buffer): string {
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;

export function clientIdOf(tenantId: string, serviceAccountId: string): string {
  return (
    CLIENT_ID_PREFIX + Buffer.concat([uuidBytes(tenantId), uuidBytes(serviceAccountId)]).toString('base64url')
  );
}

/** The tenant and account a client_id names, or undefined when it cannot be one of ours. */
export function parseClientId(clientId: unknown): { tenantId: string; serviceAccountId: string } | undefined {
  if (typeof clientId !== 'string' || clientId.length !== CLIENT_ID_PREFIX.length + 43) return undefined;
  if (!clientId.startsWith(CLIENT_ID_PREFIX)) return undefined;
  const body = clientId.slice(CLIENT_ID_PREFIX.length);
  if (!BASE64URL.test(body)) return undefined;
  const bytes = Buffer.from(body, 'base64url');
  if (bytes.length !== 32) return undefined;
  const tenantId = uuidOf(bytes.subarray(0, 16));
  const serviceAccountId = uuidOf(bytes.subarray(16));
  // A canonical encoding only: one client_id per account.
  if (clientIdOf(tenantId, serviceAccountId) !== clientId) return undefined;
  return isUuid(tenantId) && isUuid(serviceAccountId) ? { tenantId, serviceAccountId } : undefined;
}

export function newClientSecret(): string {
  return SECRET_PREFIX + randomBytes(RANDOM_BYTES).toString('base64url');
}

/** The last 4 characters: enough to tell an account's secrets apart, nothing to guess with. */
export function secretHint(secret: string): string {
  return secret.slice(-4);
}

export function newApiKey(tenantId: string): string {
  return (
    API_KEY_PREFIX +
    randomBytes(RANDOM_BYTES).toString('base64url') +
    uuidBytes(tenantId).toString('base64url')
  );
}

export function looksLikeApiKey(token: string): boolean {
  return token.startsWith(API_KEY_PREFIX);
}

/** The tenant an API key belongs to, or undefined when it cannot be one of ours. */
export function apiKeyTenant(key: string): string | undefined {
  if (key.length !== API_KEY_PREFIX.length + RANDOM_CHARS + UUID_CHARS || !key.startsWith(API_KEY_PREFIX)) {
    return undefined;
  }
  const body = key.slice(API_KEY_PREFIX.length);
  if (!BASE64URL.test(body)) return undefined;
  const tenant = Buffer.from(body.slice(RANDOM_CHARS), 'base64url');
  if (tenant.length !== 16) return undefined;
  const tenantId = uuidOf(tenant);
  return isUuid(tenantId) ? tenantId : undefined;
}

/** Hashes client secrets and API keys with the server's pepper. */
export class CredentialHasher {
  readonly #key: Buffer;

  constructor(pepper: string | undefined) {
    // Without a pepper the key is a fixed label: as strong as plain SHA-256 for random secrets.
    this.#key = Buffer.from(pepper ?? 'identity-api service credentials', 'utf8');
  }

  hash(value: string): Buffer {
    return createHmac('sha256', this.#key).update(value, 'utf8').digest();
  }

  /** Constant-time comparison of a presented value with a stored hash. */
  matches(value: string, storedHash: Buffer): boolean {
    const presented = this.hash(value);
    return storedHash.length === presented.length && timingSafeEqual(presented, storedHash);
  }
}
