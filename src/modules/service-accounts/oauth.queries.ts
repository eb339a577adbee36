import { and, eq, isNull } from 'drizzle-orm';
import type { Executor } from '../../db/client.js';
import { sessions } from '../../db/schema.js';

/** SQL of the OAuth endpoints that is not about service accounts themselves. */

/** The session whose current refresh token has this hash, while it has not ended. */
export async function findOpenSessionByRefreshHash(
  db: Executor,
  tenantId: string,
  hash: Buffer,
): Promise<{ id: string; userId: string; createdAt: Date; expiresAt: Date } | undefined> {
  const [row] = await db
    .select({
      id: sessions.id,
      userId: sessions.userId,
      createdAt: sessions.createdAt,
      expiresAt: sessions.expiresAt,
    })
    .from(sessions)
    .where(
      and(eq(sessions.tenantId, tenantId), eq(sessions.refreshTokenHash, hash), isNull(sessions.endedAt)),
    )
    .limit(1);
  return row;
}
