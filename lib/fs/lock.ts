import {
  closeSync,
  constants,
  fstatSync,
  openSync,
  promises as fs,
  unlinkSync,
  writeFileSync,
  type Stats,
} from 'node:fs';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { FileReadError, readRegularFileSync } from './read.ts';
import { specialFileType, systemErrorCode } from './system.ts';
import { processExists } from '../process/alive.ts';

/** Something at a lock's path that is not a lock file, and that only a person should remove. */
interface LockObstacle {
  readonly path: string;
  /** What it is, after its path: "is a FIFO, not a lock file". */
  readonly what: string;
}

/** Another process held the lock, or something else sat in its place, for the whole waiting time. */
export class LockTimeoutError extends Error {
  override readonly name = 'LockTimeoutError';

  constructor(
    readonly lockPath: string,
    /** `undefined` when the lock file named no process (empty or being written), or was no lock file. */
    readonly holderPid: number | undefined,
    readonly waitedMs: number,
    readonly obstacle?: LockObstacle,
  ) {
    const holder = holderPid === undefined ? 'an unknown process' : `PID ${holderPid}`;
    super(
      `timed out after ${waitedMs} ms waiting for the lock ${lockPath}, ` +
        (obstacle === undefined ? `held by ${holder}` : `${obstacle.path} ${obstacle.what}`),
    );
  }
}

interface LockOptions {
  /** How long to wait for a live holder before giving up; 0 tries once. */
  readonly timeoutMs: number;
  /** How often to look at the lock again while waiting. */
  readonly pollMs?: number;
}

interface Lock {
  readonly path: string;
  /** Removes the lock file if it is still ours. Safe to call more than once. */
  release(): Promise<void>;
  /** The same as `release`, for signal and exit handlers that cannot wait. */
  releaseSync(): void;
}

/** What a lock file says about the process that holds it. */
interface LockHolder {
  readonly pid: number;
  readonly host?: string;
  /** The kernel's start time of the process (clock ticks since boot), which tells a reused PID apart. */
  readonly startTime?: string;
}

/**
 * A lock file with no readable holder is normally one caught between its
 * creation and the write of the PID; past this age its writer has died.
 */
const UNREADABLE_LOCK_STALE_MS = 5_000;

const DEFAULT_POLL_MS = 100;

/** Never follows a symbolic link, even a dangling one: EEXIST instead. */
const EXCLUSIVE_CREATION = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** A lock record is a PID, a host name and a start time: a larger file is something else. */
const LOCK_FILE_MAX_BYTES = 4096;

/** One line each: PID, host name, start time. A file holding just a PID is understood too. */
function formatLockRecord(holder: LockHolder): string {
  return [holder.pid, holder.host ?? '', holder.startTime ?? ''].join('\n') + '\n';
}

function parseLockRecord(text: string): LockHolder | undefined {
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
function parseProcessStartTime(stat: string): string | undefined {
  const afterCommand = stat
    .slice(stat.lastIndexOf(')') + 1)
    .trim()
    .split(/\s+/);
  const startTime = afterCommand[22 - 3];
  return startTime !== undefined && /^[0-9]+$/.test(startTime) ? startTime : undefined;
}

/**
 * Creates `lockPath` exclusively, waiting while a live process holds it and
 * taking over a lock whose holder has died. Whatever else is at the path (a
 * FIFO, a directory, a symbolic link, a device, a large file) is never
 * opened for long, followed nor removed: it is waited on like a live holder.
 * Throws `LockTimeoutError` after `timeoutMs`; other failures (e.g. a
 * read-only directory) are thrown as the system error.
 */
export async function acquireLock(lockPath: string, options: LockOptions): Promise<Lock> {
  const startedAt = Date.now();
  ownRecord ??= formatLockRecord({ pid: process.pid, host: hostname(), startTime: await readStartTime(process.pid) });
  const record = ownRecord;
  let retryAtOnce = true;
  for (;;) {
    const inode = createLockFile(lockPath, record);
    if (inode !== undefined) {
      const lock = new HeldLock(lockPath, record, inode);
      heldLocks.add(lock);
      return lock;
    }
    const observed = inspectLock(lockPath);
    const removal = observed.state === 'held' && (await isStale(observed)) ? await removeStaleLock(lockPath) : 'none';
    // Gone, or stale and removed: the next attempt may well succeed. Twice in
    // a row without success means others are racing for it; wait like them.
    if ((observed.state === 'vanished' || removal === 'removed') && retryAtOnce) {
      retryAtOnce = false;
      continue;
    }
    retryAtOnce = true;
    const waitedMs = Date.now() - startedAt;
    if (waitedMs >= options.timeoutMs) {
      const inTheWay =
        typeof removal === 'object' ? removal : observed.state === 'obstacle' ? observed.obstacle : undefined;
      const holderPid = observed.state === 'held' ? observed.holder?.pid : undefined;
      throw new LockTimeoutError(lockPath, inTheWay === undefined ? holderPid : undefined, waitedMs, inTheWay);
    }
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
    const observed = inspectLock(this.path);
    return observed.state === 'held' && observed.inode === this.inode && observed.text === this.record;
  }
}

interface HeldLockFile {
  readonly state: 'held';
  readonly holder: LockHolder | undefined;
  readonly ageMs: number;
  readonly inode: number;
  readonly text: string;
}

type ObservedLock =
  HeldLockFile | { readonly state: 'vanished' } | { readonly state: 'obstacle'; readonly obstacle: LockObstacle };

/**
 * The new file's inode, or `undefined` when the lock already exists. A few
 * bytes, written synchronously: in a batch of a thousand certificates, four
 * thread-pool round trips per lock cost more than the writes themselves.
 */
function createLockFile(lockPath: string, record: string): number | undefined {
  let descriptor: number;
  try {
    descriptor = openSync(lockPath, EXCLUSIVE_CREATION, 0o644);
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

/**
 * What is at a lock's path, never blocking on it nor following a link. A
 * few bytes, read synchronously, as the lock file is written. A file that
 * cannot be read (EACCES) is thrown as the `FileReadError`.
 */
function inspectLock(lockPath: string): ObservedLock {
  let text: string;
  let stats: Stats;
  try {
    const content = readRegularFileSync(lockPath, { maxBytes: LOCK_FILE_MAX_BYTES, followSymlinks: false });
    text = content.bytes.toString('utf8');
    stats = content.stats;
  } catch (error) {
    if (!(error instanceof FileReadError)) throw error;
    const { problem } = error;
    if (problem.kind === 'missing') return { state: 'vanished' };
    if (problem.kind === 'not-regular') {
      return { state: 'obstacle', obstacle: { path: lockPath, what: `is a ${problem.type}, not a lock file` } };
    }
    if (problem.kind === 'too-large') {
      return { state: 'obstacle', obstacle: { path: lockPath, what: `is not a lock file (${error.reason})` } };
    }
    throw error;
  }
  return {
    state: 'held',
    holder: parseLockRecord(text),
    ageMs: Date.now() - stats.mtimeMs,
    inode: stats.ino,
    text,
  };
}

async function isStale({ holder, ageMs }: HeldLockFile): Promise<boolean> {
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
 * `busy` when another process is breaking the lock right now, or what sits in
 * the second lock file's place.
 */
async function removeStaleLock(lockPath: string): Promise<'removed' | 'busy' | LockObstacle> {
  const breakPath = `${lockPath}.break`;
  try {
    closeSync(openSync(breakPath, EXCLUSIVE_CREATION, 0o644));
  } catch (error) {
    if (systemErrorCode(error) !== 'EEXIST') throw error;
    return await removeAbandonedBreakLock(breakPath);
  }
  try {
    const current = inspectLock(lockPath);
    if (current.state === 'held' && (await isStale(current))) unlinkIfExists(lockPath);
    return 'removed';
  } finally {
    unlinkIfExists(breakPath);
  }
}

/**
 * A breaker holds its file for microseconds; one that stays has lost its
 * process. Only a regular file can be one.
 */
async function removeAbandonedBreakLock(breakPath: string): Promise<'busy' | LockObstacle> {
  let stats: Stats;
  try {
    stats = await fs.lstat(breakPath);
  } catch (error) {
    if (systemErrorCode(error) !== 'ENOENT') throw error;
    return 'busy';
  }
  if (!stats.isFile()) return { path: breakPath, what: `is a ${specialFileType(stats)}, not a lock file` };
  if (Date.now() - stats.mtimeMs >= UNREADABLE_LOCK_STALE_MS) unlinkIfExists(breakPath);
  return 'busy';
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
