/**
 * Control characters: Unicode's Cc, i.e. C0 (U+0000–U+001F), DEL (U+007F) and C1 (U+0080–U+009F).
 * Text that reaches a log line, an email header or a stored name must not carry them: a line
 * break or an escape sequence there forges a line, a header or a terminal's display.
 */
const CONTROL = /\p{Cc}/u;
const CONTROL_RUNS = /\p{Cc}+/gu;
/** The same, but for tab, line feed and carriage return (free text that may span lines). */
const CONTROL_BUT_LINE_BREAKS = /(?![\t\n\r])\p{Cc}/u;

/** Whether `text` holds a control character (`allowLineBreaks`: other than tab, LF and CR). */
export function hasControlCharacters(text: string, options: { allowLineBreaks?: boolean } = {}): boolean {
  return (options.allowLineBreaks ? CONTROL_BUT_LINE_BREAKS : CONTROL).test(text);
}

/** `text` with each run of control characters replaced by one space. */
export function stripControlCharacters(text: string): string {
  return text.replace(CONTROL_RUNS, ' ');
}
