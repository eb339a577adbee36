import 'reflect-metadata';
import { randomBytes, randomInt } from 'node:crypto';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { ConfigError, loadConfig } from '../config.js';
import { openDatabase } from '../db/wait-for-database.js';
import { redactCredentials } from '../kernel/redact.js';
import { PasswordHasher } from '../modules/passwords/index.js';
import { defaultTenantSettings } from '../modules/tenants/settings.js';

/**
 * `npm run db:seed -- --tenants 10 --users 1000000`: fills DATABASE_URL with realistic tenants,
 * users and sessions, fast (COPY, one password hash shared by every user), for benchmarks and
 * for trying the admin console on a large tenant.
 *
 *   --tenants N          tenants to create (default 10); users are split evenly between them
 *   --users N            users in all (default 10000)
 *   --sizes a,b,…        users per tenant instead (overrides --tenants/--users)
 *   --prefix p           tenant slugs p-1, p-2, … (default "seed"); they must not exist yet
 *   --password pw        every seeded user's password (default below)
 *   --bcrypt-cost n      cost of that one hash (default: BCRYPT_COST)
 *   --sessions r         sessions per user on average (default 0.15; a quarter of them ended)
 *   --seed n             random seed, for the same data twice (default: random)
 *   --json               print a JSON summary on stdout (progress goes to stderr)
 *
 * Every tenant gets admin@<slug>.example (ADMIN) and moderator@<slug>.example (MODERATOR).
 * Large loads drop the users table's secondary indexes and rebuild them after the COPY, inside
 * the same transaction (a failure leaves the table exactly as it was).
 */

const DEFAULT_PASSWORD = 'seeded password 2024!';

const USAGE = `usage: npm run db:seed -- [--tenants N] [--users N] [--sizes a,b,…] [--prefix p] [--password pw]
                        [--bcrypt-cost n] [--sessions r] [--seed n] [--json]

Fills the PostgreSQL database at DATABASE_URL with realistic tenants, users and sessions (COPY;
one password hash shared by every user), for benchmarks and for trying the console on a large
tenant. The embedded database is not supported.

  --tenants N      tenants to create (default 10); users are split evenly between them
  --users N        users in all (default 10000)
  --sizes a,b,…    users per tenant instead (overrides --tenants/--users)
  --prefix p       tenant slugs p-1, p-2, … (default "seed"); they must not exist yet
  --password pw    every seeded user's password (default "${DEFAULT_PASSWORD}")
  --bcrypt-cost n  cost of that one hash (default: BCRYPT_COST)
  --sessions r     sessions per user on average (default 0.15; a quarter of them ended)
  --seed n         random seed, for the same data twice (default: random)
  --json           print a JSON summary on stdout (progress goes to stderr)

Every tenant gets admin@<slug>.example (ADMIN) and moderator@<slug>.example (MODERATOR).`;
const DAY = 86_400_000;

// Common names, roughly by frequency; picked with a Zipf-like skew so some are common and some rare.
const FIRST =
  'James Mary Olivia Liam Emma Noah Ava Sophia Lucas Mia Amelia Ethan Isabella Mateo Harper Elijah Evelyn Aiden Charlotte Mohammed Fatima Wei Li Yuki Hiroshi Sakura Priya Arjun Aanya Rohan Chen Mei Jin Seo-yeon Min-jun Ana Juan Carlos Lucia Sofia Diego Valentina Pablo Camila Javier Elena Marco Giulia Luca Francesca Matteo Chiara Lukas Lena Jonas Hannah Felix Anna Leon Marie Paul Clara Hugo Louise Jules Chloe Louis Ines Arthur Zoe Oskar Maja Emil Alma Lars Ingrid Nils Astrid Piotr Zofia Jakub Katarzyna Tomasz Agnieszka Ivan Olga Dmitri Natalia Sergei Irina Ahmed Aisha Omar Layla Yusuf Zainab Kwame Ama Kofi Abena Chidi Ngozi Tunde Folake Sipho Thandiwe Andile Lerato Mateus Beatriz Gabriel Larissa Rafael Bianca Thiago Manuela Noa Tamar Eitan Yael Finn Saoirse Niamh Cian Aoife Ewan Isla Callum Freya Rhys Cerys Owen Seren Jack Grace Henry Lily William Ruby George Alice Oliver Evie Thomas Daisy Samuel Ellie Daniel Sienna Benjamin Nora'.split(
    ' ',
  );
const LAST =
  'Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Muller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Rossi Russo Ferrari Esposito Bianchi Romano Colombo Ricci Marino Greco Dubois Durand Lefebvre Moreau Laurent Simon Michel Leroy Roux Fournier Kowalski Nowak Wisniewski Wojcik Kaminski Lewandowski Zielinski Szymanski Ivanov Smirnov Kuznetsov Popov Sokolov Novak Horvat Kovacs Nagy Szabo Toth Yilmaz Kaya Demir Sahin Celik Wang Li Zhang Liu Chen Yang Huang Zhao Wu Zhou Sato Suzuki Takahashi Tanaka Watanabe Ito Yamamoto Nakamura Kim Park Choi Jung Kang Cho Yoon Jang Patel Sharma Singh Kumar Gupta Reddy Iyer Rao Das Khan Ali Hussain Ahmed Rahman Haddad Nasser Mansour Okafor Adeyemi Mensah Owusu Nkosi Dlamini Mokoena Silva Santos Oliveira Souza Pereira Costa Almeida Carvalho Ferreira Gomes Jansen Bakker Visser Smit Andersson Johansson Karlsson Nilsson Hansen Jensen Nielsen Larsen Virtanen Korhonen OBrien Murphy Kelly Walsh Byrne Ryan Doyle MacDonald Campbell Stewart Fraser Evans Hughes Morgan Price Lloyd Cohen Levi Mizrahi Friedman Rosen Katz'.split(
    ' ',
  );
const DOMAINS = [
  'mail.example',
  'inbox.example',
  'post.example',
  'example.com',
  'example.org',
  'example.net',
];
const AGENTS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148',
  'Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0',
  'okhttp/4.12.0',
];
const COMPANIES =
  'Acme Globex Initech Umbrella Hooli Stark Wayne Tyrell Cyberdyne Soylent Aperture Wonka Vandelay Oscorp Massive Dynamic'.split(
    ' ',
  );

/** mulberry32: small, fast, seedable; plenty for synthetic data. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** A picker where item k is chosen with weight 1/(k+2): a few names are common, most are rare. */
function zipf<T>(items: T[], rnd: () => number): () => T {
  const cumulative: number[] = [];
  let total = 0;
  for (let k = 0; k < items.length; k++) {
    total += 1 / (k + 2);
    cumulative.push(total);
  }
  return () => {
    const x = rnd() * total;
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((cumulative[mid] as number) < x) lo = mid + 1;
      else hi = mid;
    }
    return items[lo] as T;
  };
}

const hex = (n: number, width: number) => n.toString(16).padStart(width, '0');

/** A UUIDv7 for a given time (ids then sort like created_at, as the service's own ids do). */
function uuidv7At(ms: number, rnd: () => number): string {
  const t = hex(ms, 12);
  const r = () => Math.floor(rnd() * 0x10000);
  return `${t.slice(0, 8)}-${t.slice(8)}-7${hex(r() & 0xfff, 3)}-${hex((r() & 0x3fff) | 0x8000, 4)}-${hex(r(), 4)}${hex(r(), 4)}${hex(r(), 4)}`;
}

const iso = (ms: number) => new Date(ms).toISOString();
/** COPY text format: escape backslash, tab, newline, carriage return. */
const copyText = (value: string | null) =>
  value === null
    ? '\\N'
    : value.replace(/[\\\t\n\r]/g, (c) => ({ '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' })[c] ?? c);

interface SeedOptions {
  sizes: number[];
  prefix: string;
  password: string;
  bcryptCost: number | undefined;
  sessionsPerUser: number;
  seed: number;
  json: boolean;
}

function parseOptions(): SeedOptions {
  const { values } = parseArgs({
    strict: true,
    options: {
      tenants: { type: 'string', default: '10' },
      users: { type: 'string', default: '10000' },
      sizes: { type: 'string' },
      prefix: { type: 'string', default: 'seed' },
      password: { type: 'string', default: DEFAULT_PASSWORD },
      'bcrypt-cost': { type: 'string' },
      sessions: { type: 'string', default: '0.15' },
      seed: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const whole = (name: string, value: string, min: number) => {
    const n = Number(value.replace(/[_,]/g, ''));
    if (!Number.isInteger(n) || n < min)
      throw new ConfigError(`--${name} must be a whole number ≥ ${min} (got ${value})`);
    return n;
  };
  let sizes: number[];
  if (values.sizes) sizes = values.sizes.split(',').map((s) => whole('sizes', s.trim(), 2));
  else {
    const tenants = whole('tenants', values.tenants, 1);
    const users = whole('users', values.users, 2 * tenants);
    sizes = Array.from(
      { length: tenants },
      (_, i) => Math.floor(users / tenants) + (i < users % tenants ? 1 : 0),
    );
  }
  if (!/^[a-z0-9][a-z0-9-]{0,40}$/.test(values.prefix))
    throw new ConfigError('--prefix: lowercase letters, digits and hyphens');
  const sessionsPerUser = Number(values.sessions);
  if (!(sessionsPerUser >= 0 && sessionsPerUser <= 20))
    throw new ConfigError('--sessions must be from 0 to 20');
  return {
    sizes,
    prefix: values.prefix,
    password: values.password,
    bcryptCost:
      values['bcrypt-cost'] === undefined ? undefined : whole('bcrypt-cost', values['bcrypt-cost'], 4),
    sessionsPerUser,
    seed: values.seed === undefined ? randomInt(2 ** 31) : whole('seed', values.seed, 0),
    json: values.json,
  };
}

const log = (message: string) => process.stderr.write(`${message}\n`);
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

async function main() {
  const options = parseOptions();
  const config = loadConfig(process.env);
  if (config.database.kind !== 'postgres') {
    throw new ConfigError(
      'db:seed fills a PostgreSQL database: set DATABASE_URL (the embedded database is not supported).',
    );
  }
  const started = Date.now();
  const timings: Record<string, number> = {};
  const mark = (name: string, since: number) => {
    timings[name] = Date.now() - since;
    return Date.now();
  };

  const say = (message: string) => log(message);
  const database = await openDatabase(config, { warn: say, info: say });
  try {
    await database.migrate();
  } finally {
    await database.close();
  }
  let t = mark('migrate', started);

  const hasher = new PasswordHasher({
    cost: options.bcryptCost ?? config.passwords.bcryptCost,
    pepper: config.passwords.pepper,
  });
  const passwordHash = await hasher.hash(options.password);
  t = mark('hash', t);

  const sql = postgres(config.database.url, {
    max: 1,
    onnotice: () => {},
    connection: { application_name: 'identity-seed' },
  });
  const rnd = prng(options.seed);
  const firstName = zipf(FIRST, rnd);
  const lastName = zipf(LAST, rnd);
  const now = Date.now();
  const totalUsers = options.sizes.reduce((a, b) => a + b, 0);
  const summary = {
    database: new URL(config.database.url).pathname.slice(1),
    password: options.password,
    bcryptCost: options.bcryptCost ?? config.passwords.bcryptCost,
    seed: options.seed,
    tenants: [] as {
      id: string;
      slug: string;
      name: string;
      users: number;
      sessions: number;
      admin: string;
      moderator: string;
    }[],
    users: totalUsers,
    sessions: 0,
    timings,
    totalMs: 0,
  };
  try {
    await sql.begin(async (tx) => {
      await tx`set local synchronous_commit = off`;
      await tx`set local maintenance_work_mem = '512MB'`;
      const slugs = options.sizes.map((_, i) => `${options.prefix}-${i + 1}`);
      const taken = await tx`select slug from tenants where slug in ${tx(slugs)}`;
      if (taken.length > 0) {
        throw new ConfigError(
          `Tenants ${taken.map((r) => r.slug).join(', ')} exist already: choose another --prefix.`,
        );
      }
      const settings = defaultTenantSettings(config.jwt);
      for (const [i, slug] of slugs.entries()) {
        const created = now - 3 * 365 * DAY - (slugs.length - i) * DAY;
        const name = `${COMPANIES[i % COMPANIES.length]}${i >= COMPANIES.length ? ` ${Math.floor(i / COMPANIES.length) + 1}` : ''} (${slug})`;
        const [row] = await tx`insert into tenants (id, slug, name, settings, created_at, updated_at)
          values (${uuidv7At(created, rnd)}, ${slug}, ${name}, ${tx.json(settings as never)}, ${iso(created)}, ${iso(created)})
          returning id`;
        summary.tenants.push({
          id: row?.id as string,
          slug,
          name,
          users: options.sizes[i] as number,
          sessions: 0,
          admin: `admin@${slug}.example`,
          moderator: `moderator@${slug}.example`,
        });
      }

      // Secondary indexes are rebuilt once at the end when that is cheaper than maintaining them per row.
      const [{ n: existing } = { n: 0 }] = await tx`select count(*)::int as n from users`;
      const rebuild = totalUsers >= 50_000 && totalUsers > existing;
      const indexes = rebuild
        ? await tx`select indexname, indexdef from pg_indexes
            where schemaname = current_schema() and tablename in ('users', 'sessions')
              and indexname not in (select conname from pg_constraint where contype in ('p', 'u'))`
        : [];
      for (const index of indexes) await tx.unsafe(`drop index "${index.indexname}"`);
      t = mark('prepare', t);

      const sessionRows: string[] = [];
      const userStream = await tx`copy users (id, tenant_id, email, display_name, password_hash, role, status,
        failed_login_count, last_login_at, created_at, updated_at) from stdin`.writable();
      let chunk: string[] = [];
      const flush = async () => {
        if (chunk.length === 0) return;
        const data = chunk.join('');
        chunk = [];
        if (!userStream.write(data)) await new Promise((resolve) => userStream.once('drain', resolve));
      };
      for (const tenant of summary.tenants) {
        const span = 3 * 365 * DAY;
        for (let i = 0; i < tenant.users; i++) {
          const created = Math.floor(now - 3 * 365 * DAY + (span * i) / tenant.users + rnd() * DAY * 0.5);
          const first = firstName();
          const last = lastName();
          const domain =
            rnd() < 0.25 ? `${tenant.slug}.example` : (DOMAINS[Math.floor(rnd() * DOMAINS.length)] as string);
          let email: string;
          let role = 'USER';
          if (i === 0) [email, role] = [tenant.admin, 'ADMIN'];
          else if (i === 1) [email, role] = [tenant.moderator, 'MODERATOR'];
          else {
            const f = first.toLowerCase().replace(/[^a-z]/g, '');
            const l = last.toLowerCase();
            const style = Math.floor(rnd() * 4);
            const local =
              style === 0
                ? `${f}.${l}`
                : style === 1
                  ? `${f[0]}${l}`
                  : style === 2
                    ? `${f}_${l[0]}`
                    : `${l}.${f}`;
            email = `${local}${i}@${domain}`;
            const r = rnd();
            role = r < 0.001 ? 'ADMIN' : r < 0.006 ? 'MODERATOR' : r < 0.036 ? 'GUEST' : 'USER';
          }
          const displayName =
            i < 2
              ? `${first} ${last}`
              : rnd() < 0.08
                ? null
                : rnd() < 0.1
                  ? `${first} ${String.fromCharCode(65 + Math.floor(rnd() * 26))}. ${last}`
                  : `${first} ${last}`;
          const status = i >= 2 && rnd() < 0.02 ? 'SUSPENDED' : 'ACTIVE';
          const lastLogin = rnd() < 0.25 ? null : Math.floor(created + (now - created) * (1 - rnd() ** 3));
          const id = uuidv7At(created, rnd);
          chunk.push(
            `${id}\t${tenant.id}\t${copyText(email)}\t${copyText(displayName)}\t${copyText(passwordHash)}\t${role}\t${status}\t0\t${lastLogin === null ? '\\N' : iso(lastLogin)}\t${iso(created)}\t${iso(lastLogin ?? created)}\n`,
          );
          // Sessions: most recent first-class devices active, some ended by logout or expiry.
          let sessions = Math.floor(options.sessionsPerUser) + (rnd() < options.sessionsPerUser % 1 ? 1 : 0);
          while (sessions-- > 0 && status === 'ACTIVE') {
            const start = Math.min(now - 60_000, Math.max(created, now - 6 * DAY) + Math.floor(rnd() * DAY));
            const ended = rnd() < 0.25;
            const hash = randomBytes(32).toString('hex');
            const ip = `10.${Math.floor(rnd() * 256)}.${Math.floor(rnd() * 256)}.${1 + Math.floor(rnd() * 254)}`;
            sessionRows.push(
              `${uuidv7At(start, rnd)}\t${tenant.id}\t${id}\t\\\\x${hash}\t${Math.floor(rnd() * 20)}\t${ip}\t${copyText(AGENTS[Math.floor(rnd() * AGENTS.length)] as string)}\t${iso(start)}\t${iso(Math.min(now, start + Math.floor(rnd() * DAY)))}\t${iso(start + 7 * DAY)}\t${ended ? iso(Math.min(now, start + DAY)) : '\\N'}\t${ended ? 'LOGOUT' : '\\N'}\n`,
            );
            tenant.sessions++;
          }
          if (chunk.length >= 2_000) await flush();
        }
      }
      await flush();
      await new Promise<void>((resolve, reject) =>
        userStream.end((error?: Error | null) => (error ? reject(error) : resolve())),
      );
      t = mark('users', t);

      const sessionStream =
        await tx`copy sessions (id, tenant_id, user_id, refresh_token_hash, rotation_counter,
        ip_address, user_agent, created_at, last_used_at, expires_at, ended_at, end_reason) from stdin`.writable();
      for (let i = 0; i < sessionRows.length; i += 2_000) {
        if (!sessionStream.write(sessionRows.slice(i, i + 2_000).join(''))) {
          await new Promise((resolve) => sessionStream.once('drain', resolve));
        }
      }
      await new Promise<void>((resolve, reject) =>
        sessionStream.end((error?: Error | null) => (error ? reject(error) : resolve())),
      );
      summary.sessions = sessionRows.length;
      t = mark('sessions', t);

      for (const index of indexes) {
        log(`  rebuilding ${index.indexname}`);
        await tx.unsafe(index.indexdef);
      }
      t = mark('indexes', t);
    });
    await sql`analyze users`;
    await sql`analyze sessions`;
    await sql`analyze tenants`;
    mark('analyze', t);
  } finally {
    await sql.end({ timeout: 5 });
  }
  summary.totalMs = Date.now() - started;
  if (options.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  const fmt = (n: number) => n.toLocaleString('en-US');
  log(
    `Seeded ${summary.tenants.length} tenants (${summary.tenants.map((x) => x.slug).join(', ')}), ${fmt(totalUsers)} users and ${fmt(summary.sessions)} sessions into ${summary.database} in ${seconds(summary.totalMs)} (${Object.entries(
      timings,
    )
      .map(([k, v]) => `${k} ${seconds(v)}`)
      .join(', ')}).`,
  );
  log(
    `Every seeded user's password is "${options.password}" (bcrypt cost ${summary.bcryptCost}); each tenant has admin@<slug>.example and moderator@<slug>.example.`,
  );
}

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  console.log(USAGE);
} else {
  main().catch((error: unknown) => {
    const unknownOption = (error as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION';
    console.error(
      error instanceof ConfigError || unknownOption
        ? `${(error as Error).message}${unknownOption ? `\n\n${USAGE}` : ''}`
        : redactCredentials(`Seeding failed: ${(error as Error).message}`),
    );
    process.exit(unknownOption ? 2 : 1);
  });
}
