// The Docker image's runtime stage without Docker (CI has no daemon): lays out what the Dockerfile's
// runtime stage copies into a temp directory, installs the production dependencies as it does, and
// then, as an unprivileged user with the image's environment, runs every command-line tool the
// README names for the container, starts the server with the image's CMD and asks the image's
// HEALTHCHECK. Needs a built dist/ (npm run build).
//   node scripts/check-image-layout.mjs
// A RUN or COPY of the runtime stage this script does not know stops it: teach it the new step.
import { execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const root = resolve(import.meta.dirname, '..');
class LayoutError extends Error {}
const fail = (message) => {
  throw new LayoutError(message);
};
const say = (message) => console.log(`image layout: ${message}`);

// ---- the runtime stage, read from the Dockerfile ------------------------------------------------
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
const stage = dockerfile.slice(dockerfile.search(/^FROM .* AS runtime$/m));
if (!stage.startsWith('FROM')) fail('no `FROM … AS runtime` stage in the Dockerfile');
const lines = stage.split('\n').map((line) => line.trim());
const instructions = lines.filter((line) => /^[A-Z]+ /.test(line));

const image = mkdtempSync(join(tmpdir(), 'identity-image-'));
chmodSync(image, 0o755);
const app = join(image, 'app');
const data = join(image, 'data');
mkdirSync(app);
const env = { PATH: process.env.PATH };
let user;
let cmd;
let healthcheck;

try {
  for (const line of instructions) {
    const [keyword, ...rest] = line.split(/\s+/);
    const args = rest.join(' ');
    if (keyword === 'FROM' || keyword === 'WORKDIR' || keyword === 'EXPOSE' || keyword === 'VOLUME') continue;
    if (keyword === 'ENV') {
      for (const [, name, value] of args.matchAll(/(\w+)=(\S+)/g)) env[name] = value;
    } else if (keyword === 'COPY') {
      const parts = rest.filter((part) => !part.startsWith('--'));
      const fromBuild = rest.some((part) => part === '--from=build');
      const destination = parts.pop();
      for (const source of parts) {
        // --from=build /app/dist: the build stage's output, which is this checkout's built dist/.
        const local = join(root, fromBuild ? source.replace(/^\/app\//, '') : source);
        if (!existsSync(local)) fail(`COPY ${source}: ${local} does not exist (run npm run build first)`);
        const target = destination.endsWith('/')
          ? join(app, destination, source.split('/').pop())
          : join(app, destination);
        cpSync(local, target, { recursive: true });
      }
    } else if (keyword === 'RUN') {
      for (const command of args.split('&&').map((part) => part.trim())) {
        if (command.startsWith('npm ci') || command.startsWith('node scripts/')) {
          say(command);
          execFileSync('sh', ['-c', command], {
            // npm's engine warnings about dev-only packages are noise here.
            env: { ...process.env, ...env, npm_config_loglevel: 'error' },
            cwd: app,
            stdio: ['ignore', 'ignore', 'inherit'],
          });
        } else if (
          command === 'npm cache clean --force' ||
          /^mkdir -p \/data$|^chown node:node \/data$/.test(command)
        ) {
          // The image's own housekeeping: /data is the temp data directory here.
        } else {
          fail(`RUN ${command}: unknown step, teach scripts/check-image-layout.mjs what it means`);
        }
      }
    } else if (keyword === 'USER') {
      user = args;
    } else if (keyword === 'HEALTHCHECK') {
      healthcheck = JSON.parse(args.slice(args.indexOf('CMD') + 3).trim());
    } else if (keyword === 'CMD') {
      cmd = JSON.parse(args);
    } else {
      fail(`${keyword}: unknown instruction, teach scripts/check-image-layout.mjs what it means`);
    }
  }
  if (!cmd || !healthcheck || user !== 'node')
    fail('expected CMD, HEALTHCHECK and USER node in the runtime stage');

  // ---- as an unprivileged user (the image's `node`; here `nobody` when running as root) ---------
  const home = join(image, 'home');
  const runEnv = {
    ...env,
    DATA_DIR: data,
    HOST: '127.0.0.1',
    HOME: home,
    npm_config_cache: join(home, '.npm'),
  };
  mkdirSync(data);
  mkdirSync(home);
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    for (const dir of [data, home]) chownSync(dir, 65534, 65534);
  }
  const run = (argv, extra = {}) =>
    execFileSync(argv[0], argv.slice(1), {
      cwd: app,
      env: { ...runEnv, ...extra },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(asRoot ? { uid: 65534, gid: 65534 } : {}),
    });

  const manifest = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8'));
  const tools = Object.entries(manifest.scripts)
    .filter(([, script]) => script.includes('scripts/run-built.mjs'))
    .map(([name]) => name);
  for (const tool of tools) {
    const usage = run(['npm', 'run', '--silent', tool, '--', '--help']);
    if (!/usage/i.test(usage)) fail(`npm run ${tool} -- --help printed no usage: ${usage}`);
  }
  say(`--help works for ${tools.join(', ')}`);

  // The README's commands for a running container (`docker compose exec api …`).
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const commands = [
    ...new Set(
      [...readme.matchAll(/docker compose exec api ((?:node|npm) [^\n`]+)/g)].map((m) => m[1].trim()),
    ),
  ];
  if (commands.length === 0) fail('the README names no `docker compose exec api` command');
  for (const command of commands) {
    const argv = command.split(/\s+/);
    try {
      run(argv);
    } catch (error) {
      fail(`${command} failed in the image layout: ${error.stderr || error.message}`);
    }
    say(`${command}: ok`);
  }

  // ---- the image's CMD, then its HEALTHCHECK -----------------------------------------------------
  const port = await new Promise((done) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port: free } = server.address();
      server.close(() => done(free));
    });
  });
  const server = spawn(cmd[0], cmd.slice(1), {
    cwd: app,
    env: { ...runEnv, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'pipe'],
    ...(asRoot ? { uid: 65534, gid: 65534 } : {}),
  });
  let stderr = '';
  server.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const exited = new Promise((done) => server.once('exit', (code) => done(code)));
  let healthy = false;
  for (let i = 0; i < 120 && !healthy && server.exitCode === null; i++) {
    try {
      run(healthcheck, { PORT: String(port) });
      healthy = (await fetch(`http://127.0.0.1:${port}/ready`)).status === 200;
    } catch {
      // not yet
    }
    if (!healthy) await sleep(500);
  }
  server.kill('SIGTERM');
  const code = await exited;
  if (!healthy) fail(`the server did not become healthy and ready: ${stderr}`);
  if (code !== 0) fail(`the server exited ${code} on SIGTERM: ${stderr}`);
  say('the image CMD serves, its HEALTHCHECK passes, SIGTERM stops it cleanly');
} catch (error) {
  console.error(`image layout: ${error instanceof LayoutError ? error.message : error.stack}`);
  process.exitCode = 1;
} finally {
  rmSync(image, { recursive: true, force: true });
}
