import { closeSync, fstatSync, openSync, promises as fs, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { systemErrorCode } from './files.ts';

/** Another process held the lock for the whole waiting time. */
export class LockTimeoutError extends Error {
  override readonly name = 'LockTimeoutError';

  constructor(
    readonly lockPath: string,
    /** `undefined` when the lock file named no process (empty or being written). */
    readonly holderPid: number | undefined,
    readonly waitedMs: number,
  ) {
    const holder = holderPid === undefined ? 'an unknown process' : `PID ${holderPid}`;
    super(`timed out after ${waitedMs} ms waiting for the lock ${lockPath}, held by ${holder}`);
  }
}

export interface LockOptions {
  /** How long to wait for a live holder before giving up; 0 tries once. */
  readonly timeoutMs: number;
  /** How often to look at the lock again while waiting. */
  readonly pollMs?: number;
}

export interface Lock {
  readonly path: string;
  /** Removes the lock file if it is still ours. Safe to call more than once. */
  release(): Promise<void>;
  /** The same as `release`, for signal and exit handlers that cannot wait. */
  releaseSync(): void;
}

/** What a lock file says about the process that holds it. */
export interface LockHolder {
  readonly pid: number;
  readonly host?: string;
  /** The kernel's start time of the process (clock ticks since boot), which tells a reused PID apart. */
  readonly startTime?: string;
}

/**
 * A lock file with no readable holder is normally one caught between its
 * creation and the write of the PID; past this age its writer has died.
 */
export const UNREADABLE_LOCK_STALE_MS = 5_000;

const DEFAULT_POLL_MS = 100;

/** One line each: PID, host name, start time. A file holding just a PID is understood too. */
export function formatLockRecord(holder: LockHolder): string {
  return [holder.pid, holder.host ?? '', holder.startTime ?? ''].join('\n') + '\n';
}

export function parseLockRecord(text: string): LockHolder | undefined {
  const [pidLine = '', host = '', startTime = ''] = text.split('\n').map((line) => line.trim());
  if (!/^[1-9][0-9]*$/.test(pidLine)) return undefined;
  const pid = Number(pidLine);
  if (!Number.isSafeInteger(pid)) return undefined;
  return { pid, ...(host && { host }), ...(startTime && { startTime }) };
}

/**
 * Field 22 of /proc/PID/stat. The command name (field 2) is in parentheses and
 * may itself contain spaces and parentheses, so fields are counted after the last `)`.
 */
export function parseProcessStartTime(stat: string): string | undefined {
  const afterCommand = stat
    .slice(stat.lastIndexOf(')') + 1)
    .trim()
    .split(/\s+/);
  const startTime = afterCommand[22 - 3];
  return startTime !== undefined && /^[0-9]+$/.test(startTime) ? startTime : undefined;
}

/**
 * Creates `lockPath` exclusively, waiting while a live process holds it and
 * taking over a lock whose holder has died. Throws `LockTimeoutError` after
 * `timeoutMs`; other failures (e.g. a read-only directory) are thrown as the
 * system error.
 */
export async function acquireLock(lockPath: string, options: LockOptions): Promise<Lock> {
  const startedAt = Date.now();
  ownRecord ??= formatLockRecord({ pid: process.pid, host: hostname(), startTime: await readStartTime(process.pid) });
  const record = ownRecord;
  for (;;) {
    const inode = createLockFile(lockPath, record);
    if (inode !== undefined) {
      const lock = new HeldLock(lockPath, record, inode);
      heldLocks.add(lock);
      return lock;
    }
    const observed = await inspectLock(lockPath);
    if (observed === undefined) continue;
    if ((await isStale(observed)) && (await removeStaleLock(lockPath))) continue;
    const waitedMs = Date.now() - startedAt;
    if (waitedMs >= options.timeoutMs) throw new LockTimeoutError(lockPath, observed.holder?.pid, waitedMs);
    await sleep(Math.min(options.pollMs ?? DEFAULT_POLL_MS, options.timeoutMs - waitedMs));
  }
}

/** What this process writes in every lock it takes: the same for a whole batch. */
let ownRecord: string | undefined;

const heldLocks = new Set<HeldLock>();

/**
 * Releases every lock this process holds, for a signal handler that is about
 * to exit: a lock left behind would make the next run wait for a dead PID.
 */
export function releaseHeldLocksSync(): void {
  for (const lock of heldLocks) lock.releaseSync();
}

class HeldLock implements Lock {
  private released = false;

  constructor(
    readonly path: string,
    private readonly record: string,
    private readonly inode: number,
  ) {}

  // The lock file is a few bytes: one synchronous code path serves both callers.
  async release(): Promise<void> {
    this.releaseSync();
  }

  releaseSync(): void {
    if (this.released) return;
    this.released = true;
    heldLocks.delete(this);
    if (this.isStillOurs()) unlinkIfExists(this.path);
  }

  private isStillOurs(): boolean {
    let descriptor: number;
    try {
      descriptor = openSync(this.path, 'r');
    } catch (error) {
      if (systemErrorCode(error) === 'ENOENT') return false;
      throw error;
    }
    try {
      return fstatSync(descriptor).ino === this.inode && readFileSync(descriptor, 'utf8') === this.record;
    } finally {
      closeSync(descriptor);
    }
  }
}

interface ObservedLock {
  readonly holder: LockHolder | undefined;
  readonly ageMs: number;
}

/**
 * The new file's inode, or `undefined` when the lock already exists. A few
 * bytes, written synchronously: in a batch of a thousand certificates, four
 * thread-pool round trips per lock cost more than the writes themselves.
 */
function createLockFile(lockPath: string, record: string): number | undefined {
  let descriptor: number;
  try {
    descriptor = openSync(lockPath, 'wx', 0o644);
  } catch (error) {
    if (systemErrorCode(error) === 'EEXIST') return undefined;
    throw error;
  }
  try {
    writeFileSync(descriptor, record);
    return fstatSync(descriptor).ino;
  } catch (error) {
    unlinkIfExists(lockPath);
    throw error;
  } finally {
    closeSync(descriptor);
  }
}

/** `undefined` when the lock vanished in the meantime. */
async function inspectLock(lockPath: string): Promise<ObservedLock | undefined> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(lockPath, 'r');
  } catch (error) {
    if (systemErrorCode(error) === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const [stats, text] = await Promise.all([handle.stat(), handle.readFile('utf8')]);
    return { holder: parseLockRecord(text), ageMs: Date.now() - stats.mtimeMs };
  } finally {
    await handle.close();
  }
}

async function isStale({ holder, ageMs }: ObservedLock): Promise<boolean> {
  if (holder === undefined) return ageMs >= UNREADABLE_LOCK_STALE_MS;
  // A process on another host (shared storage) cannot be checked from here.
  if (holder.host !== undefined && holder.host !== hostname()) return false;
  if (!processExists(holder.pid)) return true;
  if (holder.startTime === undefined) return false;
  const startTime = await readStartTime(holder.pid);
  return startTime !== undefined && startTime !== holder.startTime;
}

/**
 * Two waiters may both find the same stale lock. If both deleted it, the slower
 * one could delete the lock the faster one has just created. A second lock
 * file serialises the breakers, and the staleness is checked again under it.
 * Returns false when another process is breaking the lock right now.
 */
async function removeStaleLock(lockPath: string): Promise<boolean> {
  const breakPath = `${lockPath}.break`;
  try {
    await (await fs.open(breakPath, 'wx', 0o644)).close();
  } catch (error) {
    if (systemErrorCode(error) !== 'EEXIST') throw error;
    await removeAbandonedBreakLock(breakPath);
    return false;
  }
  try {
    const current = await inspectLock(lockPath);
    if (current !== undefined && (await isStale(current))) await fs.rm(lockPath, { force: true });
    return true;
  } finally {
    await fs.rm(breakPath, { force: true });
  }
}

/** A breaker holds its file for microseconds; one that stays has lost its process. */
async function removeAbandonedBreakLock(breakPath: string): Promise<void> {
  try {
    const stats = await fs.stat(breakPath);
    if (Date.now() - stats.mtimeMs >= UNREADABLE_LOCK_STALE_MS) await fs.rm(breakPath, { force: true });
  } catch (error) {
    if (systemErrorCode(error) !== 'ENOENT') throw error;
  }
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    const code = systemErrorCode(error);
    if (code === 'ESRCH') return false;
    // The process exists but belongs to another user.
    if (code === 'EPERM') return true;
    throw error;
  }
}

/** `undefined` where /proc is not available (not Linux): staleness then rests on the PID alone. */
async function readStartTime(pid: number): Promise<string | undefined> {
  try {
    return parseProcessStartTime(await fs.readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

function unlinkIfExists(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if (systemErrorCode(error) !== 'ENOENT') throw error;
  }
}
