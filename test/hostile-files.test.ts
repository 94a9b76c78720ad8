// End-to-end runs of the built CLI on files a careless admin or a hostile
// user may leave where it reads and writes: a FIFO, a device, a directory, a
// dangling link, a huge file, the temporary files of a killed run. Each run
// must end promptly (or at --lock-timeout) with its one error line and exit
// code, never block, never replace a device, and leave the `.ocsp` and
// `.issuer` in place as they were.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { copyFile, lstat, mkdir, mkdtemp, readFile, readdir, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from '../lib/process/run.ts';
import { parseOcspResponse } from '../lib/pki/ocsp-response.ts';
import { createTestPki, fetchOcspResponse, type TestPki } from './helpers/pki.ts';
import { CLI_PATH, lockPathOf, type CliRun } from './helpers/cli.ts';
import {
  assertTempDirRemoved,
  certError,
  leftoversIn,
  privateTempDir,
  programError,
  snapshot,
} from './helpers/aftermath.ts';

let pki: TestPki;
let workDir: string;
/** A valid response for the `good` leaf, standing for the one a previous run left in place. */
let goodResponseInPlace: Buffer;

before(async () => {
  pki = await createTestPki();
  workDir = await mkdtemp(path.join(tmpdir(), 'hapos-upd-hostile-files-'));
  goodResponseInPlace = await fetchOcspResponse(pki, 'good');
});

after(async () => {
  await pki?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

/**
 * Every run is killed past this: a regression that blocks again (on a FIFO,
 * reading /dev/zero) fails its test instead of hanging the suite.
 */
const RUN_LIMIT_MS = 20_000;

interface TimedRun extends CliRun {
  readonly elapsedMs: number;
  /** The run's temporary directory: empty once it ended, unless --keep-temp kept its files. */
  readonly tempDir: string;
}

/** Starts the built CLI with a temporary directory of its own, and a handle on its process. */
async function startCli(
  args: readonly string[],
): Promise<{ child: ChildProcess; tempDir: string; finished: Promise<TimedRun> }> {
  const tempDir = await privateTempDir(workDir);
  const startedAt = Date.now();
  const child = spawn(process.execPath, [CLI_PATH, ...args], {
    env: { ...pki.env, TMPDIR: tempDir, NO_COLOR: '1' },
    cwd: '/',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const limit = setTimeout(() => child.kill('SIGKILL'), RUN_LIMIT_MS);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const finished = once(child, 'close').then(([exitCode, signal]) => {
    clearTimeout(limit);
    return {
      exitCode: exitCode as number | null,
      signal: signal as NodeJS.Signals | null,
      stdout,
      stderr,
      elapsedMs: Date.now() - startedAt,
      tempDir,
    };
  });
  return { child, tempDir, finished };
}

async function cli(args: readonly string[]): Promise<TimedRun> {
  const result = await (await startCli(args)).finished;
  if (!args.includes('--keep-temp')) {
    await assertTempDirRemoved(result.tempDir);
  }
  return result;
}

const update = (cert: string, ...extraArgs: string[]) => cli(['-S', '--retries', '0', ...extraArgs, '--cert', cert]);

/** A directory of its own for each case, so that one case's files never show up in another's checks. */
const caseDir = () => mkdtemp(path.join(workDir, 'case-'));

/** The `good` leaf's bundle as `site.pem` in a fresh directory. */
async function placeBundle(): Promise<string> {
  const cert = path.join(await caseDir(), 'site.pem');
  await copyFile(pki.leaves.good.bundle, cert);
  return cert;
}

/** What a previous successful run would have left beside CERT. */
async function placePreviousRun(cert: string): Promise<void> {
  await writeFile(`${cert}.ocsp`, goodResponseInPlace);
  await copyFile(pki.intermediate, `${cert}.issuer`);
}

async function mkfifo(file: string): Promise<void> {
  const made = await run('mkfifo', [file]);
  assert.equal(made.exitCode, 0, made.stderr);
}

/**
 * A character device with /dev/zero's numbers, in DIR: a regression that
 * replaced it would destroy only this copy, never the system's /dev/zero.
 * Undefined where device nodes cannot be made (no CAP_MKNOD).
 */
async function privateDevZero(dir: string): Promise<string | undefined> {
  const node = path.join(dir, 'zero');
  const made = await run('mknod', [node, 'c', '1', '5']);
  return made.exitCode === 0 ? node : undefined;
}

async function assertStillCharacterDevice(node: string, rdev: number): Promise<void> {
  const stats = await lstat(node);
  assert.ok(stats.isCharacterDevice(), `${node} is still a character device`);
  assert.equal(stats.rdev, rdev);
}

/** Asserts that CERT.ocsp is a `good` response for the `good` leaf. */
async function assertStapled(cert: string): Promise<void> {
  const response = parseOcspResponse(await readFile(`${cert}.ocsp`));
  assert.equal(response.responseStatus, 'successful');
  const single = response.responseStatus === 'successful' ? response.responses[0] : undefined;
  assert.equal(single?.certStatus, 'good');
  assert.equal(single?.certId.serialNumber, pki.leaves.good.serialHex);
}

function assertPrompt(result: TimedRun, boundMs = 5000): void {
  assert.ok(result.elapsedMs < boundMs, `took ${result.elapsedMs} ms`);
}

/** A run bounded by --lock-timeout 1: it waits that second, then gives up at once. */
function assertGaveUpAfterOneSecond(result: TimedRun): void {
  assert.ok(result.elapsedMs >= 1000 && result.elapsedMs < 3000, `took ${result.elapsedMs} ms`);
}

describe('special files where the bundle, its .ocsp or its .issuer should be', { concurrency: 4 }, () => {
  test('a FIFO as the bundle: exit 1 at once, nothing changed', async () => {
    const dir = await caseDir();
    const cert = path.join(dir, 'site.pem');
    await mkfifo(cert);
    await placePreviousRun(cert);
    const before = await snapshot(dir);
    const result = await update(cert);
    assert.equal(
      result.stderr,
      certError(cert, `can't extract EE certificate from ${cert} (it is a FIFO, not a regular file)`),
    );
    assert.equal(result.exitCode, 1);
    assertPrompt(result);
    assert.deepEqual(await snapshot(dir), before);
  });

  test('the bundle a link to /dev/zero: exit 1 at once, nothing read', async () => {
    const dir = await caseDir();
    const cert = path.join(dir, 'site.pem');
    await symlink('/dev/zero', cert);
    await placePreviousRun(cert);
    const before = await snapshot(dir);
    const result = await update(cert);
    assert.equal(
      result.stderr,
      certError(cert, `can't extract EE certificate from ${cert} (it is a character device, not a regular file)`),
    );
    assert.equal(result.exitCode, 1);
    assertPrompt(result);
    assert.deepEqual(await snapshot(dir), before);
  });

  test('a bundle over 4 MiB (sparse): exit 1 at once, without reading it', async () => {
    const cert = await placeBundle();
    await truncate(cert, 4 * 1024 * 1024 + 1);
    await placePreviousRun(cert);
    const before = await snapshot(path.dirname(cert));
    const result = await update(cert);
    assert.equal(
      result.stderr,
      certError(cert, `can't extract EE certificate from ${cert} (it is 4194305 bytes, larger than the 4 MiB limit)`),
    );
    assert.equal(result.exitCode, 1);
    assertPrompt(result);
    assert.deepEqual(await snapshot(path.dirname(cert)), before);
  });

  test('a FIFO as .ocsp: exit 5 before anything is written, the FIFO left as it is', async () => {
    const cert = await placeBundle();
    await mkfifo(`${cert}.ocsp`);
    await copyFile(pki.intermediate, `${cert}.issuer`);
    const before = await snapshot(path.dirname(cert));
    const result = await update(cert);
    assert.equal(result.stderr, certError(cert, `can't update ${cert}.ocsp file (it is a FIFO, not a regular file)`));
    assert.equal(result.exitCode, 5);
    assertPrompt(result);
    assert.deepEqual(await snapshot(path.dirname(cert)), before);
  });

  test('.ocsp a link to a character device with /dev/zero’s numbers: exit 5, the device neither read nor replaced', async (t) => {
    const cert = await placeBundle();
    const devices = await caseDir();
    const zero = await privateDevZero(devices);
    if (zero === undefined) {
      t.skip('mknod is not permitted here: no device node of our own to point .ocsp at');
      return;
    }
    const { rdev } = await lstat(zero);
    await symlink(zero, `${cert}.ocsp`);
    await copyFile(pki.intermediate, `${cert}.issuer`);
    const before = await snapshot(path.dirname(cert));
    const result = await update(cert);
    assert.equal(
      result.stderr,
      certError(cert, `can't update ${cert}.ocsp file (it is a character device, not a regular file)`),
    );
    assert.equal(result.exitCode, 5);
    assertPrompt(result);
    assert.deepEqual(await snapshot(path.dirname(cert)), before);
    await assertStillCharacterDevice(zero, rdev);
    assert.deepEqual(await readdir(devices), ['zero'], 'no temporary file beside the device');
  });

  test('.ocsp over 100 KiB: reported as unreadable, and replaced', async () => {
    const cert = await placeBundle();
    await writeFile(`${cert}.ocsp`, Buffer.alloc(100 * 1024 + 1, 0x30));
    const result = await update(cert);
    assert.equal(
      result.stderr,
      `current OCSP response ${cert}.ocsp is unreadable (it is 102401 bytes, larger than the 100 KiB limit): it will be replaced\n`,
    );
    assert.equal(result.exitCode, 0);
    assertPrompt(result);
    await assertStapled(cert);
    assert.deepEqual(await leftoversIn(path.dirname(cert)), []);
  });

  test('a FIFO as .issuer: exit 3 at once, nothing changed', async () => {
    const cert = await placeBundle();
    await writeFile(`${cert}.ocsp`, goodResponseInPlace);
    await mkfifo(`${cert}.issuer`);
    const before = await snapshot(path.dirname(cert));
    const result = await update(cert);
    assert.equal(
      result.stderr,
      certError(cert, `can't copy current chain from ${cert}.issuer (it is a FIFO, not a regular file)`),
    );
    assert.equal(result.exitCode, 3);
    assertPrompt(result);
    assert.deepEqual(await snapshot(path.dirname(cert)), before);
  });
});

describe('something other than a lock file at the lock path', { concurrency: 4 }, () => {
  const inTheWay = (lock: string, what: string) =>
    programError(`${lock} is ${what}, not a lock file: remove it; gave up after 1 s (--lock-timeout)`);

  /** Runs with --lock-timeout 1 on a bundle with a previous run's files, after PLACE put something at the lock path. */
  async function lockedOutBy(place: (lock: string) => Promise<void>): Promise<{ cert: string; result: TimedRun }> {
    const cert = await placeBundle();
    await placePreviousRun(cert);
    await place(lockPathOf(cert));
    const before = await snapshot(path.dirname(cert));
    const result = await update(cert, '--lock-timeout', '1');
    assert.deepEqual(await snapshot(path.dirname(cert)), before, 'the directory is left as it was');
    return { cert, result };
  }

  test('a FIFO: exit 9 after --lock-timeout, the FIFO left alone', async () => {
    const { cert, result } = await lockedOutBy(mkfifo);
    assert.equal(result.stderr, inTheWay(lockPathOf(cert), 'a FIFO'));
    assert.equal(result.exitCode, 9);
    assertGaveUpAfterOneSecond(result);
  });

  test('a FIFO, and SIGTERM while the run waits: exit 9 at once', async (t) => {
    const cert = await placeBundle();
    await placePreviousRun(cert);
    await mkfifo(lockPathOf(cert));
    const before = await snapshot(path.dirname(cert));
    const { child, tempDir, finished } = await startCli([
      '-S',
      '--retries',
      '0',
      '--lock-timeout',
      '30',
      '--cert',
      cert,
    ]);
    t.after(() => child.kill('SIGKILL'));
    // Its signal handlers are in place once the run has made its log; then it goes on to wait for the lock.
    for (let tries = 0; tries < 100 && !(await runLogIn(tempDir)); tries++) await sleep(50);
    assert.ok(await runLogIn(tempDir), 'the run started');
    await sleep(300);
    const signalledAt = Date.now();
    child.kill('SIGTERM');
    const result = await finished;
    const endedAfterMs = Date.now() - signalledAt;
    assert.equal(result.exitCode, 9, `signal ${result.signal}, stderr ${result.stderr}`);
    assert.equal(result.stderr, '');
    assert.ok(endedAfterMs < 2000, `ended ${endedAfterMs} ms after SIGTERM`);
    assert.deepEqual(await snapshot(path.dirname(cert)), before);
    await assertTempDirRemoved(tempDir);
  });

  test('a dangling symbolic link: exit 9 after --lock-timeout, never followed', async () => {
    const { cert, result } = await lockedOutBy((lock) => symlink(path.join(path.dirname(lock), 'nowhere'), lock));
    assert.equal(result.stderr, inTheWay(lockPathOf(cert), 'a symbolic link'));
    assert.equal(result.exitCode, 9);
    assertGaveUpAfterOneSecond(result);
    assert.equal(existsSync(path.join(path.dirname(cert), 'nowhere')), false, 'nothing created where it points');
  });

  test('a directory: exit 9 after --lock-timeout, the directory left alone', async () => {
    const { cert, result } = await lockedOutBy((lock) => mkdir(lock));
    assert.equal(result.stderr, inTheWay(lockPathOf(cert), 'a directory'));
    assert.equal(result.exitCode, 9);
    assertGaveUpAfterOneSecond(result);
  });
});

/** Whether a run has made its log in TEMP_DIR (its TMPDIR). */
async function runLogIn(tempDir: string): Promise<boolean> {
  return (await readdir(tempDir)).some((name) => existsSync(path.join(tempDir, name, 'log')));
}

describe('temporary files of a run killed between the flush and the rename', { concurrency: 3 }, () => {
  /** The PID of a process that has exited just now. */
  async function deadPid(): Promise<number> {
    const exited = spawn('true');
    await once(exited, 'exit');
    assert.ok(exited.pid !== undefined);
    return exited.pid;
  }

  test('removed by the next run that takes the lock, with a debug line; nothing else removed', async () => {
    const cert = await placeBundle();
    await placePreviousRun(cert);
    const dir = path.dirname(cert);
    const pid = await deadPid();
    const stale = [`.site.pem.ocsp.${pid}.0123456789ab.tmp`, `.site.pem.issuer.${pid}.ba9876543210.tmp`];
    const unrelated = [
      `.other.pem.ocsp.${pid}.0123456789ab.tmp`,
      `.site.pem.key.${pid}.0123456789ab.tmp`,
      `site.pem.ocsp.${pid}.0123456789ab.tmp`,
      `.site.pem.ocsp.${pid}.0123456789ab.tmp.orig`,
      `.site.pem.ocsp.${pid}.0123456789.tmp`,
      '.site.pem.ocsp.tmp',
      '.site.pem.ocsp.notapid.0123456789ab.tmp',
      // A live process's (this test's own): another name of the same file may be under way.
      `.site.pem.ocsp.${process.pid}.0123456789ab.tmp`,
    ];
    for (const name of [...stale, ...unrelated]) await writeFile(path.join(dir, name), 'partial\n');
    // Named like one, but not a file a writer makes.
    const directory = `.site.pem.ocsp.${pid}.aaaaaaaaaaaa.tmp`;
    await mkdir(path.join(dir, directory));

    const result = await update(cert, '--keep-temp');
    assert.equal(result.stderr, '');
    assert.equal(result.exitCode, 0);
    await assertStapled(cert);
    assert.deepEqual(
      (await readdir(dir)).sort(),
      ['site.pem', 'site.pem.issuer', 'site.pem.ocsp', directory, ...unrelated].sort(),
    );
    const log = await readRunLog(result.tempDir);
    for (const name of stale) {
      assert.match(
        log,
        new RegExp(
          `^Removed ${escape(path.join(dir, name))}, left by a run \\(PID ${pid}\\) that ended before renaming it$`,
          'm',
        ),
      );
    }
  });

  test('removed beside the file a linked .ocsp leads to, where the writer puts them', async () => {
    const cert = await placeBundle();
    await copyFile(pki.intermediate, `${cert}.issuer`);
    const elsewhere = await caseDir();
    await writeFile(path.join(elsewhere, 'site.der'), goodResponseInPlace);
    await symlink(path.join(elsewhere, 'site.der'), `${cert}.ocsp`);
    const pid = await deadPid();
    const stale = `.site.der.${pid}.0123456789ab.tmp`;
    await writeFile(path.join(elsewhere, stale), 'partial\n');

    const result = await update(cert);
    assert.equal(result.stderr, '');
    assert.equal(result.exitCode, 0);
    await assertStapled(cert);
    assert.ok((await lstat(`${cert}.ocsp`)).isSymbolicLink(), 'the link stays');
    assert.deepEqual(await readdir(elsewhere), ['site.der']);
  });

  test('left alone by -d, which takes no lock', async () => {
    const cert = await placeBundle();
    await placePreviousRun(cert);
    const pid = await deadPid();
    await writeFile(path.join(path.dirname(cert), `.site.pem.ocsp.${pid}.0123456789ab.tmp`), 'partial\n');
    const before = await snapshot(path.dirname(cert));
    const result = await cli(['-d', '--retries', '0', '--cert', cert]);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.deepEqual(await snapshot(path.dirname(cert)), before);
  });
});

async function readRunLog(tempDir: string): Promise<string> {
  const [runDir] = await readdir(tempDir);
  assert.ok(runDir !== undefined, '--keep-temp kept the run directory');
  return readFile(path.join(tempDir, runDir, 'log'), 'utf8');
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe('options naming special files', { concurrency: 3 }, () => {
  for (const [what, place, reason] of [
    ['a FIFO', mkfifo, 'it is a FIFO, not a regular file'],
    [
      'a link to /dev/zero',
      (file: string) => symlink('/dev/zero', file),
      'it is a character device, not a regular file',
    ],
  ] as const) {
    test(`--VAfile ${what}: exit 9 before any work, openssl never waits on it`, async () => {
      const cert = await placeBundle();
      await placePreviousRun(cert);
      const vaFile = path.join(await caseDir(), 'signer.pem');
      await place(vaFile);
      const before = await snapshot(path.dirname(cert));
      const result = await update(cert, '--VAfile', vaFile);
      assert.equal(result.stderr, programError(`VAfile can't be read: ${vaFile} (${reason})`));
      assert.equal(result.exitCode, 9);
      assertPrompt(result);
      assert.deepEqual(await snapshot(path.dirname(cert)), before);
    });
  }

  test('--VAfile missing: the original message', async () => {
    const cert = await placeBundle();
    const vaFile = path.join(await caseDir(), 'signer.pem');
    const result = await update(cert, '--VAfile', vaFile);
    assert.equal(result.stderr, programError(`VAfile does not exists: ${vaFile}`));
    assert.equal(result.exitCode, 9);
  });

  test('--check --ca-file a FIFO: exit 9, openssl never waits on it', async () => {
    const dir = await caseDir();
    const cert = path.join(dir, 'site.pem');
    await copyFile(pki.leaves.good.bundleWithKey, cert);
    const caFile = path.join(await caseDir(), 'roots.pem');
    await mkfifo(caFile);
    const result = await cli(['--check', '--ca-file', caFile, '--cert', cert]);
    assert.equal(result.stderr, programError(`--ca-file ${caFile}: it is a FIFO, not a regular file`));
    assert.equal(result.exitCode, 9);
    assertPrompt(result);
  });

  test('--crt-list a FIFO: exit 9 at once', async () => {
    const list = path.join(await caseDir(), 'list.txt');
    await mkfifo(list);
    const result = await cli(['-S', '--crt-list', list]);
    assert.equal(result.stderr, programError(`--crt-list ${list}: it is a FIFO, not a regular file`));
    assert.equal(result.exitCode, 9);
    assertPrompt(result);
  });
});
