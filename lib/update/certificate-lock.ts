import path from 'node:path';
import { acquireLock, LockTimeoutError } from '../fs/lock.ts';
import { systemErrorCode } from '../fs/system.ts';
import { removeStaleTemporaryFiles } from '../fs/temporary-files.ts';
import type { Log } from '../util/log.ts';
import type { UpdateOptions } from './context.ts';
import { UpdateFailure } from './failure.ts';

/** Whether the install step may write: no when the directory did not even take the lock file. */
interface LockState {
  /** Why nothing can be installed, when the lock could not be created. */
  readonly unwritable?: UpdateFailure;
}

/**
 * Runs `body` holding the certificate's lock, so that no two runs write
 * CERT.ocsp or CERT.issuer at once. A directory the lock cannot be created in
 * is one where no file can be replaced either, so `body` still runs and only
 * the install step fails: every earlier check keeps its own exit code, and a
 * run that writes nothing (skipped as fresh, keeping a newer response, `-d`)
 * still succeeds. Waiting for another run's lock has its own limit
 * (--lock-timeout), past which the run gives up.
 */
export async function withCertificateLock<R>(
  options: UpdateOptions,
  log: Log,
  body: (lock: LockState) => Promise<R>,
): Promise<R> {
  if (options.dryRun) return body({});
  // A dot-file: HAProxy loads every other file of a crt directory as a certificate.
  const lockPath = path.join(path.dirname(options.cert), `.${path.basename(options.cert)}.ocsp.lock`);
  let lock;
  try {
    lock = await acquireLock(lockPath, { timeoutMs: options.lockTimeoutSeconds * 1000 });
  } catch (error) {
    if (error instanceof LockTimeoutError) throw gaveUp(error, lockPath, options.lockTimeoutSeconds);
    const code = systemErrorCode(error) ?? String(error);
    return body({
      unwritable: new UpdateFailure(
        'haproxy',
        `can't update ${options.cert}.ocsp file: can't create ${lockPath} (${code})`,
      ),
    });
  }
  try {
    await removeLeftoversOfDeadRuns(options.cert, log);
    return await body({});
  } finally {
    lock.releaseSync();
  }
}

function gaveUp(error: LockTimeoutError, lockPath: string, lockTimeoutSeconds: number): UpdateFailure {
  const after = `gave up after ${lockTimeoutSeconds} s (--lock-timeout)`;
  if (error.obstacle !== undefined) {
    return new UpdateFailure('run', `${error.obstacle.path} ${error.obstacle.what}: remove it; ${after}`);
  }
  const holder = error.holderPid === undefined ? 'another run' : `another run (PID ${error.holderPid})`;
  return new UpdateFailure('run', `${holder} holds ${lockPath}; ${after}`);
}

/**
 * Holding the lock, no live run can be writing CERT.ocsp or CERT.issuer: a
 * temporary file of another process beside them is what a killed run left.
 */
async function removeLeftoversOfDeadRuns(cert: string, log: Log): Promise<void> {
  for (const { path: leftover, pid, failure } of await removeStaleTemporaryFiles([`${cert}.ocsp`, `${cert}.issuer`])) {
    log.debug(
      failure === undefined
        ? `Removed ${leftover}, left by a run (PID ${pid}) that ended before renaming it`
        : `Can't remove ${leftover}, left by a run (PID ${pid}) that ended before renaming it (${failure})`,
    );
  }
}
