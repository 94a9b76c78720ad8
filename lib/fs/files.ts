import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fstatSync,
  ftruncateSync,
  lstatSync,
  openSync,
  promises as fs,
  readSync,
  statSync,
  writeFileSync,
  type Stats,
} from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { appendTo } from '../util/multimap.ts';
import { processExists } from '../process/alive.ts';

/** A file could not be replaced; the previous content, if any, is still in place. */
export class FileWriteError extends Error {
  override readonly name = 'FileWriteError';

  constructor(
    /** The path the caller asked to write. */
    readonly path: string,
    /**
     * The operating system's error code, e.g. `EACCES`, `EROFS`, `ENOSPC`; or,
     * for a target that must not be replaced, why ("it is a FIFO, not a regular file").
     */
    readonly code: string,
    step: string,
    cause: unknown,
  ) {
    super(`can't write ${path}: ${step} failed (${code})`, { cause });
  }
}

interface ReplacementOptions {
  /**
   * The certificate the new file belongs to. When the certificate's directory
   * is private, a new file copies the certificate's mode instead of 0644.
   */
  readonly modeFallbackFrom?: string;
}

interface FileReplacement {
  readonly path: string;
  readonly data: Buffer | string;
}

interface Ownership {
  readonly uid: number;
  readonly gid: number;
}

interface FileAttributes {
  readonly mode: number;
  readonly ownership?: Ownership;
}

const PUBLIC_FILE_MODE = 0o644;
const OTHERS_READ_AND_SEARCH = 0o005;

/**
 * A directory is private when other users may not both list and enter it
 * (0700, 0750, 0711, 0751…). Files placed there were meant to stay private,
 * so a new file copies the certificate's mode rather than defaulting to 0644.
 */
function isPrivateDirectory(mode: number): boolean {
  return (mode & OTHERS_READ_AND_SEARCH) !== OTHERS_READ_AND_SEARCH;
}

/**
 * Replaces each file so that readers (HAProxy, a crash, a concurrent run) only
 * ever see the old or the new content in full: the data goes to a temporary
 * file in the same directory, is flushed, then renamed over the target. A
 * symbolic link is followed, so the link stays and its target is replaced.
 * Several files (a `.issuer` and its `.ocsp`) are written and flushed side by
 * side before the first rename, so a failure to write any of them replaces
 * none. The renames follow in the given order, then each directory is
 * flushed once for all of them.
 */
export async function replaceFilesAtomically(
  files: readonly FileReplacement[],
  options: ReplacementOptions = {},
): Promise<void> {
  const prepared = await Promise.allSettled(files.map((file) => prepareReplacement(file, options)));
  const failure = prepared.find((outcome) => outcome.status === 'rejected');
  const ready = prepared.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []));
  if (failure !== undefined) {
    await Promise.all(ready.map((replacement) => replacement.discard()));
    throw failure.reason;
  }
  for (const [index, replacement] of ready.entries()) {
    try {
      await replacement.commit();
    } catch (error) {
      await Promise.all(ready.slice(index).map((pending) => pending.discard()));
      throw error;
    }
  }
  // Each directory is named after the first file renamed into it, should its flush fail.
  const directories = new Map<string, string>();
  for (const { target, requested } of ready) {
    if (!directories.has(dirname(target))) directories.set(dirname(target), requested);
  }
  await Promise.all(
    [...directories].map(([directory, requested]) =>
      syncDirectory(directory).catch((error: unknown) => {
        throw new FileWriteError(requested, systemErrorCode(error) ?? 'UNKNOWN', 'flush the directory', error);
      }),
    ),
  );
}

interface PreparedReplacement {
  /** The path the caller asked to write. */
  readonly requested: string;
  /** Where it leads once symbolic links are followed. */
  readonly target: string;
  commit(): Promise<void>;
  discard(): Promise<void>;
}

/** A flushed temporary file beside the target, ready to be renamed over it. */
async function prepareReplacement(file: FileReplacement, options: ReplacementOptions): Promise<PreparedReplacement> {
  let step = 'resolve the target';
  let temporaryPath: string | undefined;
  const failed = (error: unknown) => new FileWriteError(file.path, systemErrorCode(error) ?? 'UNKNOWN', step, error);
  const discard = async () => {
    // The caller needs the original failure more than news of a failed clean-up.
    if (temporaryPath !== undefined) await fs.rm(temporaryPath, { force: true }).catch(() => undefined);
  };
  try {
    const target = await resolveSymbolicLinks(file.path);
    step = 'read the current file attributes';
    const existing = await statIfExists(target);
    // The rename would put a regular file where a FIFO or a device node is
    // (through a link, /dev/zero itself); a directory makes it fail anyway.
    if (existing !== undefined && !existing.isFile() && !existing.isDirectory()) {
      throw notARegularFile(file.path, existing);
    }
    const attributes = await attributesFor(existing, options.modeFallbackFrom);
    step = 'create a temporary file';
    const candidatePath = temporaryPathFor(target);
    const handle = await fs.open(candidatePath, 'wx', 0o600);
    temporaryPath = candidatePath;
    try {
      step = 'write';
      await handle.writeFile(file.data);
      step = 'set owner and mode';
      if (attributes.ownership) await chownIfPermitted(handle, attributes.ownership);
      await handle.chmod(attributes.mode);
      step = 'flush';
      await handle.sync();
    } finally {
      await handle.close();
    }
    return {
      requested: file.path,
      target,
      discard,
      commit: async () => {
        step = 'rename';
        try {
          await fs.rename(candidatePath, target);
          temporaryPath = undefined;
        } catch (error) {
          throw failed(error);
        }
      },
    };
  } catch (error) {
    await discard();
    throw error instanceof FileWriteError ? error : failed(error);
  }
}

async function resolveSymbolicLinks(path: string): Promise<string> {
  try {
    return await fs.realpath(path);
  } catch (error) {
    if (systemErrorCode(error) === 'ENOENT') return path;
    throw error;
  }
}

async function attributesFor(
  existing: Stats | undefined,
  certificatePath: string | undefined,
): Promise<FileAttributes> {
  if (existing) return { mode: existing.mode & 0o7777, ownership: existing };
  if (certificatePath === undefined) return { mode: PUBLIC_FILE_MODE };
  const [certificate, certificateDirectory] = await Promise.all([
    fs.stat(certificatePath),
    fs.stat(dirname(certificatePath)),
  ]);
  if (!isPrivateDirectory(certificateDirectory.mode)) return { mode: PUBLIC_FILE_MODE };
  // The mode alone is not enough: 0640 only lets HAProxy's group read the file if the group matches too.
  return { mode: certificate.mode & 0o777, ownership: certificate };
}

async function statIfExists(path: string): Promise<Stats | undefined> {
  try {
    return await fs.stat(path);
  } catch (error) {
    if (systemErrorCode(error) === 'ENOENT') return undefined;
    throw error;
  }
}

function temporaryPathFor(target: string): string {
  return join(
    dirname(target),
    `.${basename(target)}.${process.pid}.${randomBytes(TEMPORARY_ID_BYTES).toString('hex')}.tmp`,
  );
}

const TEMPORARY_ID_BYTES = 6;

/** The names temporaryPathFor gives: the target's name, the writer's PID and a random hex id. */
const TEMPORARY_NAME = new RegExp(`^\\.(.+)\\.([1-9][0-9]*)\\.[0-9a-f]{${2 * TEMPORARY_ID_BYTES}}\\.tmp$`);

/** A temporary file of another process, left beside a target it never renamed. */
export interface StaleTemporaryFile {
  readonly path: string;
  readonly pid: number;
  /** Why it could not be removed (`EACCES`…); `undefined` once it is gone. */
  readonly failure?: string;
}

/**
 * Removes the temporary files other processes left beside `targets`, in the
 * directory where replaceFilesAtomically puts its own: a run killed between
 * the flush and the rename leaves one, which HAProxy may try to load from a
 * crt directory. Only a caller holding the lock that every writer of these
 * targets takes may call this: no live process can then be writing them.
 * Regular files only, and only names temporaryPathFor makes for these targets.
 */
export async function removeStaleTemporaryFiles(targets: readonly string[]): Promise<StaleTemporaryFile[]> {
  const found: StaleTemporaryFile[] = [];
  for (const requested of targets) {
    let target: string;
    try {
      target = await resolveSymbolicLinks(requested);
    } catch {
      // The write itself will fail on this path and say why.
      continue;
    }
    const leftovers = await temporaryFilesIn(dirname(target));
    for (const { name, pid } of leftovers.take(basename(target))) {
      // Holding the lock rules out a live writer of this target, but two names
      // linked to one file take two locks: a live process's file is left alone.
      if (pid === process.pid || processExists(pid)) continue;
      const path = join(dirname(target), name);
      const failure = await fs.unlink(path).then(
        () => undefined,
        (error: unknown) => systemErrorCode(error) ?? 'UNKNOWN',
      );
      if (failure !== 'ENOENT') found.push({ path, pid, ...(failure !== undefined && { failure }) });
    }
  }
  return found;
}

/** The temporary files of one directory, by the name of the file each was to replace. */
class TemporaryFileIndex {
  constructor(private readonly byTarget: Map<string, { name: string; pid: number }[]>) {}

  /** Each is handed out once: its certificate's lock is held only by the caller that asks first. */
  take(targetName: string): { name: string; pid: number }[] {
    const files = this.byTarget.get(targetName) ?? [];
    this.byTarget.delete(targetName);
    return files;
  }
}

/**
 * Each directory is listed once per process: a batch of thousands of
 * certificates in one crt directory would otherwise list it once for each of
 * them. A run that dies after the listing leaves files for the next run.
 */
const temporaryFileIndexes = new Map<string, Promise<TemporaryFileIndex>>();

function temporaryFilesIn(directory: string): Promise<TemporaryFileIndex> {
  let index = temporaryFileIndexes.get(directory);
  if (index === undefined) {
    index = indexTemporaryFiles(directory);
    temporaryFileIndexes.set(directory, index);
  }
  return index;
}

async function indexTemporaryFiles(directory: string): Promise<TemporaryFileIndex> {
  const byTarget = new Map<string, { name: string; pid: number }[]>();
  // An unreadable directory has no files to remove that we could reach.
  const entries = await fs.readdir(directory, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    const match = entry.isFile() ? TEMPORARY_NAME.exec(entry.name) : null;
    if (match === null) continue;
    const [, targetName = '', pid = ''] = match;
    appendTo(byTarget, targetName, { name: entry.name, pid: Number(pid) });
  }
  return new TemporaryFileIndex(byTarget);
}

/**
 * Only root (or a member of the target group) may give a file away, and in a
 * user namespace an unmapped owner cannot be set (EINVAL); the file then stays
 * ours, as when the updater is not run as root.
 */
async function chownIfPermitted(handle: FileHandle, ownership: Ownership): Promise<void> {
  try {
    await handle.chown(ownership.uid, ownership.gid);
  } catch (error) {
    const code = systemErrorCode(error);
    if (code !== 'EPERM' && code !== 'EINVAL') throw error;
  }
}

/** Without this, a power loss after the rename may bring back the old directory entry. */
async function syncDirectory(directory: string): Promise<void> {
  const handle = await fs.open(directory, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** What a writer says of a target it must not replace: "it is a FIFO, not a regular file". */
function notARegularFile(path: string, stats: Stats): FileWriteError {
  return new FileWriteError(
    path,
    `it is a ${specialFileType(stats)}, not a regular file`,
    'check the target',
    undefined,
  );
}

/**
 * Writes a file the user named for a report (`--junit`), over what is there,
 * without ever blocking: a FIFO, whether or not anyone reads it, a device or
 * a directory is refused, as the readers refuse them.
 */
export function writeRegularFileSync(path: string, data: string): void {
  let step = 'check the target';
  try {
    const existing = statSync(path, { throwIfNoEntry: false });
    if (existing !== undefined && !existing.isFile()) throw notARegularFile(path, existing);
    step = 'open';
    const descriptor = openSync(
      path,
      constants.O_WRONLY | constants.O_CREAT | constants.O_NONBLOCK | constants.O_NOCTTY,
      0o644,
    );
    try {
      const opened = fstatSync(descriptor);
      if (!opened.isFile()) throw notARegularFile(path, opened);
      step = 'write';
      ftruncateSync(descriptor);
      writeFileSync(descriptor, data);
    } finally {
      closeSync(descriptor);
    }
  } catch (error) {
    if (error instanceof FileWriteError) throw error;
    throw new FileWriteError(path, systemErrorCode(error) ?? 'UNKNOWN', step, error);
  }
}

/** The `code` of a Node.js system error (`ENOENT`, `EACCES`…), if it has one. */
export function systemErrorCode(error: unknown): string | undefined {
  if (error instanceof Error && 'code' in error && typeof error.code === 'string') return error.code;
  return undefined;
}

const KIB = 1024;
const MIB = 1024 * KIB;

/**
 * OCSP responses, in place or fetched: OpenSSL's own HTTP client refuses a
 * larger one, and a response for a single certificate is a few kilobytes.
 */
export const OCSP_RESPONSE_MAX_BYTES = 100 * KIB;

/**
 * Bundles, `.issuer`, `.key` and trust anchor files. The largest of them in
 * real use is a system CA bundle (about 220 KB); a bundle is a few kilobytes.
 */
export const PEM_FILE_MAX_BYTES = 4 * MIB;

/**
 * A crt-list of about 100,000 certificates with a few options each. Parsing
 * one is synchronous (about 0.9 s for 200,000 lines here), so the cap also
 * bounds how long a signal may wait.
 */
export const CRT_LIST_MAX_BYTES = 8 * MIB;

/** What is at a path instead of a regular file. */
export type SpecialFileType =
  'directory' | 'FIFO' | 'character device' | 'block device' | 'socket' | 'symbolic link' | 'special file';

export type FileReadProblem =
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

export interface ReadLimits {
  /** A larger file is refused, unless `prefixOnly` asks for its first `maxBytes` only. */
  readonly maxBytes: number;
  readonly prefixOnly?: boolean;
  /** Refuse a symbolic link instead of reading the file it points to. */
  readonly followSymlinks?: boolean;
}

export interface FileContent {
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
      const larger = Buffer.allocUnsafe(Math.min(wanted, Math.max(2 * filled, 64 * KIB)));
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

export function specialFileType(stats: Stats): SpecialFileType {
  if (stats.isDirectory()) return 'directory';
  if (stats.isFIFO()) return 'FIFO';
  if (stats.isCharacterDevice()) return 'character device';
  if (stats.isBlockDevice()) return 'block device';
  if (stats.isSocket()) return 'socket';
  if (stats.isSymbolicLink()) return 'symbolic link';
  return 'special file';
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

/** "4 MiB", "100 KiB", or a plain count of bytes. */
function formatByteCount(bytes: number): string {
  if (bytes % MIB === 0) return `${bytes / MIB} MiB`;
  if (bytes % KIB === 0) return `${bytes / KIB} KiB`;
  return `${bytes} bytes`;
}
