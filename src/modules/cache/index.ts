import type { IdentityCache } from './identity-cache.js';

/** What this feature adds to the app's dependencies (see src/kernel/deps.ts). */
declare module '../../kernel/deps.js' {
  interface Deps {
    /** Users, tenants and session checks, in memory and Redis; invalidated after every write. */
    cache: IdentityCache;
  }
}
