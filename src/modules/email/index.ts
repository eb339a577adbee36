import type { Mailer } from './email.service.js';

/** What this feature adds to the app's dependencies (see src/kernel/deps.ts). */
declare module '../../kernel/deps.js' {
  interface Deps {
    /** Email templates and the outbox. */
    mailer: Mailer;
  }
}
