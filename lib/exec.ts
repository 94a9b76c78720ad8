import { spawn, type SpawnOptions } from 'node:child_process';
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

/** What a shell reports for a program it cannot find or execute; callers test for "not 0" only. */
const CANNOT_START = 127;

const runningPrograms = new Set<ProcessPromise>();

/** Stops every program still running, for a signal handler about to exit (an openssl waiting on a responder, say). */
export function killRunningPrograms(): void {
  for (const child of runningPrograms) void child.kill().catch(() => undefined);
}

/**
 * Runs one external program with its arguments passed as a list, never
 * throwing on a non-zero exit: callers decide what a failure means. A program
 * that cannot be started reports exit code 127.
 *
 * zx keeps the process bookkeeping (output, timeout, kill), but the program is
 * started directly rather than through `bash -c`: a shell start costs about
 * 4 ms per openssl call here, and with no shell no quoting can go wrong.
 */
export async function run(program: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
  const startDirectly = (_command: string, _shellArgs: readonly string[], spawnOptions: SpawnOptions) => {
    const child = spawn(program, args, { ...spawnOptions, shell: false });
    // A program that exits without reading all its input (socat refusing an
    // address, say) must not crash us with EPIPE: its exit code tells the story.
    child.stdin?.on('error', () => undefined);
    return child;
  };
  const shell = $({
    quiet: true,
    nothrow: true,
    spawn: startDirectly as typeof spawn,
    ...(options.input !== undefined && { input: options.input }),
    ...(options.env && { env: options.env }),
    ...(options.cwd && { cwd: options.cwd }),
    ...(options.timeoutMs !== undefined && { timeout: options.timeoutMs }),
  });
  const child = shell`${program}`;
  runningPrograms.add(child);
  const output = await child.finally(() => runningPrograms.delete(child));
  if (output.cause) return { exitCode: CANNOT_START, stdout: '', stderr: `${program}: ${output.cause.message}` };
  return {
    exitCode: output.exitCode ?? 1,
    stdout: output.stdout,
    stderr: output.stderr,
  };
}
