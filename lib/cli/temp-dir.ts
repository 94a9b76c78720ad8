import { randomInt } from 'node:crypto';
import { rmSync } from 'node:fs';
import os from 'node:os';
import { ExitCode } from './exit-codes.ts';
import { killRunningPrograms } from '../process/run.ts';
import { releaseHeldLocksSync } from '../fs/lock.ts';
import { systemErrorCode } from '../fs/system.ts';
import { PROGRAM_NAME } from './program.ts';
import type { RunLog } from './run-log.ts';

/** The run's private directory, or why it could not be made, in the words the user reads. */
export async function createTempDir(): Promise<{ path: string } | { problem: string }> {
  try {
    return { path: await makeTempDir() };
  } catch (error) {
    const reason = systemErrorCode(error) ?? (error instanceof Error ? error.message : String(error));
    return { problem: `can't create a temporary directory in ${os.tmpdir()} (${reason})` };
  }
}

/**
 * tmp-promise is loaded only here: it resolves the system temp dir as it
 * loads, so a TMPDIR that does not exist would otherwise crash the program
 * before it could say so.
 */
async function makeTempDir(): Promise<string> {
  const { dir } = await import('tmp-promise');
  const created = await dir({ name: tempDirName(), tmpdir: os.tmpdir(), mode: 0o700, unsafeCleanup: true });
  return created.path;
}

const TEMP_NAME_CHARACTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** The original's `mktemp -t hapos-upd.XXXXXXXXXX`: ten random characters, where tmp's templates have six. */
function tempDirName(): string {
  const random = Array.from({ length: 10 }, () => TEMP_NAME_CHARACTERS[randomInt(TEMP_NAME_CHARACTERS.length)]);
  return `${PROGRAM_NAME}.${random.join('')}`;
}

/**
 * Runs BODY, then removes TEMPDIR unless it is to be kept. SIGINT or SIGTERM
 * meanwhile ends the run at once, exit 9, leaving neither a program running,
 * a lock held nor the directory behind.
 */
export async function withTempDir<T>(
  tempDir: string,
  settings: { readonly keep: boolean; readonly log: RunLog },
  body: () => Promise<T>,
): Promise<T> {
  const removeTempDir = () => {
    // Retried: a certificate's directory may still be being made in the thread pool when a signal arrives.
    if (!settings.keep) rmSync(tempDir, { recursive: true, force: true, maxRetries: 3, retryDelay: 10 });
  };
  const abort = () => abortRun(settings.log, removeTempDir);
  process.once('SIGINT', abort);
  process.once('SIGTERM', abort);
  try {
    return await body();
  } finally {
    process.off('SIGINT', abort);
    process.off('SIGTERM', abort);
    removeTempDir();
  }
}

function abortRun(log: RunLog, removeTempDir: () => void): never {
  log.closeStatusLine();
  log.debug('Aborting');
  killRunningPrograms();
  releaseHeldLocksSync();
  try {
    removeTempDir();
  } finally {
    // Whatever the clean-up met, a signal ends the run as the original's did.
    process.exit(ExitCode.program);
  }
}
