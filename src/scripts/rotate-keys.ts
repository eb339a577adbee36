import 'reflect-metadata';
import { systemClock } from '../kernel/clock.js';
import { insertAuditEvent } from '../modules/audit/audit.queries.js';
import { SigningKeyError, SigningKeyStore } from '../modules/keys/index.js';
import { ensureSystemTenant } from '../modules/tenants/bootstrap.js';
import { cliConfig, runCli, withDatabase } from './cli.js';

await runCli({
  usage: `
usage: npm run keys:rotate
       (in the Docker image: node dist/scripts/rotate-keys.js)

Retires the active signing key and makes a new one. Running instances pick the new key up on
their next reload (a token with an unknown kid triggers one, and every instance reloads each
minute); tokens signed with the old key keep verifying until they expire. Written to the audit
trail of the system tenant. Not available while SIGNING_KEY_JWK pins the key (replace it instead).

Uses the same configuration as the server (DATABASE_URL, or the embedded database in DATA_DIR,
which must not be in use by a running server: stop it first).`,
  run: async () => {
    const config = cliConfig();
    if (config.jwt.signingKeyJwk) {
      throw new SigningKeyError(
        'SIGNING_KEY_JWK is set, so the service signs with that key: rotate by replacing it',
      );
    }
    const { kid, retiredKid } = await withDatabase(config, async (database) => {
      const store = await SigningKeyStore.open(database.db, {
        direct: database.withDirect,
        keyEncryptionKey: config.jwt.keyEncryptionKey,
        clock: systemClock,
        maxAccessTokenTtlSeconds: config.jwt.accessTokenTtlSeconds,
      });
      return store.rotate(async (tx, rotated) => {
        const system = await ensureSystemTenant(tx, { config, clock: systemClock });
        // Stored in the rotation's own transaction. A command line has no event bus: nobody is
        // subscribed to this process, so there is nothing to announce.
        await insertAuditEvent(
          tx,
          { ip: null, userAgent: 'keys:rotate (command line)' },
          {
            tenantId: system.id,
            actorId: null,
            action: 'keys.rotated',
            // Key ids are thumbprints, not uuids: they go in the metadata.
            metadata: { kid: rotated.kid, retiredKid: rotated.retiredKid ?? null, via: 'keys:rotate' },
            at: systemClock.now(),
          },
        );
      });
    });
    console.log(`Rotated signing key: new kid ${kid}, retired ${retiredKid ?? '(none)'}`);
  },
});
