import { expect } from 'vitest';
import type { Actor } from './fixtures.js';
import type { TestServer } from './server.js';

/** The user agent every audited call of the audit tests sends, to find it on the events. */
export const AUDIT_UA = 'AuditActions/1.0 (test)';

export interface AuditEventView {
  tenantId: string;
  actorId: string | null;
  actor: { id: string } | null;
  action: string;
  targetType: string | null;
  targetId: string | null;
  ipAddress: string | null;
  userAgent: string | null;
  metadata: Record<string, unknown> | null;
  createdAt: string;
}

/**
 * Calls made with AUDIT_UA, and the audit trail as a system ADMIN reads it through auditEvents.
 * Takes getters: the server and the ADMIN exist only once the test file's beforeAll has run.
 */
export function auditProbe(server: () => TestServer, system: () => Actor) {
  const call = (query: string, variables: Record<string, unknown> = {}, token?: string) =>
    server().gql(query, variables, { token, headers: { 'user-agent': AUDIT_UA } });

  async function ok(query: string, variables: Record<string, unknown> = {}, token?: string) {
    const answer = await call(query, variables, token);
    expect(answer.errors, JSON.stringify(answer.errors)).toBeUndefined();
    // biome-ignore lint/style/noNonNullAssertion: checked just above
    return answer.data!;
  }

  /** A tenant's events with this action, newest first. */
  async function events(tenantId: string, action: string): Promise<AuditEventView[]> {
    const data = await ok(
      `query ($tenantId: ID, $filter: AuditEventFilter) { auditEvents(first: 100, tenantId: $tenantId, filter: $filter) {
        nodes { tenantId actorId actor { id } action targetType targetId ipAddress userAgent metadata createdAt } } }`,
      { tenantId, filter: { action } },
      system().token,
    );
    return data.auditEvents.nodes;
  }

  /** The newest event with this action, checked for who, what, where (IP, user agent) and when. */
  async function expectEvent(
    tenantId: string,
    action: string,
    expected: {
      actorId: string | null;
      targetType: string | null;
      targetId: string | null;
      metadata?: unknown;
    },
  ): Promise<AuditEventView> {
    const [event] = await events(tenantId, action);
    expect(event, `${action} in ${tenantId}`).toBeDefined();
    expect(event).toMatchObject({
      tenantId,
      action,
      actorId: expected.actorId,
      targetType: expected.targetType,
      targetId: expected.targetId,
      ipAddress: '127.0.0.1',
      userAgent: AUDIT_UA,
      createdAt: server().clock.now().toISOString(),
    });
    if (expected.metadata !== undefined) expect(event?.metadata).toEqual(expected.metadata);
    return event as AuditEventView;
  }

  return { call, ok, events, expectEvent };
}
