import type { EventBus } from './event-bus.js';

/** What this feature adds to the app's dependencies (see src/kernel/deps.ts). */
declare module '../../kernel/deps.js' {
  interface Deps {
    /** Live events for subscriptions (Redis pub/sub, or in-process without Redis). */
    events: EventBus;
  }
}
