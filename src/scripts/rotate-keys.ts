import { loadConfig } from '../config.js';
import { connectDatabase } from '../db/client.js';
import { systemClock } from '../lib/clock.js';
import { SigningKeyStore } from '../modules/keys/index.js';

/**
 * `npm run keys:rotate`: retires the active signing key and makes a new one. Running instances
 * pick the new key up on their next reload (a token with an unknown kid triggers one), and tokens
 * signed with the old key keep verifying until they expire.
 */
async function main(): Promise<void> {
  const config = loadConfig();
  if (config.jwt.signingKeyJwk) {
    throw new Error('SIGNING_KEY_JWK is set, so the service signs with that key: rotate by replacing it');
  }
  const database = await connectDatabase(config.database);
  try {
    await database.migrate();
    const store = await SigningKeyStore.open(database.db, {
      direct: database.withDirect,
      keyEncryptionKey: config.jwt.keyEncryptionKey,
      clock: systemClock,
      maxAccessTokenTtlSeconds: config.jwt.accessTokenTtlSeconds,
    });
    const { kid, retiredKid } = await store.rotate();
    console.log(`Rotated signing key: new kid ${kid}, retired ${retiredKid ?? '(none)'}`);
  } finally {
    await database.close();
  }
}

main().catch((error: unknown) => {
  // ConfigError and SigningKeyError messages are written to be shown and never carry secrets;
  // a one-liner beats a stack trace for an operator.
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
