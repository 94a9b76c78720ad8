import type { Writable } from 'node:stream';

/** stdout or stderr, or a stand-in for them in tests. */
export type OutputStream = Writable & { readonly isTTY?: boolean };

/**
 * One line of a terminal rewritten in place (a batch's `[12/1000] …`). Other
 * lines for the same terminal go above it, so that an error never runs into
 * it. Blanked with spaces rather than an erase sequence, which a `dumb`
 * terminal would print.
 */
export class StatusLine {
  private shown = '';

  constructor(private readonly stream: OutputStream) {}

  show(text: string): void {
    this.stream.write(`\r${text.padEnd(this.shown.length)}`);
    this.shown = text;
  }

  /** Writes whole lines (ending in a newline) where the status line was, then shows it again below them. */
  writeAbove(lines: string): void {
    if (this.shown === '') {
      this.stream.write(lines);
      return;
    }
    this.stream.write(`\r${' '.repeat(this.shown.length)}\r${lines}${this.shown}`);
  }

  /** Leaves the last status on screen and moves on to the next line. */
  end(): void {
    if (this.shown !== '') this.stream.write('\n');
    this.shown = '';
  }
}
