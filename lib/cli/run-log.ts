import type { Log } from '../util/log.ts';
import { appendFileSync } from 'node:fs';
import { paletteFor } from './color.ts';
import { run } from '../process/run.ts';

import { PROGRAM_NAME } from './program.ts';
import { escapeControls, printableLine, printableText } from '../util/printable.ts';
import type { OutputStream, StatusLine } from './status-line.ts';

interface RunLogOptions {
  /** `-d`: debug lines are printed (on stdout, unless `debugStream` says otherwise). */
  readonly debugToStdout: boolean;
  /** Where printed debug lines go: stderr when stdout carries a JSON document. */
  readonly debugStream?: OutputStream;
  /** `-l PRIORITY`: error lines go through `logger -p PRIORITY -s` instead of straight to stderr. */
  readonly syslogPriority?: string;
  readonly stdout: OutputStream;
  readonly stderr: OutputStream;
}

/**
 * The original's Debug/LogError pair: debug lines on stdout in debug mode,
 * error lines on stderr (or syslog), and every line of both kinds appended to
 * `log` in the temporary directory once there is one.
 */
export class RunLog implements Log {
  private logFile: string | undefined;
  private statusLine: StatusLine | undefined;

  constructor(private readonly options: RunLogOptions) {}

  /** Error lines go above STATUSLINE until closeStatusLine. */
  keepAbove(statusLine: StatusLine): void {
    this.statusLine = statusLine;
  }

  /** Ends the status line's terminal line, so that what comes next (a summary, the shell's prompt) starts on its own. */
  closeStatusLine(): void {
    this.statusLine?.end();
    this.statusLine = undefined;
  }

  writeTo(logFile: string): void {
    this.logFile = logFile;
  }

  /** MESSAGE may hold foreign text over several lines (openssl's output): its control characters are escaped. */
  debug(message: string): void {
    const line = printableText(message);
    if (this.options.debugToStdout) (this.options.debugStream ?? this.options.stdout).write(`${line}\n`);
    this.append(line);
  }

  /** One line whatever MESSAGE holds (a path with a newline cannot forge a second error line), cut when huge. */
  async error(unsafeMessage: string): Promise<void> {
    const message = printableLine(unsafeMessage);
    if (this.options.syslogPriority === undefined) {
      this.writeError(`${paletteFor(this.options.stderr).red(message)}\n`);
    } else {
      const logged = await run('logger', [
        '-p',
        this.options.syslogPriority,
        '-s',
        '--',
        `${PROGRAM_NAME} - ${message}`,
      ]);
      if (logged.exitCode === 0) {
        // logger -s echoed the line to its stderr, which we captured.
        this.writeError(logged.stderr);
      } else {
        // No syslog to be had (no /dev/log in a container, say): the line must not be lost.
        const why = logged.stderr.trim().split('\n')[0] ?? '';
        this.writeError(`${message}\n(syslog unavailable: ${why})\n`);
      }
    }
    this.append(message);
  }

  private writeError(lines: string): void {
    if (this.statusLine === undefined) this.options.stderr.write(lines);
    else this.statusLine.writeAbove(lines);
  }

  private append(message: string): void {
    if (this.logFile !== undefined) appendFileSync(this.logFile, `${message}\n`);
  }
}

/**
 * The log of one certificate among many processed at once: its debug lines
 * are held back and written together when it is done, so that they do not
 * interleave with other certificates'; error lines go out at once.
 */
export class CertificateLog implements Log {
  private readonly lines: string[] = [];

  constructor(
    private readonly runLog: RunLog,
    private readonly cert: string,
    /** Hold error lines back too, as debug lines: --check reports problems as findings instead. */
    private readonly options: { errorsToo?: boolean } = {},
  ) {}

  debug(message: string): void {
    this.lines.push(message);
  }

  async error(message: string): Promise<void> {
    // Among many certificates, a warning must say which one it is about.
    const named = message.startsWith(`${this.cert}: `) ? message : `${this.cert}: ${message}`;
    if (this.options.errorsToo) {
      this.lines.push(named);
      return;
    }
    await this.runLog.error(named);
  }

  finish(): void {
    // One write for the whole group: a batch of a thousand certificates logs thousands of lines.
    this.runLog.debug([`--- ${escapeControls(this.cert)}`, ...this.lines].join('\n'));
  }
}
