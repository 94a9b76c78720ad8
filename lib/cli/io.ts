import type { OutputStream } from './status-line.ts';

/** What the command prints to and reads its settings from: the process's own, or a test's stand-ins. */
export interface CliIo {
  readonly stdout: OutputStream;
  readonly stderr: OutputStream;
  readonly env: NodeJS.ProcessEnv;
  /** Package version, printed by `--version`. */
  readonly version: string;
}
