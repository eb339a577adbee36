import type { SessionGuard } from './session-guard.js';

/** What this feature adds to the app's dependencies (see src/kernel/deps.ts). */
declare module '../../kernel/deps.js' {
  interface Deps {
    sessionGuard: SessionGuard;
  }
}
