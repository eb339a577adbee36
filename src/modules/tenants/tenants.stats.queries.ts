import { and, count, gt, gte, inArray, isNull } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';
import { anyOf } from '../../db/prepared.js';
import { auditEvents, type Role, sessions, type UserStatus, users } from '../../db/schema.js';

export interface TenantStatsValue {
  totalUsers: number;
  usersByRole: { role: Role; count: number }[];
  usersByStatus: { status: UserStatus; count: number }[];
  activeSessions: number;
  loginsLast24h: number;
  failedLoginsLast24h: number;
}

const ROLES: Role[] = ['ADMIN', 'MODERATOR', 'USER', 'GUEST'];
const STATUSES: UserStatus[] = ['ACTIVE', 'SUSPENDED'];
const LOGIN_SUCCEEDED = 'auth.login.succeeded';
const LOGIN_FAILED = 'auth.login.failed';
const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Statistics of several tenants from three grouped queries, however many tenants are asked for.
 * Every role and status is listed, with 0 where no user has it, so clients need no defaults.
 */
export async function loadTenantStats(
  db: Executor,
  tenantIds: readonly string[],
  now: Date,
): Promise<Map<string, TenantStatsValue>> {
  const ids = [...new Set(tenantIds)];
  const stats = new Map<string, TenantStatsValue>();
  if (ids.length === 0) return stats;
  const [userCounts, sessionCounts, loginCounts] = await Promise.all([
    db
      .select({ tenantId: users.tenantId, role: users.role, status: users.status, n: count() })
      .from(users)
      .where(anyOf(users.tenantId, ids))
      .groupBy(users.tenantId, users.role, users.status),
    db
      .select({ tenantId: sessions.tenantId, n: count() })
      .from(sessions)
      .where(and(anyOf(sessions.tenantId, ids), isNull(sessions.endedAt), gt(sessions.expiresAt, now)))
      .groupBy(sessions.tenantId),
    db
      .select({ tenantId: auditEvents.tenantId, action: auditEvents.action, n: count() })
      .from(auditEvents)
      .where(
        and(
          anyOf(auditEvents.tenantId, ids),
          inArray(auditEvents.action, [LOGIN_SUCCEEDED, LOGIN_FAILED]),
          gte(auditEvents.createdAt, new Date(now.getTime() - DAY_MS)),
        ),
      )
      .groupBy(auditEvents.tenantId, auditEvents.action),
  ]);

  for (const id of ids) {
    const mine = userCounts.filter((row) => row.tenantId === id);
    const sum = (rows: { n: number }[]) => rows.reduce((total, row) => total + Number(row.n), 0);
    const logins = loginCounts.filter((row) => row.tenantId === id);
    stats.set(id, {
      totalUsers: sum(mine),
      usersByRole: ROLES.map((role) => ({ role, count: sum(mine.filter((row) => row.role === role)) })),
      usersByStatus: STATUSES.map((status) => ({
        status,
        count: sum(mine.filter((row) => row.status === status)),
      })),
      activeSessions: sum(sessionCounts.filter((row) => row.tenantId === id)),
      loginsLast24h: sum(logins.filter((row) => row.action === LOGIN_SUCCEEDED)),
      failedLoginsLast24h: sum(logins.filter((row) => row.action === LOGIN_FAILED)),
    });
  }
  return stats;
}
