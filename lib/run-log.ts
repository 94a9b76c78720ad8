import { appendFileSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { paletteFor } from './color.ts';
import { run } from './exec.ts';

export const PROGRAM_NAME = 'hapos-upd';

export interface RunLogOptions {
  /** `-d`: debug lines go to stdout. */
  readonly debugToStdout: boolean;
  /** `-l PRIORITY`: error lines go through `logger -p PRIORITY -s` instead of straight to stderr. */
  readonly syslogPriority?: string;
  readonly stdout: OutputStream;
  readonly stderr: OutputStream;
}

export type OutputStream = Writable & { readonly isTTY?: boolean };

/**
 * The original's Debug/LogError pair: debug lines on stdout in debug mode,
 * error lines on stderr (or syslog), and every line of both kinds appended to
 * `log` in the temporary directory once there is one.
 */
export class RunLog {
  private logFile: string | undefined;

  constructor(private readonly options: RunLogOptions) {}

  writeTo(logFile: string): void {
    this.logFile = logFile;
  }

  debug(message: string): void {
    if (this.options.debugToStdout) this.options.stdout.write(`${message}\n`);
    this.append(message);
  }

  async error(message: string): Promise<void> {
    if (this.options.syslogPriority === undefined) {
      this.options.stderr.write(`${paletteFor(this.options.stderr).red(message)}\n`);
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
        this.options.stderr.write(logged.stderr);
      } else {
        // No syslog to be had (no /dev/log in a container, say): the line must not be lost.
        const why = logged.stderr.trim().split('\n')[0] ?? '';
        this.options.stderr.write(`${message}\n(syslog unavailable: ${why})\n`);
      }
    }
    this.append(message);
  }

  private append(message: string): void {
    if (this.logFile !== undefined) appendFileSync(this.logFile, `${message}\n`);
  }
}
