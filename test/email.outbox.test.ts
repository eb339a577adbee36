import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { auditEvents, emailOutbox } from '../src/db/schema.js';
import { insertOutboxMessage } from '../src/modules/email/email.queries.js';
import { EmailTemplateError, EmailTemplates } from '../src/modules/email/email.templates.js';
import { createTenant, registerUser, unique } from './support/fixtures.js';
import { startTestServer, type TestServer } from './support/server.js';
import { TestSmtpServer } from './support/smtp.js';

/** The transactional outbox: delivery by several instances, outages, giving up, the log transport. */

const REQUEST = 'mutation ($input: RequestPasswordResetInput!) { requestPasswordReset(input: $input) }';

async function settle(server: TestServer) {
  await server.app.services.background.idle();
  return server.app.services.mailer.outbox.deliverDue();
}

function outboxRows(server: TestServer, recipient: string) {
  return server.testDatabase.database.db
    .select()
    .from(emailOutbox)
    .where(eq(emailOutbox.recipient, recipient));
}

describe('two instances over one database', () => {
  let smtp: TestSmtpServer;
  let first: TestServer;
  let second: TestServer;

  beforeAll(async () => {
    smtp = await new TestSmtpServer().start();
    first = await startTestServer({ SMTP_URL: smtp.url, EMAIL_POLL_SECONDS: '1' });
    second = await startTestServer(
      { SMTP_URL: smtp.url, EMAIL_POLL_SECONDS: '1' },
      { database: first.testDatabase },
    );
  });
  afterAll(async () => {
    await second?.close();
    await first?.close();
    await smtp?.stop();
  });

  it('deliver each outbox message exactly once, however their rounds overlap', async () => {
    const tenant = await createTenant(first);
    const recipients = Array.from({ length: 40 }, () => `${unique('many')}@example.test`);
    const now = first.clock.now();
    for (const recipient of recipients) {
      await insertOutboxMessage(first.testDatabase.database.db, {
        tenantId: tenant.id,
        kind: 'password-reset',
        recipient,
        subject: 'one of many',
        content: {
          text: `see https://x.test/reset-password?token=${recipient}`,
          html: '<p>x</p>',
          link: 'x',
        },
        now,
      });
    }
    // Both instances at once, several times over, while their pollers run too.
    await Promise.all([
      first.app.services.mailer.outbox.deliverDue(),
      second.app.services.mailer.outbox.deliverDue(),
      first.app.services.mailer.outbox.deliverDue(),
      second.app.services.mailer.outbox.deliverDue(),
    ]);
    await Promise.all([settle(first), settle(second)]);
    for (const recipient of recipients) {
      expect(smtp.to(recipient), recipient).toHaveLength(1);
      const [row] = await outboxRows(first, recipient);
      expect(row?.status).toBe('SENT');
      expect(row?.attempts).toBe(1);
      expect(row?.content).toBeNull();
    }
  });
});

describe('two instances, emails written through the API of each', () => {
  let smtp: TestSmtpServer;
  let first: TestServer;
  let second: TestServer;

  beforeAll(async () => {
    smtp = await new TestSmtpServer().start();
    first = await startTestServer({ SMTP_URL: smtp.url, EMAIL_POLL_SECONDS: '1' });
    second = await startTestServer(
      { SMTP_URL: smtp.url, EMAIL_POLL_SECONDS: '1' },
      { database: first.testDatabase },
    );
  });
  afterAll(async () => {
    await second?.close();
    await first?.close();
    await smtp?.stop();
  });

  it('each reset asked of either instance arrives exactly once, whichever instance delivers it', async () => {
    const tenantSlug = (await createTenant(first)).slug;
    const users = await Promise.all(Array.from({ length: 12 }, () => registerUser(first, tenantSlug)));
    await Promise.all(
      users.map((user, i) =>
        (i % 2 === 0 ? first : second).gql(REQUEST, { input: { tenant: tenantSlug, email: user.email } }),
      ),
    );
    // Both instances deliver at once (each woke its own worker on commit, and both poll).
    await Promise.all([settle(first), settle(second), settle(first), settle(second)]);
    for (const user of users) {
      const [mail] = await smtp.waitFor(user.email);
      expect(mail?.link).toContain('/reset-password?token=');
    }
    // Nothing more arrives later either.
    await Promise.all([settle(first), settle(second)]);
    for (const user of users) {
      expect(smtp.to(user.email), user.email).toHaveLength(1);
      const rows = await outboxRows(first, user.email);
      expect(rows.map((row) => [row.status, row.attempts])).toEqual([['SENT', 1]]);
    }
  });
});

describe('the mail server is down', () => {
  let smtp: TestSmtpServer;
  let server: TestServer;
  let tenantSlug: string;

  beforeAll(async () => {
    smtp = await new TestSmtpServer().start();
    await smtp.stop(); // its port now refuses connections
    server = await startTestServer({
      SMTP_URL: smtp.url,
      EMAIL_RETRY_BASE_SECONDS: '60',
      EMAIL_RETRY_MAX_SECONDS: '600',
      EMAIL_GIVE_UP_AFTER_MINUTES: '30',
    });
    tenantSlug = (await createTenant(server)).slug;
  });
  afterAll(async () => {
    await server?.close();
    await smtp?.stop();
  });

  it('keeps the message, records the attempt and the error, and delivers it once the server is back', async () => {
    const user = await registerUser(server, tenantSlug);
    expect((await server.gql(REQUEST, { input: { tenant: tenantSlug, email: user.email } })).data).toEqual({
      requestPasswordReset: true,
    });
    expect(await settle(server)).toMatchObject({ retried: 1, sent: 0 });
    let [row] = await outboxRows(server, user.email);
    expect(row).toMatchObject({ status: 'PENDING', attempts: 1 });
    expect(row?.lastError).toMatch(/ECONNREFUSED|connect/i);
    const firstDelay = (row?.nextAttemptAt.getTime() ?? 0) - server.clock.now().getTime();
    // 60 s base, equal jitter: between 30 and 60 seconds.
    expect(firstDelay).toBeGreaterThanOrEqual(30_000);
    expect(firstDelay).toBeLessThanOrEqual(60_000);

    // Still down at the next attempt: the wait doubles.
    server.clock.advance(61_000);
    expect(await settle(server)).toMatchObject({ retried: 1 });
    [row] = await outboxRows(server, user.email);
    const secondDelay = (row?.nextAttemptAt.getTime() ?? 0) - server.clock.now().getTime();
    expect(secondDelay).toBeGreaterThanOrEqual(60_000);
    expect(secondDelay).toBeLessThanOrEqual(120_000);

    await smtp.start(); // back, on the same port
    // Not due yet: nothing is sent before its time.
    expect(await settle(server)).toMatchObject({ sent: 0 });
    server.clock.advance(121_000);
    expect(await settle(server)).toMatchObject({ sent: 1 });
    const [mail] = await smtp.waitFor(user.email);
    expect(mail?.link).toContain('/reset-password?token=');
    [row] = await outboxRows(server, user.email);
    expect(row).toMatchObject({ status: 'SENT', attempts: 3, content: null });
    await smtp.stop();
  });

  it('gives up after EMAIL_GIVE_UP_AFTER_MINUTES, with an audit event', async () => {
    const user = await registerUser(server, tenantSlug);
    await server.gql(REQUEST, { input: { tenant: tenantSlug, email: user.email } });
    await settle(server);
    server.clock.advance(31 * 60_000);
    expect(await settle(server)).toMatchObject({ failed: 1 });
    const [row] = await outboxRows(server, user.email);
    expect(row).toMatchObject({ status: 'FAILED', content: null });
    expect(row?.attempts).toBeGreaterThanOrEqual(2);
    const audit = await server.testDatabase.database.db
      .select()
      .from(auditEvents)
      .where(and(eq(auditEvents.action, 'email.delivery_failed'), eq(auditEvents.targetId, row?.id ?? '')));
    expect(audit).toHaveLength(1);
    expect(audit[0]?.metadata).toMatchObject({ kind: 'password-reset', recipient: user.email });
  });
});

describe('without SMTP_URL', () => {
  it('writes each message to the log at info: recipient, subject and link, readable by a person', async () => {
    const lines: string[] = [];
    const server = await startTestServer(
      { LOG_LEVEL: 'info', PUBLIC_URL: 'http://localhost:8006' },
      { logStream: { write: (line) => lines.push(line) } },
    );
    try {
      const tenantSlug = (await createTenant(server)).slug;
      const user = await registerUser(server, tenantSlug);
      await server.gql(REQUEST, { input: { tenant: tenantSlug, email: user.email } });
      await settle(server);
      const entries = lines
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      const entry = entries.find((e) => e.event === 'email' && e.to === user.email);
      expect(entry?.level).toBe('info');
      expect(String(entry?.msg)).toContain(user.email);
      expect(String(entry?.msg)).toMatch(/Reset your .* password/);
      expect(String(entry?.msg)).toMatch(/http:\/\/localhost:8006\/reset-password\?token=[A-Za-z0-9_.-]+/);
      const [row] = await outboxRows(server, user.email);
      expect(row?.status).toBe('SENT');
    } finally {
      await server.close();
    }
  });
});

describe('configuration and templates', () => {
  it('PUBLIC_URL defaults to http://localhost:$PORT; SMTP_URL is validated and never echoed', () => {
    expect(loadConfig({}).publicUrl).toBe('http://localhost:8006');
    expect(loadConfig({ PORT: '9000' }).publicUrl).toBe('http://localhost:9000');
    expect(loadConfig({ PUBLIC_URL: 'https://id.example.com/' }).publicUrl).toBe('https://id.example.com');
    expect(() => loadConfig({ SMTP_URL: 'http://user:secret-pass@mail:25' })).toThrow(/SMTP_URL must be/);
    expect(() => loadConfig({ SMTP_URL: 'http://user:secret-pass@mail:25' })).not.toThrow(/secret-pass/);
    expect(() => loadConfig({ PUBLIC_URL: 'ftp://x' })).toThrow(/PUBLIC_URL/);
  });

  it('EMAIL_TEMPLATES_DIR replaces the parts it has; values are escaped in HTML; bad templates stop the start', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'templates-'));
    try {
      await writeFile(join(dir, 'invitation.subject.txt'), 'Join {{tenantName}} now\n');
      await writeFile(
        join(dir, 'invitation.html'),
        '<p>{{inviterName}} says hi: <a href="{{link}}">go</a></p>',
      );
      const templates = await EmailTemplates.load(dir);
      const values = {
        tenantName: 'Acme\r\nBcc: victim@example.test',
        appUrl: 'https://app.test',
        link: 'https://app.test/accept-invitation?token=abc',
        email: 'new@example.test',
        displayName: '',
        expiresIn: '7 days',
        role: 'USER',
        inviterName: '<script>alert(1)</script>',
      };
      const mail = templates.render('invitation', values);
      expect(mail.subject).toBe('Join Acme Bcc: victim@example.test now');
      expect(mail.html).toBe(
        '<p>&lt;script&gt;alert(1)&lt;/script&gt; says hi: <a href="https://app.test/accept-invitation?token=abc">go</a></p>',
      );
      // Parts not in the directory keep the built-in text, with the link verbatim.
      expect(mail.text).toContain(values.link);

      await writeFile(join(dir, 'password-reset.txt'), 'Hello {{nmae}}: {{link}}');
      await expect(EmailTemplates.load(dir)).rejects.toThrow(EmailTemplateError);
      await expect(EmailTemplates.load(dir)).rejects.toThrow(
        /password-reset\.txt uses an unknown placeholder \{\{nmae\}\}/,
      );
      await writeFile(join(dir, 'password-reset.txt'), 'Hello, no link here');
      await expect(EmailTemplates.load(dir)).rejects.toThrow(/must contain \{\{link\}\}/);
      await expect(EmailTemplates.load(join(dir, 'missing'))).rejects.toThrow(/not a readable directory/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
