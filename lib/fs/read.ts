/**
 * Reading the files the user's side puts in place (bundles, chains, keys,
 * responses, crt-lists, lock files): regular files only, within a cap, never
 * blocking; a FileReadError says why a file was not read.
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { formatByteCount } from './caps.ts';
import { specialFileType, systemErrorCode, type SpecialFileType } from './system.ts';

type FileReadProblem =
  | { readonly kind: 'missing' }
  | { readonly kind: 'not-regular'; readonly type: SpecialFileType }
  /** `size` is unknown when the file claimed to be smaller than it was (a /proc file says 0). */
  | { readonly kind: 'too-large'; readonly maxBytes: number; readonly size?: number }
  | { readonly kind: 'permission' }
  | { readonly kind: 'system' };

/** A file that was not read: missing, not a regular file, too large, or refused by the system. */
export class FileReadError extends Error {
  override readonly name = 'FileReadError';

  constructor(
    readonly path: string,
    readonly problem: FileReadProblem,
    /** The operating system's error code, when it refused (`ENOENT`, `EACCES`, `EIO`…). */
    readonly code?: string,
    options?: ErrorOptions,
  ) {
    super(`can't read ${path}: ${describeReadProblem(problem, code)}`, options);
  }

  /** Why, as a clause for a message: "no such file", "it is a FIFO, not a regular file"… */
  get reason(): string {
    return describeReadProblem(this.problem, this.code);
  }
}

interface ReadLimits {
  /** A larger file is refused, unless `prefixOnly` asks for its first `maxBytes` only. */
  readonly maxBytes: number;
  readonly prefixOnly?: boolean;
  /** Refuse a symbolic link instead of reading the file it points to. */
  readonly followSymlinks?: boolean;
}

interface FileContent {
  readonly bytes: Buffer;
  /** The opened file's own attributes (inode, modification time…). */
  readonly stats: Stats;
}

/**
 * Reads a regular file the user's side put in place, never more than
 * `limits.maxBytes`, without ever blocking on what is not a regular file.
 * The type is checked before the open, since opening a device can act
 * (a watchdog, a tape drive), and again on the descriptor, since the path may
 * have changed in between: the non-blocking open then keeps a FIFO from
 * waiting for a writer. Synchronous: the reads are small, and a batch of
 * thousands of certificates pays for every thread-pool round trip.
 */
export function readRegularFileSync(path: string, limits: ReadLimits): FileContent {
  const followSymlinks = limits.followSymlinks ?? true;
  let descriptor: number;
  try {
    checkReadable(path, followSymlinks ? statSync(path) : lstatSync(path), limits);
    descriptor = openSync(
      path,
      constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY | (followSymlinks ? 0 : constants.O_NOFOLLOW),
    );
  } catch (error) {
    throw readFailure(path, error, followSymlinks);
  }
  try {
    const stats = fstatSync(descriptor);
    checkReadable(path, stats, limits);
    const bytes = readAtMost(descriptor, stats.size, limits);
    if (!limits.prefixOnly && bytes.length > limits.maxBytes) {
      throw new FileReadError(path, { kind: 'too-large', maxBytes: limits.maxBytes });
    }
    return { bytes, stats };
  } catch (error) {
    throw readFailure(path, error, followSymlinks);
  } finally {
    closeSync(descriptor);
  }
}

function checkReadable(path: string, stats: Stats, limits: ReadLimits): void {
  if (!stats.isFile()) throw new FileReadError(path, { kind: 'not-regular', type: specialFileType(stats) });
  if (!limits.prefixOnly && stats.size > limits.maxBytes) {
    throw new FileReadError(path, { kind: 'too-large', maxBytes: limits.maxBytes, size: stats.size });
  }
}

/** A file that claimed to be smaller than it is grows the buffer by at least this much at a time. */
const MIN_GROWTH_BYTES = 64 * 1024;

/**
 * Up to `maxBytes` (one more when a larger file is to be refused), in a buffer
 * sized after what the file claims and grown only while more keeps coming.
 */
function readAtMost(descriptor: number, claimedSize: number, limits: ReadLimits): Buffer {
  const wanted = limits.prefixOnly ? limits.maxBytes : limits.maxBytes + 1;
  let buffer = Buffer.allocUnsafe(Math.min(wanted, claimedSize + 1));
  let filled = 0;
  for (;;) {
    if (filled === buffer.length) {
      if (filled === wanted) break;
      const larger = Buffer.allocUnsafe(Math.min(wanted, Math.max(2 * filled, MIN_GROWTH_BYTES)));
      buffer.copy(larger, 0, 0, filled);
      buffer = larger;
    }
    const count = readSync(descriptor, buffer, filled, buffer.length - filled, null);
    if (count === 0) break;
    filled += count;
  }
  return buffer.subarray(0, filled);
}

function readFailure(path: string, error: unknown, followSymlinks: boolean): FileReadError {
  if (error instanceof FileReadError) return error;
  const code = systemErrorCode(error) ?? 'UNKNOWN';
  const problem: FileReadProblem =
    code === 'ENOENT' || code === 'ENOTDIR'
      ? { kind: 'missing' }
      : code === 'EACCES' || code === 'EPERM'
        ? { kind: 'permission' }
        : code === 'ELOOP' && !followSymlinks
          ? { kind: 'not-regular', type: 'symbolic link' }
          : { kind: 'system' };
  return new FileReadError(path, problem, code, { cause: error });
}

function describeReadProblem(problem: FileReadProblem, code: string | undefined): string {
  switch (problem.kind) {
    case 'missing':
      return 'no such file';
    case 'not-regular':
      return problem.type === 'directory' ? 'it is a directory' : `it is a ${problem.type}, not a regular file`;
    case 'too-large':
      return problem.size === undefined
        ? `it is larger than the ${formatByteCount(problem.maxBytes)} limit`
        : `it is ${problem.size} bytes, larger than the ${formatByteCount(problem.maxBytes)} limit`;
    case 'permission':
      return 'permission denied';
    case 'system':
      return `can't read it (${code ?? 'UNKNOWN'})`;
  }
}
