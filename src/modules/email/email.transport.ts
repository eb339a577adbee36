import type { Logger } from '../../kernel/logger.js';

/** One message as the outbox hands it to a transport. */
export interface OutgoingEmail {
  to: string;
  subject: string;
  text: string;
  html: string;
  /** The message's link, for the log transport. */
  link: string;
  kind: string;
}

export interface EmailTransport {
  /** 'smtp' or 'log', for the start-up line. */
  readonly kind: 'smtp' | 'log';
  /** Resolves once the mail server accepted the message; rejects with the server's reason. */
  send(message: OutgoingEmail): Promise<void>;
  close(): void;
}

/**
 * Whether a failure is final: the server refused the message for good (SMTP 5xx, e.g. "mailbox
 * unavailable"). Everything else (refused connections, timeouts, 4xx) is worth another try.
 */
export function isPermanentFailure(error: unknown): boolean {
  const code = (error as { responseCode?: unknown } | null)?.responseCode;
  return typeof code === 'number' && code >= 500 && code < 600;
}

/**
 * SMTP through nodemailer (`smtp://` with STARTTLS when the server offers it, `smtps://` with
 * TLS from the first byte), or, without SMTP_URL, the log: one info line per message with its
 * recipient, subject and link, so that development needs no mail server.
 */
export async function createEmailTransport(options: {
  smtpUrl: string | undefined;
  from: string;
  logger: Logger;
}): Promise<EmailTransport> {
  const { smtpUrl, from, logger } = options;
  if (!smtpUrl) {
    return {
      kind: 'log',
      async send(message) {
        logger.info(
          {
            event: 'email',
            kind: message.kind,
            to: message.to,
            subject: message.subject,
            link: message.link,
          },
          `email to ${message.to}: "${message.subject}" ${message.link} (not sent: SMTP_URL is unset)`,
        );
      },
      close() {},
    };
  }
  const nodemailer = await import('nodemailer');
  const transporter = nodemailer.createTransport({
    url: smtpUrl,
    // Bounded, so that a claimed message is settled long before its claim lapses (outbox.worker.ts).
    connectionTimeout: 15_000,
    greetingTimeout: 15_000,
    socketTimeout: 60_000,
    disableFileAccess: true,
    disableUrlAccess: true,
  } as Parameters<typeof nodemailer.createTransport>[0]);
  return {
    kind: 'smtp',
    async send(message) {
      await transporter.sendMail({
        from,
        to: message.to,
        subject: message.subject,
        text: message.text,
        html: message.html,
      });
    },
    close() {
      transporter.close();
    },
  };
}
