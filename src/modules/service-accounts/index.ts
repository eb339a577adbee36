import type { ServiceAccountsRuntime } from './runtime.js';

/** What this feature adds to the app's dependencies (see src/kernel/deps.ts). */
declare module '../../kernel/deps.js' {
  interface Deps {
    /** Service accounts' credential checks, caches and usage counts. */
    serviceAccounts: ServiceAccountsRuntime;
  }
}
