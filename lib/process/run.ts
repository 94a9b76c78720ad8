import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { $, quote } from 'zx/core';

/** Why a program was stopped before it ended by itself. */
export type StopReason = 'timeout' | 'aborted' | 'output-limit';

export interface CommandResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
  /** Set when the program did not end by itself; its exit code is then not 0. */
  readonly stopped?: StopReason;
}

export interface RunOptions {
  /** Written to the child's standard input. */
  readonly input?: string | Buffer;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Kills the child after this many milliseconds. */
  readonly timeoutMs?: number;
  /** Kills the child when this signal aborts (a certificate's deadline, say). */
  readonly signal?: AbortSignal;
  /** Kills the child once its stdout and stderr together exceed this many bytes. */
  readonly maxOutputBytes?: number;
  /**
   * The child is killed by the kernel if this process dies, even by SIGKILL
   * (`setpriv --pdeathsig`): for programs that wait on the network. Costs one
   * more exec per start (about 3 ms here), so it is not the default.
   */
  readonly dieWithParent?: boolean;
  /**
   * The child leads a process group of its own, and stopping it kills the
   * whole group: for a shell command line (`--reload-cmd`), whose own
   * children would otherwise outlive it and keep its output open.
   */
  readonly ownProcessGroup?: boolean;
}

/** What a shell reports for a program it cannot find or execute; callers test for "not 0" only. */
const CANNOT_START = 127;

/** No program we run has a reason to print more; a flood past it is stopped, not held in memory. */
const DEFAULT_MAX_OUTPUT_BYTES = 16 * 1024 * 1024;

/** Each running program, with how to kill it (and, for a process group leader, its group). */
const runningPrograms = new Map<ChildProcess, () => void>();

/**
 * Kills every program still running, at once and synchronously: for a
 * signal handler about to exit (an openssl waiting on a responder, say).
 */
export function killRunningPrograms(): void {
  for (const kill of runningPrograms.values()) kill();
}

function killerOf(child: ChildProcess, wholeGroup: boolean): () => void {
  return () => {
    if (!wholeGroup || child.pid === undefined) {
      child.kill('SIGKILL');
      return;
    }
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // The group is gone already.
    }
  };
}

/**
 * Runs one external program with its arguments passed as a list, never
 * throwing on a non-zero exit: callers decide what a failure means. A program
 * that cannot be started reports exit code 127.
 *
 * zx keeps the output bookkeeping, but the program is started directly
 * rather than through `bash -c`: a shell start costs about 4 ms per openssl
 * call here, and with no shell no quoting can go wrong. Stopping is done here
 * on the child itself with SIGKILL, synchronously: zx's own kill first lists
 * the process tree with `ps`, which a signal handler about to exit never
 * waits for.
 */
export async function run(program: string, args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
  return (await runCapturing(program, args, options, false)).result;
}

/** `run`, with the exact bytes of stdout as well (a binary body, which stdout's text would mangle). */
export async function runForBytes(
  program: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<CommandResult & { readonly stdoutBytes: Buffer }> {
  const { result, stdoutChunks } = await runCapturing(program, args, options, true);
  return { ...result, stdoutBytes: Buffer.concat(stdoutChunks) };
}

async function runCapturing(
  program: string,
  args: readonly string[],
  options: RunOptions,
  keepStdoutBytes: boolean,
): Promise<{ result: CommandResult; stdoutChunks: Buffer[] }> {
  const stdoutChunks: Buffer[] = [];
  if (options.signal?.aborted) {
    return { result: { exitCode: 1, stdout: '', stderr: '', stopped: 'aborted' }, stdoutChunks };
  }
  const maxOutputBytes = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  let stopped: StopReason | undefined;
  let child: ChildProcess | undefined;
  const stop = (reason: StopReason) => {
    if (stopped !== undefined || child === undefined) return;
    stopped = reason;
    runningPrograms.get(child)?.();
  };
  const [command, commandArgs] =
    options.dieWithParent && setprivPath() ? withParentDeath(program, args) : [program, args];
  const startDirectly = (_command: string, _shellArgs: readonly string[], spawnOptions: SpawnOptions) => {
    const started = spawn(command, commandArgs, {
      ...spawnOptions,
      shell: false,
      signal: undefined,
      detached: options.ownProcessGroup === true,
    });
    child = started;
    runningPrograms.set(started, killerOf(started, options.ownProcessGroup === true));
    // A program that exits without reading all its input (socat refusing an
    // address, say) must not crash us with EPIPE: its exit code tells the story.
    started.stdin?.on('error', () => undefined);
    let outputBytes = 0;
    const count = (chunk: Buffer) => {
      outputBytes += chunk.length;
      if (outputBytes > maxOutputBytes) stop('output-limit');
    };
    started.stdout?.on('data', (chunk: Buffer) => {
      if (keepStdoutBytes) stdoutChunks.push(chunk);
      count(chunk);
    });
    started.stderr?.on('data', count);
    return started;
  };
  const shell = $({
    quiet: true,
    nothrow: true,
    spawn: startDirectly as typeof spawn,
    // zx takes its quoting from the bash it looks for on PATH when loaded,
    // and without one refuses to run anything, though no shell ever starts
    // here: a systemd unit or a cron job may run us with a PATH that has
    // openssl but no bash.
    quote,
    ...(options.input !== undefined && { input: options.input }),
    ...(options.env && { env: options.env }),
    ...(options.cwd && { cwd: options.cwd }),
  });
  const onAbort = () => stop('aborted');
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => stop('timeout'), options.timeoutMs);
  try {
    const output = await shell`${program}`;
    if (output.cause) {
      return {
        result: { exitCode: CANNOT_START, stdout: '', stderr: `${program}: ${output.cause.message}` },
        stdoutChunks,
      };
    }
    return {
      result: {
        exitCode: output.exitCode ?? 1,
        stdout: output.stdout,
        stderr: output.stderr,
        ...(stopped !== undefined && { stopped }),
      },
      stdoutChunks,
    };
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
    if (child) runningPrograms.delete(child);
  }
}

let setprivLookup: string | null | undefined;

/** `setpriv` from PATH, looked up once; null where there is none (the child then simply outlives a killed run). */
function setprivPath(): string | null {
  if (setprivLookup === undefined) {
    setprivLookup = null;
    for (const directory of (process.env.PATH ?? '').split(path.delimiter)) {
      const candidate = path.join(directory || '.', 'setpriv');
      try {
        accessSync(candidate, constants.X_OK);
        setprivLookup = candidate;
        break;
      } catch {
        // Not in this directory.
      }
    }
  }
  return setprivLookup;
}

function withParentDeath(program: string, args: readonly string[]): [string, readonly string[]] {
  return [setprivPath()!, ['--pdeathsig', 'KILL', '--', program, ...args]];
}
