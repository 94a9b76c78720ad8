/**
 * Replacing the files HAProxy reads beside a certificate, so that no reader
 * ever sees a torn one, and writing the reports the user names; a
 * FileWriteError says why a file was not written.
 */
import {
  closeSync,
  constants,
  fstatSync,
  ftruncateSync,
  openSync,
  promises as fs,
  statSync,
  writeFileSync,
  type Stats,
} from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { specialFileType, systemErrorCode } from './system.ts';
import { resolveSymbolicLinks, temporaryPathFor } from './temporary-files.ts';

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
