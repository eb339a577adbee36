import type { TenantRow } from '../../db/schema.js';
import type { UnitOfWork } from '../../kernel/unit-of-work.js';
import { tenantSettings } from '../tenants/settings.js';
import { insertOutboxMessage } from './email.queries.js';
import {
  describeDuration,
  type EmailKind,
  type EmailTemplates,
  type TemplateValues,
} from './email.templates.js';
import type { OutboxWorker } from './outbox.worker.js';

/** The paths of the pages a tenant's app hosts for each email's link (see the README). */
export const LINK_PATHS: Record<EmailKind, string> = {
  'password-reset': '/reset-password',
  'email-verification': '/verify-email',
  invitation: '/accept-invitation',
};

/** What writing an email needs: the templates, the outbox to wake, the default link base. */
export class Mailer {
  constructor(
    readonly templates: EmailTemplates,
    readonly outbox: OutboxWorker,
    /** PUBLIC_URL, for tenants without an appUrl. */
    readonly publicUrl: string,
  ) {}
}

/** Where a tenant's links point: its appUrl, else the service's PUBLIC_URL. */
export function linkBase(mailer: Pick<Mailer, 'publicUrl'>, tenant: Pick<TenantRow, 'settings'>): string {
  return (tenantSettings(tenant).appUrl ?? mailer.publicUrl).replace(/\/+$/, '');
}

export interface QueuedEmail {
  tenant: Pick<TenantRow, 'id' | 'name' | 'settings'>;
  kind: EmailKind;
  to: string;
  /** The single-use token the link carries (the only query parameter). */
  token: string;
  expiresInSeconds: number;
  values?: Partial<Pick<TemplateValues, 'displayName' | 'role' | 'inviterName'>>;
  now: Date;
}

/**
 * Renders an email and writes it to the outbox in `w`, the write that makes the change the email
 * tells of: it is sent if and only if that change commits. This instance's worker is woken once
 * it has.
 */
export async function queueEmail(w: UnitOfWork, mailer: Mailer, email: QueuedEmail): Promise<void> {
  const base = linkBase(mailer, email.tenant);
  const link = `${base}${LINK_PATHS[email.kind]}?token=${encodeURIComponent(email.token)}`;
  const rendered = mailer.templates.render(email.kind, {
    tenantName: email.tenant.name,
    appUrl: base,
    link,
    email: email.to,
    displayName: email.values?.displayName ?? '',
    expiresIn: describeDuration(email.expiresInSeconds),
    role: email.values?.role ?? '',
    inviterName: email.values?.inviterName ?? '',
  });
  await insertOutboxMessage(w.tx, {
    tenantId: email.tenant.id,
    kind: email.kind,
    recipient: email.to,
    subject: rendered.subject,
    content: { text: rendered.text, html: rendered.html, link },
    now: email.now,
  });
  w.afterCommit(() => mailer.outbox.nudge());
}
