import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../../lib/process/run.ts';

export const CLI_PATH = fileURLToPath(new URL('../../dist/hapos-upd.js', import.meta.url));

/**
 * Whether the openssl a run of the CLI uses (OPENSSL_BIN, else the one on
 * PATH) is MAJOR.MINOR or later: its client and verify word some failures
 * differently from one version to another.
 */
export async function cliOpensslAtLeast(major: number, minor: number): Promise<boolean> {
  const { stdout } = await run(process.env.OPENSSL_BIN || 'openssl', ['version']);
  const [, runningMajor = '0', runningMinor = '0'] = /OpenSSL (\d+)\.(\d+)/.exec(stdout) ?? [];
  return Number(runningMajor) > major || (Number(runningMajor) === major && Number(runningMinor) >= minor);
}

/** Where a run locks CERT while it updates it: a dot-file, which HAProxy does not load from a crt directory. */
export const lockPathOf = (cert: string) => path.join(path.dirname(cert), `.${path.basename(cert)}.ocsp.lock`);

/**
 * A stand-in for PROGRAM, written to DIR, that records the first argument of
 * each call (openssl's subcommand, say) before running the real one (REAL, by
 * default PROGRAM on PATH): for OPENSSL_BIN or SOCAT_BIN, to see which
 * programs a run starts.
 */
export async function recordingWrapper(
  dir: string,
  program: string,
  real = program,
): Promise<{ path: string; firstArguments(): Promise<string[]>; clear(): Promise<void> }> {
  const wrapper = path.join(dir, program);
  const calls = `${wrapper}.calls`;
  await writeFile(wrapper, `#!/bin/sh\necho "$1" >> '${calls}'\nexec '${real}' "$@"\n`, { mode: 0o755 });
  return {
    path: wrapper,
    firstArguments: async () => (await readFile(calls, 'utf8')).trim().split('\n'),
    clear: () => rm(calls, { force: true }),
  };
}

export interface CliRun {
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

interface CliRunOptions {
  /** What runs the CLI, its arguments then appended: by default the built npm package's, `node dist/hapos-upd.js`. */
  readonly command?: readonly [string, ...string[]];
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Called with everything printed on stdout so far, each time more arrives; e.g. to signal the process. */
  readonly onStdout?: (stdoutSoFar: string, child: ChildProcess) => void;
}

/** Runs the built CLI as a user would, with no standard input. */
export function runCli(args: readonly string[], options: CliRunOptions = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const [program, ...programArgs] = options.command ?? [process.execPath, CLI_PATH];
    const child = spawn(program, [...programArgs, ...args], {
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

/** The HTTP clients a run can ask a responder through, each with the arguments that choose it. */
export const httpClients = [
  { client: 'openssl', args: [] },
  { client: 'curl', args: ['--use-curl'] },
  { client: 'builtin', args: ['--http-client', 'builtin'] },
] as const;
