import type { EmailBudget } from './email-budget.js';
import type { AuthRateLimiter } from './rate-limits.js';

/** What this feature adds to the app's dependencies (see src/kernel/deps.ts). */
declare module '../../kernel/deps.js' {
  interface Deps {
    authRateLimiter: AuthRateLimiter;
    /** Emails of one kind per address per hour (no mail bombing). */
    emailBudget: EmailBudget;
  }
}
