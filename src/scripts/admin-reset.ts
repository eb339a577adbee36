import 'reflect-metadata';
import { systemClock } from '../kernel/clock.js';
import { PasswordHasher } from '../modules/passwords/index.js';
import { framePassword, printToStderr } from '../modules/tenants/bootstrap.js';
import { resetSystemAdmin } from '../modules/tenants/system-admin.service.js';
import { cliConfig, runCli, UsageError, withDatabase } from './cli.js';

await runCli({
  usage: `
usage: npm run admin:reset -- --email <email>
       (in the Docker image: node dist/scripts/admin-reset.js --email <email>)

Gives the system-tenant ADMIN with this email a new generated password, printed once on stderr;
the account is unlocked and re-activated and its sessions end. When the system tenant has no user
with this email, a new ADMIN is created with it. Written to the audit trail.

Uses the same configuration as the server (DATABASE_URL, or the embedded database in DATA_DIR,
which must not be in use by a running server: stop it first).`,
  options: { email: { type: 'string' } },
  run: async ({ values }) => {
    if (!values.email) throw new UsageError('--email is required');
    const email = values.email;
    const config = cliConfig();
    const hasher = new PasswordHasher({ cost: config.passwords.bcryptCost, pepper: config.passwords.pepper });
    const reset = await withDatabase(config, (database) =>
      resetSystemAdmin(database.db, { config, hasher, clock: systemClock }, email),
    );
    printToStderr(
      framePassword({
        title: reset.created
          ? 'System administrator created'
          : `New password for the system administrator (${reset.endedSessions} session(s) ended)`,
        tenant: config.systemTenantSlug,
        email: reset.email,
        password: reset.password,
        after: ['Sign in and change it (changePassword).'],
      }),
    );
  },
});
