// The benchmark's own database (created fresh, dropped afterwards), its seed, and the direct SQL
// the harness needs to prepare scenarios (sample ids, pre-created refresh tokens).
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import postgres from 'postgres';

export function databaseUrl(adminUrl, name) {
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function createDatabase(adminUrl, name) {
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {}, connect_timeout: 5 });
  try {
    await admin.unsafe(`create database "${name}"`);
  } finally {
    await admin.end({ timeout: 5 });
  }
}

export async function dropDatabase(adminUrl, name) {
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {}, connect_timeout: 5 });
  try {
    await admin.unsafe(`drop database if exists "${name}" with (force)`);
  } finally {
    await admin.end({ timeout: 5 });
  }
}

export async function databaseExists(adminUrl, name) {
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {}, connect_timeout: 5 });
  try {
    const rows = await admin`select 1 from pg_database where datname = ${name}`;
    return rows.length > 0;
  } finally {
    await admin.end({ timeout: 5 });
  }
}

/** Applies the migrations with the project's own command (dist/scripts/migrate.js). */
export function runMigrate(ctx) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ctx.root, 'dist/scripts/migrate.js')], {
      cwd: ctx.root,
      env: { PATH: process.env.PATH, DATABASE_URL: ctx.databaseUrl, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (chunk) => {
      err += chunk;
    });
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`migrate failed (${code}): ${err.trim()}`)),
    );
  });
}

/** Runs the project's own seed command (dist/scripts/seed.js) and returns its JSON summary. */
export function runSeed(ctx, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ctx.root, 'dist/scripts/seed.js'), ...args, '--json'], {
      cwd: ctx.root,
      env: { PATH: process.env.PATH, DATABASE_URL: ctx.databaseUrl, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
    });
    child.stderr.on('data', (chunk) => {
      err += chunk;
    });
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`seed ${args.join(' ')} failed (${code}): ${err.trim()}`));
      try {
        const summary = JSON.parse(out.trim().split('\n').at(-1));
        summary.message = err.trim().split('\n').at(-2);
        resolve(summary);
      } catch (error) {
        reject(new Error(`seed printed no JSON summary: ${error.message}\n${out}\n${err}`));
      }
    });
  });
}

export function connectSql(url) {
  return postgres(url, { max: 2, onnotice: () => {}, connect_timeout: 5 });
}

/**
 * ACTIVE USERs and GUESTs of a tenant to sign in, newest first: the oldest ones make up the first
 * page of `users`, whose nested sessions should stay the seeded ones whatever ran before.
 */
export async function activeUsers(sql, tenantId, limit, { offset = 0, oldest = false } = {}) {
  return oldest
    ? sql`select id, email from users where tenant_id = ${tenantId} and status = 'ACTIVE' and role in ('USER', 'GUEST')
        order by created_at, id offset ${offset} limit ${limit}`
    : sql`select id, email from users where tenant_id = ${tenantId} and status = 'ACTIVE' and role in ('USER', 'GUEST')
        order by created_at desc, id desc offset ${offset} limit ${limit}`;
}

/** A random sample of a tenant's user ids (TABLESAMPLE: cheap on a million rows). */
export async function sampleUserIds(sql, tenantId, count) {
  const rows =
    await sql`select id from users tablesample system (5) where tenant_id = ${tenantId} limit ${count * 4}`;
  const ids = rows.map((row) => row.id);
  for (let i = ids.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [ids[i], ids[j]] = [ids[j], ids[i]];
  }
  if (ids.length >= count) return ids.slice(0, count);
  const more = await sql`select id from users where tenant_id = ${tenantId} order by random() limit ${count}`;
  return more.map((row) => row.id);
}

/**
 * Active sessions whose refresh tokens the harness knows (the service stores only their SHA-256),
 * so that every `refresh` request can present a fresh token. Spread over `users`.
 */
export async function createRefreshableSessions(sql, tenantId, users, count) {
  const tokens = [];
  const now = Date.now();
  const created = new Date(now - 60_000).toISOString();
  // The service's format: the session's tenant id, then 256 random bits (both base64url).
  const tenant = Buffer.from(tenantId.replaceAll('-', ''), 'hex').toString('base64url');
  const stream = await sql`copy sessions (id, tenant_id, user_id, refresh_token_hash, ip_address, user_agent,
    created_at, last_used_at, expires_at) from stdin`.writable();
  let chunk = [];
  for (let i = 0; i < count; i++) {
    const token = `${tenant}.${randomBytes(32).toString('base64url')}`;
    tokens.push(token);
    const hash = createHash('sha256').update(token, 'utf8').digest('hex');
    chunk.push(
      `${uuidv4()}\t${tenantId}\t${users[i % users.length].id}\t\\\\x${hash}\t10.0.0.1\tidentity-bench-refresh\t${created}\t${created}\t${new Date(now + 6 * 86_400_000).toISOString()}\n`,
    );
    if (chunk.length === 5_000 || i === count - 1) {
      if (!stream.write(chunk.join(''))) await new Promise((resolve) => stream.once('drain', resolve));
      chunk = [];
    }
  }
  await new Promise((resolve, reject) => stream.end((error) => (error ? reject(error) : resolve())));
  return { tokens, createdAt: created };
}

/**
 * Removes the sessions createRefreshableSessions made (their spent tokens go with them), found by
 * their creation time: a refresh rewrites a session's address and agent, never its created_at.
 */
export async function dropRefreshableSessions(sql, tenantId, createdAt) {
  await sql`delete from sessions where tenant_id = ${tenantId} and created_at = ${createdAt}`;
}

function uuidv4() {
  const b = randomBytes(16);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Deletes every Redis key of this run (rate-limit counters and the like). */
export async function cleanRedis(redisUrl, prefix) {
  const redis = new Redis(redisUrl, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
  });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

export async function pingRedis(redisUrl) {
  const redis = new Redis(redisUrl, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  try {
    await redis.connect();
    await redis.ping();
  } finally {
    redis.disconnect();
  }
}
