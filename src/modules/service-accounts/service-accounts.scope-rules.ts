import { and, hasScope, isService, or, type ShieldRule, tenantArgumentAllowed } from '../../kernel/rules.js';
import type { Scope } from './scopes.js';

/**
 * What each scope opens to a service caller, field by field: the contract's scope list as
 * graphql-shield rules. The permission layer joins each to the field's own rule with `or`, so a
 * person is decided by the role rules and a service by these; a field named nowhere here stays
 * closed to services (the role rules never admit one). `'*'` names every field of a type.
 */

const scope = (name: Scope) => hasScope(name);
const usersRead = scope('users:read');
const usersWrite = scope('users:write');
const sessionsRead = scope('sessions:read');
const sessionsRevoke = scope('sessions:revoke');
const tenantRead = scope('tenant:read');
const auditRead = scope('audit:read');
const invitationsWrite = scope('invitations:write');
/** The user a write returned is readable by the service that wrote it. */
const readsUsers = or(usersRead, usersWrite);

export type ScopeRuleMap = Record<string, Record<string, ShieldRule>>;

export const serviceScopeRules: ScopeRuleMap = {
  Query: {
    viewer: isService,
    user: usersRead,
    users: and(
      usersRead,
      tenantArgumentAllowed('usersServiceTenantArgument', (args) => args.tenantId),
    ),
    usersByIds: usersRead,
    tenant: tenantRead,
    auditEvents: and(
      auditRead,
      tenantArgumentAllowed('auditServiceTenantArgument', (args) => args.tenantId),
    ),
    invitations: and(
      invitationsWrite,
      tenantArgumentAllowed('invitationsServiceTenantArgument', (args) => args.tenantId),
    ),
  },
  Mutation: {
    createUser: and(
      usersWrite,
      tenantArgumentAllowed(
        'createUserServiceTenantArgument',
        (args) => (args.input as { tenantId?: unknown } | undefined)?.tenantId,
      ),
    ),
    updateUser: usersWrite,
    deleteUser: usersWrite,
    unlockUser: usersWrite,
    setUserPassword: usersWrite,
    revokeSession: sessionsRevoke,
    revokeUserSessions: sessionsRevoke,
    inviteUser: and(
      invitationsWrite,
      tenantArgumentAllowed(
        'inviteUserServiceTenantArgument',
        (args) => (args.input as { tenantId?: unknown } | undefined)?.tenantId,
      ),
    ),
    revokeInvitation: invitationsWrite,
  },
  // Who may open the stream is decided in its subscribe step (subscriptions.ts); this is the
  // second line, as the role rule is for people.
  Subscription: {
    auditEventAdded: and(
      auditRead,
      tenantArgumentAllowed('auditEventAddedServiceTenantArgument', (args) => args.tenantId),
    ),
  },
  User: {
    id: readsUsers,
    tenant: readsUsers,
    email: readsUsers,
    displayName: readsUsers,
    role: readsUsers,
    status: readsUsers,
    lockedUntil: readsUsers,
    lastLoginAt: readsUsers,
    createdAt: readsUsers,
    updatedAt: readsUsers,
    emailVerifiedAt: readsUsers,
    mfaEnabled: readsUsers,
    sessions: sessionsRead,
  },
  UserConnection: { '*': usersRead },
  UserEdge: { '*': usersRead },
  Session: { '*': sessionsRead },
  // A tenant's name and status reach a service through viewer and User.tenant.
  Tenant: {
    id: isService,
    slug: isService,
    name: isService,
    status: isService,
    createdAt: isService,
    updatedAt: isService,
    settings: tenantRead,
    stats: tenantRead,
  },
  TenantSettings: { '*': tenantRead },
  TenantStats: { '*': tenantRead },
  RoleCount: { '*': tenantRead },
  StatusCount: { '*': tenantRead },
  AuditEvent: { '*': auditRead },
  AuditEventConnection: { '*': auditRead },
  AuditEventEdge: { '*': auditRead },
  Invitation: { '*': invitationsWrite },
  InvitationConnection: { '*': invitationsWrite },
  InvitationEdge: { '*': invitationsWrite },
  PageInfo: { '*': isService },
};
