/**
 * Text that came from outside (a responder's HTTP reason, HAProxy's reply, a
 * certificate's bytes, a path) is printed to terminals, syslog and log files.
 * There it must not move the cursor, ring, recolour, forge a line, or run to
 * megabytes: control characters are shown as escapes and long text is cut.
 */

/** The longest error line printed, in characters: far more than any real message, far less than syslog's limits. */
const MAX_LINE_CHARACTERS = 2000;

/**
 * C0 and C1 controls, DEL, the Unicode marks that break or reorder a line,
 * and lone surrogates (half a character, which no terminal can show).
 */
const UNPRINTABLE = /[\u0000-\u001F\u007F-\u009F\u2028\u2029\u200E\u200F\u202A-\u202E\u2066-\u2069\uD800-\uDFFF]/gu;
/** The same, but for text of several lines (openssl's status block): line feeds and tabs are kept. */
const UNPRINTABLE_BUT_LAYOUT =
  /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u2028\u2029\u200E\u200F\u202A-\u202E\u2066-\u2069\uD800-\uDFFF]/gu;

/** `\u001B`: visible, and unambiguous enough in a path or message. */
export const escapeCharacter = (character: string) =>
  `\\u${character.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;

/** TEXT with every control character shown as an escape (`\u000A`, `\u001B`…): one line, whatever it held. */
export function escapeControls(text: string): string {
  return text.replace(UNPRINTABLE, escapeCharacter);
}

/** TEXT on one line, control characters escaped, cut to MAX characters. */
export function printableLine(text: string, max: number = MAX_LINE_CHARACTERS): string {
  return shorten(escapeControls(text), max);
}

/** TEXT of several lines: control characters escaped, line feeds and tabs kept. */
export function printableText(text: string): string {
  return text.replace(UNPRINTABLE_BUT_LAYOUT, escapeCharacter);
}

/** TEXT cut to at most MAX characters, saying how much was left out. */
export function shorten(text: string, max: number): string {
  if (text.length <= max) return text;
  const marker = (omitted: number) => `… (${omitted} more characters)`;
  let keep = Math.max(0, max - marker(text.length).length);
  // Never split a surrogate pair: half a character is not printable either.
  if (keep > 0 && /[\uD800-\uDBFF]/.test(text[keep - 1]!)) keep--;
  return `${text.slice(0, keep)}${marker(text.length - keep)}`;
}
