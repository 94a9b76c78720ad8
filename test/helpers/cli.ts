import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLI_PATH = fileURLToPath(new URL('../../dist/hapos-upd.js', import.meta.url));

/** Where a run locks CERT while it updates it: a dot-file, which HAProxy does not load from a crt directory. */
export const lockPathOf = (cert: string) => path.join(path.dirname(cert), `.${path.basename(cert)}.ocsp.lock`);

export interface CliRun {
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliRunOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Called with everything printed on stdout so far, each time more arrives; e.g. to signal the process. */
  readonly onStdout?: (stdoutSoFar: string, child: ChildProcess) => void;
}

/** Runs the built CLI as a user would, with no standard input. */
export function runCli(args: readonly string[], options: CliRunOptions = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_PATH, ...args], {
      env: { ...(options.env ?? process.env), NO_COLOR: '1' },
      cwd: options.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      options.onStdout?.(stdout, child);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (exitCode, signal) => resolve({ exitCode, signal, stdout, stderr }));
  });
}

/** The debug line that names the temporary directory, as `-d` prints it. */
export function tempDirOf(stdout: string): string | undefined {
  return /^Temporary directory: (.+)$/m.exec(stdout)?.[1];
}
