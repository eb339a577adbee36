import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { z } from 'zod';
import { redactCredentials } from './kernel/redact.js';

/**
 * Every setting the service reads, validated once at start-up. The result is a plain value
 * that is passed to whoever needs it; nothing else reads process.env.
 */

const emptyToUndefined = (value: unknown) =>
  typeof value === 'string' && value.trim() === '' ? undefined : value;

const optionalString = z.preprocess(emptyToUndefined, z.string().optional());

const int = (name: string, min: number, max: number, fallback: number) =>
  z.preprocess(
    emptyToUndefined,
    z
      .string()
      .default(String(fallback))
      .refine((v) => /^\d+$/.test(v) && Number(v) >= min && Number(v) <= max, {
        message: `${name} must be a whole number from ${min} to ${max}`,
      })
      .transform(Number),
  );

/** true/false (also 1/0, yes/no); unset stays undefined so the caller picks the default. */
const optionalBool = (name: string) =>
  z.preprocess(
    emptyToUndefined,
    z
      .string()
      .optional()
      .refine((v) => v === undefined || ['true', 'false', '1', '0', 'yes', 'no'].includes(v.toLowerCase()), {
        message: `${name} must be true or false`,
      })
      .transform((v) => (v === undefined ? undefined : ['true', '1', 'yes'].includes(v.toLowerCase()))),
  );

const postgresUrl = (name: string) =>
  z.preprocess(
    emptyToUndefined,
    z
      .string()
      .refine(
        (v) => {
          try {
            const url = new URL(v);
            return (url.protocol === 'postgres:' || url.protocol === 'postgresql:') && url.hostname !== '';
          } catch {
            return false;
          }
        },
        { message: `${name} must be a URL like postgres://user:password@host:5432/database` },
      )
      .optional(),
  );

const redisUrl = z.preprocess(
  emptyToUndefined,
  z
    .string()
    .refine(
      (v) => {
        try {
          return ['redis:', 'rediss:'].includes(new URL(v).protocol);
        } catch {
          return false;
        }
      },
      { message: 'REDIS_URL must be a URL like redis://host:6379/0 or rediss://…' },
    )
    .optional(),
);

/** A comma-separated list of host:port pairs (Redis Cluster seed nodes, Sentinels). */
const hostPorts = (name: string) =>
  z.preprocess(
    emptyToUndefined,
    z
      .string()
      .optional()
      .refine(
        (v) =>
          v === undefined ||
          v.split(',').every((part) => {
            const match = /^\[?([A-Za-z0-9.:-]+?)\]?:(\d{1,5})$/.exec(part.trim());
            return match !== null && Number(match[2]) > 0 && Number(match[2]) <= 65535;
          }),
        { message: `${name} must be a comma-separated list of host:port, e.g. 10.0.0.1:6379,10.0.0.2:6379` },
      )
      .transform((v) =>
        v === undefined
          ? []
          : v.split(',').map((part) => {
              const at = part.trim().lastIndexOf(':');
              return {
                host: part
                  .trim()
                  .slice(0, at)
                  .replace(/^\[|\]$/g, ''),
                port: Number(part.trim().slice(at + 1)),
              };
            }),
      ),
  );

/** Express "trust proxy" values: a hop count, named ranges, or IP addresses / CIDR blocks. */
const trustProxy = z.preprocess(
  emptyToUndefined,
  z
    .string()
    .optional()
    .refine(
      (v) => {
        if (v === undefined) return true;
        if (/^(true|false|\d+)$/.test(v)) return true;
        return v.split(',').every((part) => {
          const p = part.trim();
          if (['loopback', 'linklocal', 'uniquelocal'].includes(p)) return true;
          const [address, bits] = p.split('/');
          return isIP(address ?? '') !== 0 && (bits === undefined || /^\d{1,3}$/.test(bits));
        });
      },
      {
        message:
          'TRUST_PROXY must be true, false, a number of proxy hops, or a comma-separated list of proxy addresses/CIDRs (loopback, linklocal and uniquelocal are allowed names)',
      },
    )
    .transform((v): boolean | number | string => {
      if (v === undefined || v === 'false') return false;
      if (v === 'true') return true;
      if (/^\d+$/.test(v)) return Number(v);
      return v;
    }),
);

/** The origin (scheme, host, port) of an absolute http(s) URL that is nothing but an origin. */
function originOf(value: string): string | undefined {
  try {
    const url = new URL(value);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
    if (url.pathname !== '/' || url.search || url.hash || url.username || url.password) return undefined;
    return url.origin;
  } catch {
    return undefined;
  }
}

const smtpUrl = z.preprocess(
  emptyToUndefined,
  z
    .string()
    .optional()
    .refine(
      (v) => {
        if (v === undefined) return true;
        try {
          const url = new URL(v);
          return (url.protocol === 'smtp:' || url.protocol === 'smtps:') && url.hostname !== '';
        } catch {
          return false;
        }
      },
      { message: 'SMTP_URL must be a URL like smtp://user:password@host:587 or smtps://host:465' },
    ),
);

const keyMaterial = (name: string, minBytes: number) =>
  z.preprocess(
    emptyToUndefined,
    z
      .string()
      .refine((v) => Buffer.byteLength(v, 'utf8') >= minBytes, {
        message: `${name} must be at least ${minBytes} characters long (use a random value, e.g. \`openssl rand -base64 32\`)`,
      })
      .optional(),
  );

const variables = z.object({
  NODE_ENV: z.preprocess(
    emptyToUndefined,
    z
      .enum(['development', 'production', 'test'], {
        message: 'NODE_ENV must be development, production or test',
      })
      .default('development'),
  ),
  PORT: int('PORT', 0, 65535, 8006),
  HOST: z.preprocess(emptyToUndefined, z.string().default('0.0.0.0')),
  DATABASE_URL: postgresUrl('DATABASE_URL'),
  DATABASE_DIRECT_URL: postgresUrl('DATABASE_DIRECT_URL'),
  DATABASE_READ_URL: postgresUrl('DATABASE_READ_URL'),
  DATABASE_POOL_MAX: int('DATABASE_POOL_MAX', 1, 500, 10),
  DATABASE_PREPARED_STATEMENTS: optionalBool('DATABASE_PREPARED_STATEMENTS'),
  DATABASE_WAIT_SECONDS: int('DATABASE_WAIT_SECONDS', 0, 3_600, 60),
  DATA_DIR: z.preprocess(emptyToUndefined, z.string().default('./.data')),
  REDIS_URL: redisUrl,
  REDIS_KEY_PREFIX: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .regex(/^[A-Za-z0-9:_.-]{0,64}$/, {
        message: 'REDIS_KEY_PREFIX may hold up to 64 letters, digits and : _ . -',
      })
      .default('identity:'),
  ),
  REDIS_CLUSTER_NODES: hostPorts('REDIS_CLUSTER_NODES'),
  REDIS_SENTINELS: hostPorts('REDIS_SENTINELS'),
  REDIS_SENTINEL_NAME: optionalString,
  REDIS_PASSWORD: optionalString,
  REDIS_SENTINEL_PASSWORD: optionalString,
  REDIS_TLS: optionalBool('REDIS_TLS'),
  SESSION_RETENTION_DAYS: int('SESSION_RETENTION_DAYS', 1, 3_650, 7),
  MAX_SESSIONS_PER_USER: int('MAX_SESSIONS_PER_USER', 1, 100, 50),
  SYSTEM_TENANT_SLUG: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .regex(/^[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])$/, {
        message:
          'SYSTEM_TENANT_SLUG must be 3-63 lowercase letters, digits or hyphens, not starting or ending with a hyphen',
      })
      .default('system'),
  ),
  BOOTSTRAP_ADMIN_EMAIL: optionalString,
  BOOTSTRAP_ADMIN_PASSWORD: optionalString,
  PUBLIC_URL: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .refine(
        (v) => {
          try {
            const url = new URL(v);
            return (url.protocol === 'http:' || url.protocol === 'https:') && !url.search && !url.hash;
          } catch {
            return false;
          }
        },
        {
          message:
            'PUBLIC_URL must be an absolute http(s) URL without query or fragment, e.g. https://id.example.com',
        },
      )
      .optional(),
  ),
  JWT_ISSUER: optionalString,
  JWT_AUDIENCE: z.preprocess(emptyToUndefined, z.string().default('identity-api')),
  ACCESS_TOKEN_TTL_SECONDS: int('ACCESS_TOKEN_TTL_SECONDS', 60, 86_400, 900),
  REFRESH_TOKEN_TTL_SECONDS: int('REFRESH_TOKEN_TTL_SECONDS', 300, 7_776_000, 604_800),
  REFRESH_REUSE_GRACE_SECONDS: int('REFRESH_REUSE_GRACE_SECONDS', 0, 300, 10),
  BCRYPT_COST: int('BCRYPT_COST', 4, 16, 12),
  PASSWORD_PEPPER: keyMaterial('PASSWORD_PEPPER', 16),
  KEY_ENCRYPTION_KEY: keyMaterial('KEY_ENCRYPTION_KEY', 32),
  SIGNING_KEY_JWK: optionalString,
  RATE_LIMIT_AUTH_PER_MINUTE: int('RATE_LIMIT_AUTH_PER_MINUTE', 1, 100_000, 30),
  RATE_LIMIT_CLIENT_PER_MINUTE: int('RATE_LIMIT_CLIENT_PER_MINUTE', 1, 10_000_000, 3_000),
  CREDENTIAL_PEPPER: keyMaterial('CREDENTIAL_PEPPER', 16),
  AUDIT_RETENTION_DAYS: int('AUDIT_RETENTION_DAYS', 1, 36_500, 365),
  TRUST_PROXY: trustProxy,
  LOG_LEVEL: z.preprocess(
    emptyToUndefined,
    z
      .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
        message: 'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent',
      })
      .default('info'),
  ),
  LOG_FORMAT: z.preprocess(
    (value) => (typeof value === 'string' ? emptyToUndefined(value.toLowerCase()) : value),
    z.enum(['json', 'pretty'], { message: 'LOG_FORMAT must be json or pretty' }).optional(),
  ),
  GRAPHIQL: optionalBool('GRAPHIQL'),
  METRICS_TOKEN: keyMaterial('METRICS_TOKEN', 16),
  GRAPHQL_INTROSPECTION: optionalBool('GRAPHQL_INTROSPECTION'),
  GRAPHQL_DEBUG_ERRORS: optionalBool('GRAPHQL_DEBUG_ERRORS'),
  WEBAUTHN_RP_ID: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .regex(
        /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/,
        {
          message: 'WEBAUTHN_RP_ID must be a lowercase domain name without scheme or port, e.g. example.com',
        },
      )
      .optional(),
  ),
  WEBAUTHN_ORIGINS: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .optional()
      .refine((v) => v === undefined || v.split(',').every((part) => originOf(part.trim()) !== undefined), {
        message:
          'WEBAUTHN_ORIGINS must be a comma-separated list of origins, e.g. https://app.example.com,https://admin.example.com',
      })
      .transform((v) => (v === undefined ? [] : v.split(',').map((part) => originOf(part.trim()) as string))),
  ),
  SMTP_URL: smtpUrl,
  MAIL_FROM: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .default('Identity <no-reply@localhost>')
      .refine((v) => /^[^\r\n]{1,320}$/.test(v) && /@[^@\s>]+>?\s*$/.test(v), {
        message: 'MAIL_FROM must be an address, optionally with a name: "Acme <no-reply@acme.example>"',
      }),
  ),
  EMAIL_TEMPLATES_DIR: optionalString,
  EMAIL_RETRY_BASE_SECONDS: int('EMAIL_RETRY_BASE_SECONDS', 1, 3_600, 10),
  EMAIL_RETRY_MAX_SECONDS: int('EMAIL_RETRY_MAX_SECONDS', 1, 86_400, 900),
  EMAIL_GIVE_UP_AFTER_MINUTES: int('EMAIL_GIVE_UP_AFTER_MINUTES', 1, 43_200, 1_440),
  EMAIL_POLL_SECONDS: int('EMAIL_POLL_SECONDS', 1, 3_600, 5),
  EMAIL_PER_ADDRESS_PER_HOUR: int('EMAIL_PER_ADDRESS_PER_HOUR', 1, 1_000, 5),
});

/** Every environment variable the service reads (each may also be given as `<NAME>_FILE`). */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(variables.shape);

const schema = variables.superRefine((env, ctx) => {
  if (env.DATABASE_DIRECT_URL && !env.DATABASE_URL) {
    ctx.addIssue({
      code: 'custom',
      path: ['DATABASE_DIRECT_URL'],
      message: 'DATABASE_DIRECT_URL needs DATABASE_URL (it is the direct way to that same database)',
    });
  }
  if (env.DATABASE_READ_URL && !env.DATABASE_URL) {
    ctx.addIssue({
      code: 'custom',
      path: ['DATABASE_READ_URL'],
      message: 'DATABASE_READ_URL needs DATABASE_URL (it is a read replica of that database)',
    });
  }
  const topologies = [
    env.REDIS_URL && 'REDIS_URL',
    env.REDIS_CLUSTER_NODES.length > 0 && 'REDIS_CLUSTER_NODES',
    env.REDIS_SENTINELS.length > 0 && 'REDIS_SENTINELS',
  ].filter(Boolean);
  if (topologies.length > 1) {
    ctx.addIssue({
      code: 'custom',
      path: [String(topologies[1])],
      message: `Set only one of REDIS_URL, REDIS_CLUSTER_NODES and REDIS_SENTINELS (got ${topologies.join(' and ')})`,
    });
  }
  if (env.REDIS_SENTINELS.length > 0 && !env.REDIS_SENTINEL_NAME) {
    ctx.addIssue({
      code: 'custom',
      path: ['REDIS_SENTINEL_NAME'],
      message:
        'REDIS_SENTINEL_NAME (the master group name the Sentinels monitor, e.g. mymaster) must be set with REDIS_SENTINELS',
    });
  }
  if (env.EMAIL_RETRY_BASE_SECONDS > env.EMAIL_RETRY_MAX_SECONDS) {
    ctx.addIssue({
      code: 'custom',
      path: ['EMAIL_RETRY_BASE_SECONDS'],
      message: 'EMAIL_RETRY_BASE_SECONDS must not exceed EMAIL_RETRY_MAX_SECONDS',
    });
  }
  if (env.GRAPHQL_DEBUG_ERRORS && env.NODE_ENV === 'production') {
    ctx.addIssue({
      code: 'custom',
      path: ['GRAPHQL_DEBUG_ERRORS'],
      message:
        'GRAPHQL_DEBUG_ERRORS=true is refused in production: it shows SQL statements and stack traces to every client (read them in the log instead)',
    });
  }
  if (env.BOOTSTRAP_ADMIN_PASSWORD && !env.BOOTSTRAP_ADMIN_EMAIL) {
    ctx.addIssue({
      code: 'custom',
      path: ['BOOTSTRAP_ADMIN_EMAIL'],
      message: 'BOOTSTRAP_ADMIN_EMAIL must be set when BOOTSTRAP_ADMIN_PASSWORD is',
    });
  }
});

export type Env = z.infer<typeof schema>;

export interface Config {
  env: Env['NODE_ENV'];
  isProduction: boolean;
  http: { port: number; host: string; trustProxy: boolean | number | string };
  /**
   * The service's public base URL, without a trailing slash: the default issuer and the base of
   * the OAuth metadata's URLs. Instances behind one address share it.
   */
  publicUrl: string;
  database:
    | {
        kind: 'postgres';
        url: string;
        /** The database itself, bypassing any pooler (migrations, bootstrap, keys, advisory locks). */
        directUrl?: string;
        /** A streaming replica, for lag-tolerant admin reads only (see Deps.readDb). */
        readUrl?: string;
        poolMax: number;
        preparedStatements?: boolean;
      }
    | { kind: 'pglite'; dataDir: string | undefined };
  /** How long start-up (and each command-line tool) waits for PostgreSQL to accept connections. */
  databaseWaitSeconds: number;
  redis: RedisConfig;
  /** Days an ended or expired session is kept (for sessionEnded and the audit trail) before cleanup. */
  sessionRetentionDays: number;
  /** Active sessions one user may hold; a sign-in past it ends the oldest. */
  maxSessionsPerUser: number;
  systemTenantSlug: string;
  bootstrapAdmin: { email: string | undefined; password: string | undefined };
  jwt: {
    issuer: string;
    audience: string;
    accessTokenTtlSeconds: number;
    refreshTokenTtlSeconds: number;
    /**
     * A refresh token presented again this soon after its rotation is a second tab or a retry,
     * not a theft: it is answered with the session's current refresh token. 0: never.
     */
    refreshReuseGraceSeconds: number;
    signingKeyJwk: string | undefined;
    keyEncryptionKey: string | undefined;
  };
  passwords: { bcryptCost: number; pepper: string | undefined };
  /**
   * authPerMinute: sign-in, sign-up, refresh and failed client authentications, per IP.
   * clientPerMinute: requests of one correctly authenticated OAuth client to the token,
   * introspection and revocation endpoints.
   */
  rateLimit: { authPerMinute: number; clientPerMinute: number };
  /** Mixed into the hashes of client secrets and API keys (HMAC-SHA-256); unset: plain SHA-256. */
  credentialPepper: string | undefined;
  auditRetentionDays: number;
  logLevel: Env['LOG_LEVEL'];
  /** LOG_FORMAT, or else pretty on a terminal outside production and JSON otherwise. */
  logFormat: 'json' | 'pretty';
  /** Whether standard output is a terminal (colours in pretty lines). */
  logToTerminal: boolean;
  graphiql: boolean;
  introspection: boolean;
  /**
   * GRAPHQL_DEBUG_ERRORS (never in production): an unexpected error's answer names the failed
   * SQL statement (never its values) and carries a stack trace. Off: masked in every mode.
   */
  debugErrors: boolean;
  /**
   * Bearer token GET /metrics requires. Unset: /metrics is open outside production and closed to
   * everyone in production (`closedWithoutToken`).
   */
  metrics: { token: string | undefined; closedWithoutToken: boolean };
  /** Passkeys: the relying-party id and the origins ceremonies may come from. */
  /**
   * origins: the configured WEBAUTHN_ORIGINS, else the origin of PUBLIC_URL; tenantAppOrigins:
   * WEBAUTHN_ORIGINS is unset, so a ceremony of a tenant also accepts the origin of its appUrl.
   */
  webauthn: { rpId: string; origins: string[]; tenantAppOrigins: boolean };
  email: EmailConfig;
}

/** Sending email: where, as whom, with which templates, and how the outbox retries. */
export interface EmailConfig {
  /** smtp:// or smtps:// URL; undefined: messages are written to the log instead. */
  smtpUrl: string | undefined;
  from: string;
  templatesDir: string | undefined;
  retryBaseSeconds: number;
  retryMaxSeconds: number;
  giveUpAfterMinutes: number;
  pollSeconds: number;
  /** Emails of one kind to one address per hour (password reset, verification): no mail bombing. */
  perAddressPerHour: number;
}

/**
 * Where Redis is. `url` is a single server; Cluster and Sentinel list their nodes and share the
 * password and TLS settings. `mode` is 'none' when no Redis is configured (in-process cache and
 * pub/sub).
 */
export interface RedisConfig {
  mode: 'none' | 'standalone' | 'cluster' | 'sentinel';
  url: string | undefined;
  clusterNodes: { host: string; port: number }[];
  sentinels: { host: string; port: number }[];
  sentinelName: string | undefined;
  password: string | undefined;
  sentinelPassword: string | undefined;
  tls: boolean;
  keyPrefix: string;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Replaces each `<NAME>_FILE` of a known variable with the file's contents as `<NAME>`. */
function readFileVariables(source: Record<string, string | undefined>) {
  const env: Record<string, string | undefined> = { ...source };
  const fromFile = new Set<string>();
  const problems: string[] = [];
  for (const name of CONFIG_VARIABLES) {
    const path = emptyToUndefined(source[`${name}_FILE`]);
    if (typeof path !== 'string') continue;
    if (emptyToUndefined(source[name]) !== undefined) {
      problems.push(`Set ${name} or ${name}_FILE, not both`);
      continue;
    }
    try {
      env[name] = readFileSync(path, 'utf8').replace(/\r?\n$/, '');
      fromFile.add(name);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code;
      problems.push(`${name}_FILE: cannot read ${JSON.stringify(path)} (${why ?? (error as Error).message})`);
    }
  }
  return { env, fromFile, problems };
}

/** Variables whose values are never shown, not even in an error about them. */
const SECRET = /PASSWORD|KEY|PEPPER|JWK|^METRICS_TOKEN$|^SMTP_URL$/;

/**
 * Parses the environment. Throws ConfigError naming every variable that is wrong. Any variable
 * may instead be read from a file named by `<NAME>_FILE` (the Docker and Kubernetes secrets
 * convention), one trailing newline removed.
 */
export function loadConfig(
  source: Record<string, string | undefined> = process.env,
  terminal: { stdoutIsTty: boolean } = { stdoutIsTty: process.stdout.isTTY === true },
): Config {
  const { env: input, fromFile, problems: fileProblems } = readFileVariables(source);
  const parsed = schema.safeParse(input);
  if (fileProblems.length > 0 || !parsed.success) {
    const problems = (parsed.success ? [] : parsed.error.issues).map((issue) => {
      const variable = String(issue.path[0] ?? 'environment');
      const got = input[variable];
      const hidden = got === undefined || SECRET.test(variable) || fromFile.has(variable);
      const shown = hidden ? '' : ` (got ${JSON.stringify(got)})`;
      const where = fromFile.has(variable) ? ` (read from ${variable}_FILE)` : '';
      return issue.message.startsWith(variable)
        ? `${issue.message}${where}${shown}`
        : `${variable}: ${issue.message}${where}${shown}`;
    });
    throw new ConfigError(
      redactCredentials(`Invalid configuration: ${[...fileProblems, ...problems].join('; ')}`),
    );
  }
  const env = parsed.data;
  const isProduction = env.NODE_ENV === 'production';
  const publicUrl = (env.PUBLIC_URL ?? `http://localhost:${env.PORT}`).replace(/\/+$/, '');
  return {
    env: env.NODE_ENV,
    isProduction,
    http: { port: env.PORT, host: env.HOST, trustProxy: env.TRUST_PROXY },
    publicUrl,
    database: env.DATABASE_URL
      ? {
          kind: 'postgres',
          url: env.DATABASE_URL,
          directUrl: env.DATABASE_DIRECT_URL ?? env.DATABASE_URL,
          readUrl: env.DATABASE_READ_URL,
          poolMax: env.DATABASE_POOL_MAX,
          preparedStatements: env.DATABASE_PREPARED_STATEMENTS ?? true,
        }
      : { kind: 'pglite', dataDir: env.DATA_DIR === ':memory:' ? undefined : env.DATA_DIR },
    databaseWaitSeconds: env.DATABASE_WAIT_SECONDS,
    redis: {
      mode: env.REDIS_URL
        ? 'standalone'
        : env.REDIS_CLUSTER_NODES.length > 0
          ? 'cluster'
          : env.REDIS_SENTINELS.length > 0
            ? 'sentinel'
            : 'none',
      url: env.REDIS_URL,
      clusterNodes: env.REDIS_CLUSTER_NODES,
      sentinels: env.REDIS_SENTINELS,
      sentinelName: env.REDIS_SENTINEL_NAME,
      password: env.REDIS_PASSWORD,
      sentinelPassword: env.REDIS_SENTINEL_PASSWORD,
      tls: env.REDIS_TLS ?? false,
      keyPrefix: env.REDIS_KEY_PREFIX,
    },
    sessionRetentionDays: env.SESSION_RETENTION_DAYS,
    maxSessionsPerUser: env.MAX_SESSIONS_PER_USER,
    systemTenantSlug: env.SYSTEM_TENANT_SLUG,
    bootstrapAdmin: { email: env.BOOTSTRAP_ADMIN_EMAIL, password: env.BOOTSTRAP_ADMIN_PASSWORD },
    jwt: {
      issuer: env.JWT_ISSUER ?? publicUrl,
      audience: env.JWT_AUDIENCE,
      accessTokenTtlSeconds: env.ACCESS_TOKEN_TTL_SECONDS,
      refreshTokenTtlSeconds: env.REFRESH_TOKEN_TTL_SECONDS,
      refreshReuseGraceSeconds: env.REFRESH_REUSE_GRACE_SECONDS,
      signingKeyJwk: env.SIGNING_KEY_JWK,
      keyEncryptionKey: env.KEY_ENCRYPTION_KEY,
    },
    passwords: { bcryptCost: env.BCRYPT_COST, pepper: env.PASSWORD_PEPPER },
    rateLimit: {
      authPerMinute: env.RATE_LIMIT_AUTH_PER_MINUTE,
      clientPerMinute: env.RATE_LIMIT_CLIENT_PER_MINUTE,
    },
    credentialPepper: env.CREDENTIAL_PEPPER,
    auditRetentionDays: env.AUDIT_RETENTION_DAYS,
    logLevel: env.LOG_LEVEL,
    logFormat: env.LOG_FORMAT ?? (terminal.stdoutIsTty && !isProduction ? 'pretty' : 'json'),
    logToTerminal: terminal.stdoutIsTty,
    graphiql: env.GRAPHIQL ?? !isProduction,
    introspection: env.GRAPHQL_INTROSPECTION ?? !isProduction,
    debugErrors: env.GRAPHQL_DEBUG_ERRORS ?? false,
    metrics: { token: env.METRICS_TOKEN, closedWithoutToken: isProduction },
    webauthn: {
      // Unset: the host and origin of PUBLIC_URL (http://localhost:<PORT> by default), and the
      // origin of each tenant's appUrl for that tenant's ceremonies.
      rpId: env.WEBAUTHN_RP_ID ?? new URL(publicUrl).hostname,
      origins: env.WEBAUTHN_ORIGINS.length > 0 ? env.WEBAUTHN_ORIGINS : [new URL(publicUrl).origin],
      tenantAppOrigins: env.WEBAUTHN_ORIGINS.length === 0,
    },
    email: {
      smtpUrl: env.SMTP_URL,
      from: env.MAIL_FROM,
      templatesDir: env.EMAIL_TEMPLATES_DIR,
      retryBaseSeconds: env.EMAIL_RETRY_BASE_SECONDS,
      retryMaxSeconds: env.EMAIL_RETRY_MAX_SECONDS,
      giveUpAfterMinutes: env.EMAIL_GIVE_UP_AFTER_MINUTES,
      pollSeconds: env.EMAIL_POLL_SECONDS,
      perAddressPerHour: env.EMAIL_PER_ADDRESS_PER_HOUR,
    },
  };
}
