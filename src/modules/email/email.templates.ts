import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { stripControlCharacters } from '../../kernel/text.js';

/**
 * The emails the service sends, each a subject, a plain-text part and an HTML part with
 * `{{placeholders}}`. A deployment may replace any of the three files per kind from
 * EMAIL_TEMPLATES_DIR (`<kind>.subject.txt`, `<kind>.txt`, `<kind>.html`); what it leaves out
 * keeps the built-in text. Values are HTML-escaped in the HTML part and freed of line breaks in
 * the subject, so a tenant or display name can neither inject markup nor forge headers.
 */

export const EMAIL_KINDS = ['password-reset', 'email-verification', 'invitation'] as const;
export type EmailKind = (typeof EMAIL_KINDS)[number];

/** What every template may use; `{{link}}` is the one the plain-text part must contain. */
export const TEMPLATE_VARIABLES = [
  'tenantName',
  'appUrl',
  'link',
  'email',
  'displayName',
  'expiresIn',
  'role',
  'inviterName',
] as const;
export type TemplateVariable = (typeof TEMPLATE_VARIABLES)[number];
export type TemplateValues = Record<TemplateVariable, string>;

interface TemplateSet {
  subject: string;
  text: string;
  html: string;
}

const page = (heading: string, body: string, button: string, after: string) => `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>${heading}</title></head>
<body style="font-family: -apple-system, Segoe UI, Helvetica, Arial, sans-serif; color: #1f2328; line-height: 1.5">
<p>${body}</p>
<p><a href="{{link}}" style="display: inline-block; padding: 10px 18px; background: #0b57d0; color: #ffffff; text-decoration: none; border-radius: 6px">${button}</a></p>
<p style="font-size: 13px; color: #57606a">Or copy this link into your browser:<br><a href="{{link}}">{{link}}</a></p>
<p style="font-size: 13px; color: #57606a">${after}</p>
<p style="font-size: 13px; color: #57606a">{{tenantName}} &middot; <a href="{{appUrl}}">{{appUrl}}</a></p>
</body>
</html>
`;

const BUILT_IN: Record<EmailKind, TemplateSet> = {
  'password-reset': {
    subject: 'Reset your {{tenantName}} password',
    text: `Someone (hopefully you) asked to reset the password of the {{tenantName}} account {{email}}.

Choose a new password here (the link works once, for {{expiresIn}}):

{{link}}

If you did not ask for this, ignore this email: your password stays as it is.

{{tenantName}} - {{appUrl}}
`,
    html: page(
      'Reset your password',
      'Someone (hopefully you) asked to reset the password of the {{tenantName}} account <strong>{{email}}</strong>.',
      'Choose a new password',
      'The link works once, for {{expiresIn}}. If you did not ask for this, ignore this email: your password stays as it is.',
    ),
  },
  'email-verification': {
    subject: 'Confirm your email address for {{tenantName}}',
    text: `Please confirm that {{email}} is your email address for {{tenantName}}:

{{link}}

The link works once, for {{expiresIn}}. If you did not sign up, ignore this email.

{{tenantName}} - {{appUrl}}
`,
    html: page(
      'Confirm your email address',
      'Please confirm that <strong>{{email}}</strong> is your email address for {{tenantName}}.',
      'Confirm my email address',
      'The link works once, for {{expiresIn}}. If you did not sign up, ignore this email.',
    ),
  },
  invitation: {
    subject: "You're invited to {{tenantName}}",
    text: `{{inviterName}} invited you ({{email}}) to join {{tenantName}} as {{role}}.

Accept the invitation and choose your password here (the link works once, for {{expiresIn}}):

{{link}}

If you do not want to join, ignore this email.

{{tenantName}} - {{appUrl}}
`,
    html: page(
      "You're invited",
      '{{inviterName}} invited you (<strong>{{email}}</strong>) to join {{tenantName}} as {{role}}.',
      'Accept the invitation',
      'The link works once, for {{expiresIn}}. If you do not want to join, ignore this email.',
    ),
  },
};

export class EmailTemplateError extends Error {
  override name = 'EmailTemplateError';
}

export interface RenderedEmail {
  subject: string;
  text: string;
  html: string;
}

const PLACEHOLDER = /\{\{\s*([A-Za-z]+)\s*\}\}/g;

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] as string);
}

/** Control characters (line breaks included) become spaces: a value never starts a new header or line. */
function oneLine(value: string): string {
  // Line and paragraph separators end a line too: made line feeds, they join the run around them.
  return stripControlCharacters(value.replace(/[\u2028\u2029]/g, '\n'));
}

function fill(template: string, values: TemplateValues, encode: (value: string) => string): string {
  return template.replace(PLACEHOLDER, (_all, name: string) =>
    encode(oneLine(values[name as TemplateVariable] ?? '')),
  );
}

export class EmailTemplates {
  private constructor(private readonly sets: Record<EmailKind, TemplateSet>) {}

  /** The built-in templates, with any files of `dir` in their place; every file is checked now. */
  static async load(dir: string | undefined): Promise<EmailTemplates> {
    const sets = structuredClone(BUILT_IN);
    if (dir === undefined) return new EmailTemplates(sets);
    const info = await stat(dir).catch(() => undefined);
    if (!info?.isDirectory()) {
      throw new EmailTemplateError(`EMAIL_TEMPLATES_DIR (${dir}) is not a readable directory`);
    }
    for (const kind of EMAIL_KINDS) {
      for (const [part, file] of [
        ['subject', `${kind}.subject.txt`],
        ['text', `${kind}.txt`],
        ['html', `${kind}.html`],
      ] as const) {
        const content = await readFile(join(dir, file), 'utf8').catch((error: NodeJS.ErrnoException) => {
          if (error.code === 'ENOENT') return undefined;
          throw new EmailTemplateError(
            `EMAIL_TEMPLATES_DIR: cannot read ${file}: ${error.code ?? error.message}`,
          );
        });
        if (content === undefined) continue;
        checkTemplate(file, part, content);
        sets[kind][part] = part === 'subject' ? content.trim() : content;
      }
    }
    return new EmailTemplates(sets);
  }

  render(kind: EmailKind, values: TemplateValues): RenderedEmail {
    const set = this.sets[kind];
    return {
      subject: fill(set.subject, values, (v) => v).trim(),
      text: fill(set.text, values, (v) => v),
      html: fill(set.html, values, escapeHtml),
    };
  }
}

function checkTemplate(file: string, part: 'subject' | 'text' | 'html', content: string): void {
  for (const match of content.matchAll(PLACEHOLDER)) {
    const name = match[1] as string;
    if (!(TEMPLATE_VARIABLES as readonly string[]).includes(name)) {
      throw new EmailTemplateError(
        `EMAIL_TEMPLATES_DIR: ${file} uses an unknown placeholder {{${name}}} (known: ${TEMPLATE_VARIABLES.join(', ')})`,
      );
    }
  }
  if (part === 'subject' && (content.trim() === '' || /[\r\n]/.test(content.trim()))) {
    throw new EmailTemplateError(`EMAIL_TEMPLATES_DIR: ${file} must be one non-empty line`);
  }
  if (part === 'text' && !/\{\{\s*link\s*\}\}/.test(content)) {
    throw new EmailTemplateError(`EMAIL_TEMPLATES_DIR: ${file} must contain {{link}}`);
  }
}

/** "30 minutes", "24 hours", "7 days": how long a link works, as the email says it. */
export function describeDuration(seconds: number): string {
  const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'}`;
  if (seconds % 86_400 === 0 && seconds >= 2 * 86_400) return plural(seconds / 86_400, 'day');
  if (seconds % 3_600 === 0) return plural(seconds / 3_600, 'hour');
  return plural(Math.round(seconds / 60), 'minute');
}
