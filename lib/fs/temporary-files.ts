/**
 * The temporary files the atomic writer puts beside its targets, and the
 * clean-up of those a killed run left behind.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { processExists } from '../process/alive.ts';
import { appendTo } from '../util/multimap.ts';
import { systemErrorCode } from './system.ts';

/** Where a write to `path` lands: the file its symbolic links lead to, or `path` itself while it does not exist. */
export async function resolveSymbolicLinks(path: string): Promise<string> {
  try {
    return await fs.realpath(path);
  } catch (error) {
    if (systemErrorCode(error) === 'ENOENT') return path;
    throw error;
  }
}

const TEMPORARY_ID_BYTES = 6;

/**
 * A new name beside `target`: a dot-file, which HAProxy skips in a crt
 * directory, naming the target and the writer so that a leftover can be
 * told apart from a file being written.
 */
export function temporaryPathFor(target: string): string {
  return join(
    dirname(target),
    `.${basename(target)}.${process.pid}.${randomBytes(TEMPORARY_ID_BYTES).toString('hex')}.tmp`,
  );
}

/** The names temporaryPathFor gives: the target's name, the writer's PID and a random hex id. */
const TEMPORARY_NAME = new RegExp(`^\\.(.+)\\.([1-9][0-9]*)\\.[0-9a-f]{${2 * TEMPORARY_ID_BYTES}}\\.tmp$`);

/** A temporary file of another process, left beside a target it never renamed. */
interface StaleTemporaryFile {
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
