import type { AuditEventRow, SessionEndReason } from '../../db/schema.js';

/**
 * Every topic names the tenant (and, for a user's own events, the user): a subscription is
 * opened on one channel after its authorization, so it can only ever receive that channel's
 * events. On Redis the channel is `<REDIS_KEY_PREFIX>events:<topic>`.
 */
export const topics = {
  sessionEnded: (tenantId: string, userId: string) => `tenant:${tenantId}:user:${userId}:session-ended`,
  userChanged: (tenantId: string, userId: string) => `tenant:${tenantId}:user:${userId}:changed`,
  auditEventAdded: (tenantId: string) => `tenant:${tenantId}:audit`,
};

/** Payloads are JSON-safe (they cross Redis as JSON): dates travel as ISO strings. */
export interface SessionEndedPayload {
  sessionId: string;
  userId: string;
  tenantId: string;
  reason: SessionEndReason;
  at: string;
}

/** Only which user changed: subscribers re-read the user as their own permissions allow. */
export interface UserChangedPayload {
  tenantId: string;
  userId: string;
  deleted: boolean;
}

export type AuditEventPayload = Omit<AuditEventRow, 'createdAt'> & { createdAt: string };
