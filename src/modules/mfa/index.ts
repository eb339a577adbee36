import type { CeremonyStore } from './ceremony-store.js';
import type { TotpSecretBox } from './secret-box.js';

/** What this feature adds to the app's dependencies (see src/kernel/deps.ts). */
declare module '../../kernel/deps.js' {
  interface Deps {
    /** Second factors: TOTP secrets' sealing, and WebAuthn challenges between start and finish. */
    mfa: { secrets: TotpSecretBox; ceremonies: CeremonyStore };
  }
}
