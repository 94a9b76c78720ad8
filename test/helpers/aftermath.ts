// What a run of the CLI on bad input must leave behind, and how it must say
// so: shared by the end-to-end tests of hostile files, responders and sockets.
import { createHash } from 'node:crypto';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { CliRun } from './cli.ts';

/** The error line of a failed run on CERT. */
export const certError = (cert: string, message: string) => `Error processing '${cert}': ${message}\n`;

/** The two lines of an exit 9 error. */
export const programError = (message: string) => `Error: ${message}\nRun hapos-upd -h for help\n`;

/** A TMPDIR of its own for one run, under PARENT, so that the run's clean-up can be checked. */
export async function privateTempDir(parent: string): Promise<string> {
  const dir = await mkdtemp(path.join(parent, 'tmp-'));
  // Writable by `nobody` too; the sticky bit keeps it as safe as /tmp.
  await chmod(dir, 0o1777);
  return dir;
}

export async function assertTempDirRemoved(dir: string): Promise<void> {
  assert.deepEqual(await readdir(dir), [], 'the run removes its temporary directory');
}

/** Every entry of DIR (dot-files included) with a digest of its bytes. */
export async function snapshot(dir: string): Promise<Record<string, string>> {
  const entries = await readdir(dir, { withFileTypes: true });
  const state: Record<string, string> = {};
  for (const entry of entries) {
    state[entry.name] = entry.isDirectory()
      ? 'directory'
      : !entry.isFile()
        ? 'special file'
        : createHash('sha256')
            .update(await readFile(path.join(dir, entry.name)))
            .digest('hex');
  }
  return state;
}

/** Temporary files of an atomic write, lock files and their break files. */
export async function leftoversIn(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((name) => /\.(tmp|lock|break)$/.test(name));
}

/** The run's result and how long it took, in milliseconds. */
export async function timed(running: Promise<CliRun>): Promise<CliRun & { elapsedMs: number }> {
  const startedAt = Date.now();
  const result = await running;
  return { ...result, elapsedMs: Date.now() - startedAt };
}

/** Processes whose command line mentions DIR (an openssl writing into a run's temporary directory, say). */
export async function programsMentioning(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    const commandLine = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (commandLine.includes(dir)) found.push(commandLine.split('\0').join(' ').trim());
  }
  return found;
}
