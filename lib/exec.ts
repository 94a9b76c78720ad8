import { $, type ProcessPromise } from 'zx/core';

export interface CommandResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  /** Written to the child's standard input. */
  readonly input?: string | Buffer;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Kills the child after this many milliseconds. */
  readonly timeoutMs?: number;
}

const runningPrograms = new Set<ProcessPromise>();

/** Stops every program still running, for a signal handler about to exit (an openssl waiting on a responder, say). */
export function killRunningPrograms(): void {
  for (const child of runningPrograms) void child.kill().catch(() => undefined);
}

/**
 * Runs one external program with its arguments passed as a list (zx quotes
 * each one), never throwing on a non-zero exit: callers decide what a failure
 * means. A program that cannot be started reports exit code 127.
 */
export async function run(program: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
  const shell = $({
    quiet: true,
    nothrow: true,
    ...(options.input !== undefined && { input: options.input }),
    ...(options.env && { env: options.env }),
    ...(options.cwd && { cwd: options.cwd }),
    ...(options.timeoutMs !== undefined && { timeout: options.timeoutMs }),
  });
  const child = shell`${program} ${args}`;
  runningPrograms.add(child);
  const output = await child.finally(() => runningPrograms.delete(child));
  return {
    exitCode: output.exitCode ?? 1,
    stdout: output.stdout,
    stderr: output.stderr,
  };
}
