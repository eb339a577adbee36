import { type SQL, sql } from 'drizzle-orm';
import {
  type AnyPgColumn,
  bigint,
  boolean,
  customType,
  foreignKey,
  index,
  integer,
  jsonb,
  pgEnum,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { v7 as uuidv7 } from 'uuid';

/**
 * The tables. Every tenant-owned table carries tenant_id as the first column of its primary key
 * and of every unique key, and its foreign keys to other tenant-owned tables include tenant_id:
 * the tables can be distributed by tenant_id (Citus) or hash-partitioned by it unchanged, and a
 * statement that names the tenant reaches one shard. `tenants` and `signing_keys` are the
 * reference tables (copied to every node). See "Scaling out" in docs/architecture.md.
 */

/**
 * What a user search matches: email and display name in one lower-cased text, so a search is one
 * trigram index scan rather than one per column. They are joined by a newline, which a search
 * term may not contain, so no match can span the two.
 */
export function userSearchText(email: AnyPgColumn, displayName: AnyPgColumn): SQL {
  return sql`lower(${email}) || E'\\n' || coalesce(lower(${displayName}), '')`;
}

export const roleEnum = pgEnum('role', ['ADMIN', 'MODERATOR', 'USER', 'GUEST']);
export const userStatusEnum = pgEnum('user_status', ['ACTIVE', 'SUSPENDED']);
export const tenantStatusEnum = pgEnum('tenant_status', ['ACTIVE', 'SUSPENDED']);
export const sessionEndReasonEnum = pgEnum('session_end_reason', [
  'LOGOUT',
  'REVOKED',
  'PASSWORD_CHANGED',
  'REFRESH_TOKEN_REUSE',
  'USER_SUSPENDED',
  'USER_DELETED',
  'TENANT_SUSPENDED',
  'TENANT_DELETED',
  'EXPIRED',
  'MFA_RESET',
  'PASSWORD_RESET',
]);
export const emailTokenPurposeEnum = pgEnum('email_token_purpose', ['PASSWORD_RESET', 'EMAIL_VERIFICATION']);
export const emailStatusEnum = pgEnum('email_status', ['PENDING', 'SENDING', 'SENT', 'FAILED']);

export type Role = (typeof roleEnum.enumValues)[number];
export type UserStatus = (typeof userStatusEnum.enumValues)[number];
export type TenantStatus = (typeof tenantStatusEnum.enumValues)[number];
export type SessionEndReason = (typeof sessionEndReasonEnum.enumValues)[number];
export type EmailTokenPurpose = (typeof emailTokenPurposeEnum.enumValues)[number];
export type EmailStatus = (typeof emailStatusEnum.enumValues)[number];

const bytea = customType<{ data: Buffer; driverData: Buffer | Uint8Array }>({
  dataType: () => 'bytea',
  fromDriver: (value) => (Buffer.isBuffer(value) ? value : Buffer.from(value)),
});

const timestamps = {
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
};

const id = () =>
  uuid('id')
    .primaryKey()
    .$defaultFn(() => uuidv7());

/** The id of a tenant-owned row: unique with tenant_id (the primary key is `(tenant_id, id)`). */
const ownedId = () =>
  uuid('id')
    .notNull()
    .$defaultFn(() => uuidv7());

/** Stored as jsonb; read through `tenantSettingsWithDefaults` so new settings get their defaults. */
export interface TenantSettingsValue {
  allowSelfRegistration: boolean;
  defaultRole: Role;
  passwordMinLength: number;
  maxFailedLogins: number;
  lockoutMinutes: number;
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
  /** Roles whose users must enrol a second factor before their sessions may do anything else. */
  mfaRequiredForRoles: Role[];
  /** Sign-in is refused with EMAIL_NOT_VERIFIED (after a correct password) until the email is verified. */
  requireEmailVerification: boolean;
  /** Base URL of the tenant's app, under which email links point; null: the service's PUBLIC_URL. */
  appUrl: string | null;
}

export const tenants = pgTable(
  'tenants',
  {
    id: id(),
    slug: text('slug').notNull(),
    name: text('name').notNull(),
    status: tenantStatusEnum('status').notNull().default('ACTIVE'),
    settings: jsonb('settings').$type<Partial<TenantSettingsValue>>().notNull().default({}),
    ...timestamps,
  },
  (t) => [
    uniqueIndex('tenants_slug_key').on(t.slug),
    index('tenants_created_at_id_idx').on(t.createdAt, t.id),
    index('tenants_search_trgm_idx').using('gin', sql`(${t.slug} || ' ' || lower(${t.name})) gin_trgm_ops`),
  ],
);

export const users = pgTable(
  'users',
  {
    id: ownedId(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    email: text('email').notNull(),
    displayName: text('display_name'),
    passwordHash: text('password_hash').notNull(),
    role: roleEnum('role').notNull().default('USER'),
    status: userStatusEnum('status').notNull().default('ACTIVE'),
    failedLoginCount: integer('failed_login_count').notNull().default(0),
    lockedUntil: timestamp('locked_until', { withTimezone: true, mode: 'date' }),
    lastLoginAt: timestamp('last_login_at', { withTimezone: true, mode: 'date' }),
    /** Set by a verification link, a password reset or an accepted invitation; cleared when the email changes. */
    emailVerifiedAt: timestamp('email_verified_at', { withTimezone: true, mode: 'date' }),
    /**
     * The user has a confirmed TOTP or a passkey. Kept in step with those tables by every write
     * to them (same transaction), so that sign-in and the per-request policy check read one row.
     */
    mfaEnabled: boolean('mfa_enabled').notNull().default(false),
    ...timestamps,
  },
  (t) => [
    primaryKey({ name: 'users_pkey', columns: [t.tenantId, t.id] }),
    // A system ADMIN names a user by id alone (user(id:), userEvents): one lookup that fans out.
    index('users_id_idx').on(t.id),
    uniqueIndex('users_tenant_email_key').on(t.tenantId, sql`lower(${t.email})`),
    index('users_tenant_created_at_id_idx').on(t.tenantId, t.createdAt, t.id),
    index('users_tenant_display_name_id_idx').on(
      t.tenantId,
      sql`coalesce(lower(${t.displayName}), '')`,
      t.id,
    ),
    index('users_tenant_last_login_at_id_idx').on(
      t.tenantId,
      sql`coalesce(${t.lastLoginAt}, '-infinity'::timestamptz)`,
      t.id,
    ),
    index('users_tenant_role_status_idx').on(t.tenantId, t.role, t.status),
    index('users_search_idx')
      .using('gin', t.tenantId, sql`(${userSearchText(t.email, t.displayName)}) gin_trgm_ops`)
      .with({ gin_pending_list_limit: 128 }),
  ],
);

export const sessions = pgTable(
  'sessions',
  {
    id: ownedId(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    userId: uuid('user_id').notNull(),
    /** SHA-256 of the current refresh token; the token itself is never stored. */
    refreshTokenHash: bytea('refresh_token_hash').notNull(),
    /**
     * The current refresh token is one issued before refresh tokens carried their tenant (true
     * only for sessions older than that change, until their next rotation): such a token is
     * found through sessions_legacy_refresh_token_idx, without the tenant.
     */
    legacyRefreshToken: boolean('legacy_refresh_token').notNull().default(false),
    rotationCounter: integer('rotation_counter').notNull().default(0),
    ipAddress: text('ip_address'),
    userAgent: text('user_agent'),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    lastUsedAt: timestamp('last_used_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    /** Absolute end of the session: refreshing never moves it. */
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }).notNull(),
    endedAt: timestamp('ended_at', { withTimezone: true, mode: 'date' }),
    endReason: sessionEndReasonEnum('end_reason'),
    /**
     * How the session was authenticated (RFC 8176 values: pwd, otp, hwk, swk, mfa), carried in
     * every access token of the session as `amr`; a refresh keeps it.
     */
    amr: text('amr').array().notNull().default(sql`'{pwd}'::text[]`),
  },
  (t) => [
    primaryKey({ name: 'sessions_pkey', columns: [t.tenantId, t.id] }),
    foreignKey({
      name: 'sessions_user_fk',
      columns: [t.tenantId, t.userId],
      foreignColumns: [users.tenantId, users.id],
    }).onDelete('cascade'),
    uniqueIndex('sessions_refresh_token_hash_key').on(t.tenantId, t.refreshTokenHash),
    // A system ADMIN revokes a session by id alone: one lookup that fans out.
    index('sessions_id_idx').on(t.id),
    // Old-format tokens (no tenant inside) still in flight; rotations never add to this index.
    index('sessions_legacy_refresh_token_idx').on(t.refreshTokenHash).where(sql`${t.legacyRefreshToken}`),
    index('sessions_tenant_user_active_idx')
      .on(t.tenantId, t.userId, t.createdAt)
      .where(sql`${t.endedAt} is null`),
    index('sessions_tenant_active_idx').on(t.tenantId, t.expiresAt).where(sql`${t.endedAt} is null`),
    index('sessions_cleanup_idx').on(sql`coalesce(${t.endedAt}, ${t.expiresAt})`),
  ],
);

/**
 * Refresh tokens already exchanged. Presenting one again after the reuse grace is a sign the token
 * was stolen, so the session it belongs to is ended. Rows go away with their session.
 */
export const spentRefreshTokens = pgTable(
  'spent_refresh_tokens',
  {
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    tokenHash: bytea('token_hash').notNull(),
    sessionId: uuid('session_id').notNull(),
    spentAt: timestamp('spent_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    /**
     * The token that replaced this one, encrypted with a key derived from this (spent) token: only
     * whoever presents the spent token can read it, so a second tab refreshing with it within the
     * grace is handed the session's current token. Never readable from the database alone.
     */
    successor: bytea('successor'),
  },
  (t) => [
    primaryKey({ name: 'spent_refresh_tokens_pkey', columns: [t.tenantId, t.tokenHash] }),
    foreignKey({
      name: 'spent_refresh_tokens_session_fk',
      columns: [t.tenantId, t.sessionId],
      foreignColumns: [sessions.tenantId, sessions.id],
    }).onDelete('cascade'),
    index('spent_refresh_tokens_session_idx').on(t.tenantId, t.sessionId),
  ],
);

export const auditEvents = pgTable(
  'audit_events',
  {
    id: ownedId(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    /** No foreign key: the trail outlives the users it names. */
    actorId: uuid('actor_id'),
    action: text('action').notNull(),
    targetType: text('target_type'),
    targetId: uuid('target_id'),
    ipAddress: text('ip_address'),
    userAgent: text('user_agent'),
    metadata: jsonb('metadata').$type<Record<string, unknown>>(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ name: 'audit_events_pkey', columns: [t.tenantId, t.id] }),
    index('audit_events_tenant_created_at_idx').on(t.tenantId, t.createdAt.desc(), t.id.desc()),
    index('audit_events_tenant_action_idx').on(t.tenantId, t.action, t.createdAt.desc()),
    index('audit_events_created_at_idx').on(t.createdAt),
  ],
);

export const signingKeys = pgTable('signing_keys', {
  kid: text('kid').primaryKey(),
  algorithm: text('algorithm').notNull(),
  /** Public JWK, published at /.well-known/jwks.json. */
  publicKey: jsonb('public_key').$type<Record<string, unknown>>().notNull(),
  /** Private JWK as JSON, or an `enc:v1:` envelope when KEY_ENCRYPTION_KEY is set. */
  privateKey: text('private_key').notNull(),
  encrypted: boolean('encrypted').notNull().default(false),
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  retiredAt: timestamp('retired_at', { withTimezone: true, mode: 'date' }),
});

export const serviceAccountStatusEnum = pgEnum('service_account_status', ['ACTIVE', 'DISABLED']);
export type ServiceAccountStatus = (typeof serviceAccountStatusEnum.enumValues)[number];

/**
 * Machine callers of one tenant. A deleted account is gone (its secrets and keys with it); the
 * audit trail keeps its history. Key (tenant_id, id), as every tenant-owned table to come.
 */
export const serviceAccounts = pgTable(
  'service_accounts',
  {
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    id: uuid('id')
      .notNull()
      .$defaultFn(() => uuidv7()),
    name: text('name').notNull(),
    description: text('description'),
    scopes: text('scopes').array().notNull().default(sql`'{}'::text[]`),
    status: serviceAccountStatusEnum('status').notNull().default('ACTIVE'),
    ...timestamps,
    lastUsedAt: timestamp('last_used_at', { withTimezone: true, mode: 'date' }),
  },
  (t) => [
    primaryKey({ name: 'service_accounts_pkey', columns: [t.tenantId, t.id] }),
    index('service_accounts_tenant_created_at_idx').on(t.tenantId, t.createdAt, t.id),
    // System ADMINs name an account by its id alone (then act within its tenant).
    index('service_accounts_id_idx').on(t.id),
  ],
);

/**
 * Client secrets of a service account: HMAC-SHA-256 (server pepper) of the secret, never the
 * secret. A rotated-out secret keeps working until expires_at (the grace period), then is deleted.
 */
export const serviceAccountSecrets = pgTable(
  'service_account_secrets',
  {
    tenantId: uuid('tenant_id').notNull(),
    id: uuid('id')
      .notNull()
      .$defaultFn(() => uuidv7()),
    serviceAccountId: uuid('service_account_id').notNull(),
    secretHash: bytea('secret_hash').notNull(),
    hint: text('hint').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }),
    lastUsedAt: timestamp('last_used_at', { withTimezone: true, mode: 'date' }),
  },
  (t) => [
    primaryKey({ name: 'service_account_secrets_pkey', columns: [t.tenantId, t.id] }),
    foreignKey({
      name: 'service_account_secrets_account_fk',
      columns: [t.tenantId, t.serviceAccountId],
      foreignColumns: [serviceAccounts.tenantId, serviceAccounts.id],
    }).onDelete('cascade'),
    index('service_account_secrets_account_idx').on(t.tenantId, t.serviceAccountId),
  ],
);

/**
 * API keys (`idk_…`, carrying their tenant id so a lookup stays in one tenant): the hash is the
 * lookup key; `prefix` (the first 8 characters) is what lists show.
 */
export const apiKeys = pgTable(
  'api_keys',
  {
    tenantId: uuid('tenant_id').notNull(),
    id: uuid('id')
      .notNull()
      .$defaultFn(() => uuidv7()),
    serviceAccountId: uuid('service_account_id').notNull(),
    name: text('name').notNull(),
    prefix: text('prefix').notNull(),
    keyHash: bytea('key_hash').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }),
    lastUsedAt: timestamp('last_used_at', { withTimezone: true, mode: 'date' }),
    revokedAt: timestamp('revoked_at', { withTimezone: true, mode: 'date' }),
  },
  (t) => [
    primaryKey({ name: 'api_keys_pkey', columns: [t.tenantId, t.id] }),
    foreignKey({
      name: 'api_keys_account_fk',
      columns: [t.tenantId, t.serviceAccountId],
      foreignColumns: [serviceAccounts.tenantId, serviceAccounts.id],
    }).onDelete('cascade'),
    uniqueIndex('api_keys_tenant_key_hash_key').on(t.tenantId, t.keyHash),
    index('api_keys_account_idx').on(t.tenantId, t.serviceAccountId, t.createdAt),
    index('api_keys_id_idx').on(t.id),
  ],
);

/** Access tokens a service revoked before their expiry (RFC 7009); rows go once the token would have expired. */
export const revokedServiceTokens = pgTable(
  'revoked_service_tokens',
  {
    tenantId: uuid('tenant_id').notNull(),
    jti: uuid('jti').notNull(),
    serviceAccountId: uuid('service_account_id').notNull(),
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }).notNull(),
  },
  (t) => [
    primaryKey({ name: 'revoked_service_tokens_pkey', columns: [t.tenantId, t.jti] }),
    foreignKey({
      name: 'revoked_service_tokens_account_fk',
      columns: [t.tenantId, t.serviceAccountId],
      foreignColumns: [serviceAccounts.tenantId, serviceAccounts.id],
    }).onDelete('cascade'),
    index('revoked_service_tokens_account_idx').on(t.tenantId, t.serviceAccountId, t.expiresAt),
  ],
);

export type ServiceAccountRow = typeof serviceAccounts.$inferSelect;
export type ServiceAccountSecretRow = typeof serviceAccountSecrets.$inferSelect;
export type ApiKeyRow = typeof apiKeys.$inferSelect;
export type MfaTotpRow = typeof mfaTotp.$inferSelect;
export type PasskeyRow = typeof passkeys.$inferSelect;
export type MfaLoginChallengeRow = typeof mfaLoginChallenges.$inferSelect;

/** A user's TOTP authenticator: one per user; unconfirmed until the first code is entered. */
export const mfaTotp = pgTable(
  'mfa_totp',
  {
    tenantId: uuid('tenant_id').notNull(),
    userId: uuid('user_id').notNull(),
    /** The base32 secret in an `enc:v1:` envelope (KEY_ENCRYPTION_KEY), or `plain:` without one. */
    secret: text('secret').notNull(),
    confirmedAt: timestamp('confirmed_at', { withTimezone: true, mode: 'date' }),
    /** The last 30-second time step a code was accepted for: a code works once (no replay). */
    lastUsedStep: bigint('last_used_step', { mode: 'number' }),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ name: 'mfa_totp_pkey', columns: [t.tenantId, t.userId] }),
    foreignKey({
      name: 'mfa_totp_user_fkey',
      columns: [t.tenantId, t.userId],
      foreignColumns: [users.tenantId, users.id],
    }).onDelete('cascade'),
  ],
);

/** Single-use recovery codes, stored only as hashes. */
export const mfaRecoveryCodes = pgTable(
  'mfa_recovery_codes',
  {
    tenantId: uuid('tenant_id').notNull(),
    userId: uuid('user_id').notNull(),
    codeHash: bytea('code_hash').notNull(),
    usedAt: timestamp('used_at', { withTimezone: true, mode: 'date' }),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ name: 'mfa_recovery_codes_pkey', columns: [t.tenantId, t.userId, t.codeHash] }),
    foreignKey({
      name: 'mfa_recovery_codes_user_fkey',
      columns: [t.tenantId, t.userId],
      foreignColumns: [users.tenantId, users.id],
    }).onDelete('cascade'),
  ],
);

/** WebAuthn credentials (passkeys), bound to the tenant they were registered in. */
export const passkeys = pgTable(
  'passkeys',
  {
    tenantId: uuid('tenant_id').notNull(),
    id: uuid('id')
      .notNull()
      .$defaultFn(() => uuidv7()),
    userId: uuid('user_id').notNull(),
    /** The authenticator's credential id, base64url. */
    credentialId: text('credential_id').notNull(),
    publicKey: bytea('public_key').notNull(),
    /** The signature counter last seen; 0 for authenticators that do not count. */
    signCount: bigint('sign_count', { mode: 'number' }).notNull().default(0),
    transports: text('transports').array().notNull().default(sql`'{}'::text[]`),
    /** singleDevice (a hardware-bound key) or multiDevice (synced). */
    deviceType: text('device_type').notNull(),
    backedUp: boolean('backed_up').notNull().default(false),
    name: text('name').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    lastUsedAt: timestamp('last_used_at', { withTimezone: true, mode: 'date' }),
  },
  (t) => [
    primaryKey({ name: 'passkeys_pkey', columns: [t.tenantId, t.id] }),
    uniqueIndex('passkeys_tenant_credential_key').on(t.tenantId, t.credentialId),
    index('passkeys_tenant_user_idx').on(t.tenantId, t.userId),
    foreignKey({
      name: 'passkeys_user_fkey',
      columns: [t.tenantId, t.userId],
      foreignColumns: [users.tenantId, users.id],
    }).onDelete('cascade'),
  ],
);

/**
 * The pending second step of a password sign-in: the mfaToken handed out with MFA_REQUIRED,
 * stored as its hash, bound to the user, single use, short-lived, and ended after a few wrong
 * second factors.
 */
export const mfaLoginChallenges = pgTable(
  'mfa_login_challenges',
  {
    tenantId: uuid('tenant_id').notNull(),
    id: uuid('id')
      .notNull()
      .$defaultFn(() => uuidv7()),
    userId: uuid('user_id').notNull(),
    tokenHash: bytea('token_hash').notNull(),
    /**
     * SHA-256 of what the password step verified (the password hash, role and status): the
     * second step refuses the challenge when the user is no longer so. Null: never completes.
     */
    verifiedState: bytea('verified_state'),
    failedAttempts: integer('failed_attempts').notNull().default(0),
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }).notNull(),
    /** Set when the challenge was used up: completed, or ended by too many wrong factors. */
    endedAt: timestamp('ended_at', { withTimezone: true, mode: 'date' }),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ name: 'mfa_login_challenges_pkey', columns: [t.tenantId, t.id] }),
    uniqueIndex('mfa_login_challenges_token_key').on(t.tenantId, t.tokenHash),
    index('mfa_login_challenges_expires_idx').on(t.expiresAt),
    foreignKey({
      name: 'mfa_login_challenges_user_fkey',
      columns: [t.tenantId, t.userId],
      foreignColumns: [users.tenantId, users.id],
    }).onDelete('cascade'),
  ],
);

/**
 * Single-use tokens sent by email (password reset, email verification). Only the SHA-256 of the
 * token's secret is stored; the token itself names the tenant, so a lookup is one tenant's rows.
 * `email` is the address the link was sent to: a token stops working when the user's email
 * changes.
 */
export const emailTokens = pgTable(
  'email_tokens',
  {
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    id: uuid('id')
      .notNull()
      .$defaultFn(() => uuidv7()),
    userId: uuid('user_id').notNull(),
    purpose: emailTokenPurposeEnum('purpose').notNull(),
    email: text('email').notNull(),
    tokenHash: bytea('token_hash').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull(),
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }).notNull(),
    usedAt: timestamp('used_at', { withTimezone: true, mode: 'date' }),
  },
  (t) => [
    primaryKey({ name: 'email_tokens_pkey', columns: [t.tenantId, t.id] }),
    foreignKey({
      name: 'email_tokens_user_fk',
      columns: [t.tenantId, t.userId],
      foreignColumns: [users.tenantId, users.id],
    }).onDelete('cascade'),
    uniqueIndex('email_tokens_tenant_token_hash_key').on(t.tenantId, t.tokenHash),
    index('email_tokens_tenant_user_idx').on(t.tenantId, t.userId, t.purpose),
    index('email_tokens_expires_at_idx').on(t.expiresAt),
  ],
);

/**
 * Invitations to create an account. The token's SHA-256 is stored, never the token. The status
 * is derived: accepted, revoked, expired (expires_at passed) or pending. `invited_by` has no
 * foreign key: like the audit trail, an invitation outlives the user who sent it.
 */
export const invitations = pgTable(
  'invitations',
  {
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    id: uuid('id')
      .notNull()
      .$defaultFn(() => uuidv7()),
    email: text('email').notNull(),
    role: roleEnum('role').notNull(),
    displayName: text('display_name'),
    invitedBy: uuid('invited_by'),
    tokenHash: bytea('token_hash').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull(),
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }).notNull(),
    acceptedAt: timestamp('accepted_at', { withTimezone: true, mode: 'date' }),
    acceptedUserId: uuid('accepted_user_id'),
    revokedAt: timestamp('revoked_at', { withTimezone: true, mode: 'date' }),
  },
  (t) => [
    primaryKey({ name: 'invitations_pkey', columns: [t.tenantId, t.id] }),
    uniqueIndex('invitations_tenant_token_hash_key').on(t.tenantId, t.tokenHash),
    index('invitations_tenant_created_at_id_idx').on(t.tenantId, t.createdAt, t.id),
    index('invitations_tenant_email_idx').on(t.tenantId, sql`lower(${t.email})`),
    // A system ADMIN revokes an invitation by id alone: one lookup that fans out.
    index('invitations_id_idx').on(t.id),
  ],
);

/** What an outbox row carries until it is delivered (then it is erased: the link holds a token). */
export interface EmailContent {
  text: string;
  html: string;
  /** The one link of the message, for the log transport. */
  link: string;
}

/**
 * The transactional outbox: an email is written in the same transaction as the change that
 * causes it, and delivered afterwards by a worker on any instance (modules/email).
 */
export const emailOutbox = pgTable(
  'email_outbox',
  {
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    id: uuid('id')
      .notNull()
      .$defaultFn(() => uuidv7()),
    kind: text('kind').notNull(),
    recipient: text('recipient').notNull(),
    subject: text('subject').notNull(),
    content: jsonb('content').$type<EmailContent>(),
    status: emailStatusEnum('status').notNull().default('PENDING'),
    attempts: integer('attempts').notNull().default(0),
    lastError: text('last_error'),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull(),
    nextAttemptAt: timestamp('next_attempt_at', { withTimezone: true, mode: 'date' }).notNull(),
    /** While SENDING: when the claim lapses (the instance sending it is presumed gone). */
    claimedUntil: timestamp('claimed_until', { withTimezone: true, mode: 'date' }),
    sentAt: timestamp('sent_at', { withTimezone: true, mode: 'date' }),
    failedAt: timestamp('failed_at', { withTimezone: true, mode: 'date' }),
  },
  (t) => [
    primaryKey({ name: 'email_outbox_pkey', columns: [t.tenantId, t.id] }),
    index('email_outbox_due_idx').on(t.nextAttemptAt).where(sql`${t.status} = 'PENDING'`),
    index('email_outbox_claimed_idx').on(t.claimedUntil).where(sql`${t.status} = 'SENDING'`),
    index('email_outbox_finished_idx')
      .on(sql`coalesce(${t.sentAt}, ${t.failedAt})`)
      .where(sql`${t.status} in ('SENT', 'FAILED')`),
  ],
);

export type TenantRow = typeof tenants.$inferSelect;
export type UserRow = typeof users.$inferSelect;
export type SessionRow = typeof sessions.$inferSelect;
export type AuditEventRow = typeof auditEvents.$inferSelect;
export type SigningKeyRow = typeof signingKeys.$inferSelect;
export type EmailTokenRow = typeof emailTokens.$inferSelect;
export type InvitationRow = typeof invitations.$inferSelect;
export type EmailOutboxRow = typeof emailOutbox.$inferSelect;
