import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { LockTimeoutError, acquireLock } from '../lib/fs/lock.ts';

const LOCK_MODULE_URL = pathToFileURL(fileURLToPath(new URL('../lib/fs/lock.ts', import.meta.url))).href;
const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));
const execFileAsync = promisify(execFile);
const onLinux = { skip: process.platform !== 'linux' && 'needs /proc' };

/** How old a lock file naming no holder must be before it counts as abandoned. */
const UNREADABLE_LOCK_STALE_MS = 5_000;

let directory: string;
let lockPath: string;
const children: ChildProcess[] = [];

beforeEach(async () => {
  directory = await fs.mkdtemp(join(tmpdir(), 'hapos-lock-'));
  lockPath = join(directory, 'site.pem.ocsp.lock');
});

afterEach(async () => {
  for (const child of children.splice(0))
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await fs.rm(directory, { recursive: true, force: true });
});

/** A PID that belonged to a process which has exited (and been reaped) just now. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await once(child, 'exit');
  assert.ok(child.pid !== undefined);
  return child.pid;
}

async function backdate(path: string, ageMs: number): Promise<void> {
  const then = new Date(Date.now() - ageMs);
  await fs.utimes(path, then, then);
}

/** The PID a lock record names: its first line. */
const recordedPid = (path: string) => Number(readFileSync(path, 'utf8').split('\n')[0]);

/**
 * Field 22 of /proc/PID/stat, the process's start time, counted after the
 * command name that /proc/PID/comm gives.
 */
function startTimeOf(pid: number): string {
  const command = readFileSync(`/proc/${pid}/comm`, 'utf8').replace(/\n$/, '');
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const afterCommand = stat.slice(stat.indexOf(`(${command}) `) + command.length + 3).split(' ');
  return afterCommand[22 - 3]!;
}

function assertTimeout(holderPid: number | undefined, timeoutMs: number) {
  return (error: unknown) => {
    assert.ok(error instanceof LockTimeoutError, `expected a LockTimeoutError, got ${String(error)}`);
    assert.equal(error.lockPath, lockPath);
    assert.equal(error.holderPid, holderPid);
    assert.ok(error.waitedMs >= timeoutMs, `waited ${error.waitedMs} ms`);
    assert.match(error.message, /^timed out after \d+ ms waiting for the lock .+, held by /);
    return true;
  };
}

/** What this process writes in a lock it takes. */
const ownRecord = () => `${process.pid}\n${hostname()}\n${startTimeOf(process.pid)}\n`;

describe('lock records', () => {
  it('are written as PID, host and start time, one a line', onLinux, async () => {
    const lock = await acquireLock(lockPath, { timeoutMs: 0 });
    assert.equal(await fs.readFile(lockPath, 'utf8'), ownRecord());
    await lock.release();
  });

  it('name their holder by a bare PID too', async () => {
    for (const record of [`${process.pid}\n`, `${process.pid}`]) {
      await fs.writeFile(lockPath, record);
      await assert.rejects(acquireLock(lockPath, { timeoutMs: 0 }), assertTimeout(process.pid, 0));
    }
  });

  for (const text of ['', '\n', 'abc\n', '0\n', '-1\n', '12ab\n', ' \n', '99999999999999999999\n']) {
    it(`name no holder in ${JSON.stringify(text)}`, async () => {
      await fs.writeFile(lockPath, text);
      await assert.rejects(acquireLock(lockPath, { timeoutMs: 0 }), assertTimeout(undefined, 0));
    });
  }
});

describe("the holder's start time", () => {
  it('is not fooled by spaces and parentheses in the command name', onLinux, async () => {
    // A shell that renames itself, then waits on its standard input.
    const holder = spawn('sh', ['-c', "printf '%s' 'a) b (c) 1 2 3' > /proc/$$/comm && read line"], {
      stdio: ['pipe', 'ignore', 'inherit'],
    });
    children.push(holder);
    assert.ok(holder.pid !== undefined);
    while (readFileSync(`/proc/${holder.pid}/comm`, 'utf8') !== 'a) b (c) 1 2 3\n') await sleep(5);
    await fs.writeFile(lockPath, `${holder.pid}\n${hostname()}\n${startTimeOf(holder.pid)}\n`);
    await assert.rejects(acquireLock(lockPath, { timeoutMs: 0 }), assertTimeout(holder.pid, 0));
  });
});

describe('acquireLock', () => {
  it('creates the lock file with our PID and host, and release removes it', async () => {
    const lock = await acquireLock(lockPath, { timeoutMs: 0 });
    const [pid, host] = (await fs.readFile(lockPath, 'utf8')).split('\n');
    assert.deepEqual([pid, host], [String(process.pid), hostname()]);
    await lock.release();
    await assert.rejects(fs.stat(lockPath), { code: 'ENOENT' });
  });

  it('can be released more than once, synchronously too', async () => {
    const lock = await acquireLock(lockPath, { timeoutMs: 0 });
    lock.releaseSync();
    lock.releaseSync();
    await lock.release();
    const next = await acquireLock(lockPath, { timeoutMs: 0 });
    await lock.release();
    assert.equal(recordedPid(lockPath), process.pid, "a released lock does not remove its successor's file");
    await next.release();
  });

  it('makes a second acquirer wait until the first releases', async () => {
    const first = await acquireLock(lockPath, { timeoutMs: 0 });
    let secondAcquired = false;
    const second = acquireLock(lockPath, { timeoutMs: 5_000, pollMs: 10 }).then((lock) => {
      secondAcquired = true;
      return lock;
    });
    await sleep(150);
    assert.equal(secondAcquired, false);
    await first.release();
    const lock = await second;
    assert.equal(recordedPid(lockPath), process.pid);
    await lock.release();
  });

  it('times out with the holder PID while the holder is alive', async () => {
    const holder = await acquireLock(lockPath, { timeoutMs: 0 });
    const record = await fs.readFile(lockPath, 'utf8');
    await assert.rejects(acquireLock(lockPath, { timeoutMs: 200, pollMs: 20 }), assertTimeout(process.pid, 200));
    assert.equal(await fs.readFile(lockPath, 'utf8'), record);
    await holder.release();
  });

  it('takes over a lock whose holder has exited (bare PID)', async () => {
    const pid = await deadPid();
    await fs.writeFile(lockPath, `${pid}\n`);
    const lock = await acquireLock(lockPath, { timeoutMs: 0 });
    assert.equal(recordedPid(lockPath), process.pid);
    await lock.release();
  });

  it('takes over a lock whose holder has exited (full record)', async () => {
    await fs.writeFile(lockPath, `${await deadPid()}\n${hostname()}\n1\n`);
    const lock = await acquireLock(lockPath, { timeoutMs: 0 });
    assert.equal(recordedPid(lockPath), process.pid);
    await lock.release();
  });

  it('takes over a lock whose PID now belongs to another process', onLinux, async () => {
    await fs.writeFile(lockPath, `${process.pid}\n${hostname()}\n1\n`);
    const lock = await acquireLock(lockPath, { timeoutMs: 0 });
    assert.equal(await fs.readFile(lockPath, 'utf8'), ownRecord());
    await lock.release();
  });

  it('leaves alone a lock held on another host, even if the PID is unused here', async () => {
    const pid = await deadPid();
    await fs.writeFile(lockPath, `${pid}\nnot-${hostname()}\n`);
    await assert.rejects(acquireLock(lockPath, { timeoutMs: 150, pollMs: 20 }), assertTimeout(pid, 150));
  });

  it('waits for an empty lock file that is being written', async () => {
    await fs.writeFile(lockPath, '');
    await assert.rejects(acquireLock(lockPath, { timeoutMs: 150, pollMs: 20 }), assertTimeout(undefined, 150));
  });

  for (const [name, content] of [
    ['empty', ''],
    ['unreadable', 'garbage\n'],
  ] as const) {
    it(`takes over an ${name} lock file older than ${UNREADABLE_LOCK_STALE_MS} ms`, async () => {
      await fs.writeFile(lockPath, content);
      await backdate(lockPath, UNREADABLE_LOCK_STALE_MS + 1_000);
      const lock = await acquireLock(lockPath, { timeoutMs: 0 });
      assert.equal(recordedPid(lockPath), process.pid);
      await lock.release();
    });
  }

  it('does not break a stale lock while another process is breaking it', async () => {
    await fs.writeFile(lockPath, `${await deadPid()}\n`);
    await fs.writeFile(`${lockPath}.break`, '');
    await assert.rejects(acquireLock(lockPath, { timeoutMs: 150, pollMs: 20 }), LockTimeoutError);
  });

  it('clears a break marker abandoned by a crashed process', async () => {
    await fs.writeFile(lockPath, `${await deadPid()}\n`);
    await fs.writeFile(`${lockPath}.break`, '');
    await backdate(`${lockPath}.break`, UNREADABLE_LOCK_STALE_MS + 1_000);
    const lock = await acquireLock(lockPath, { timeoutMs: 1_000, pollMs: 10 });
    assert.equal(recordedPid(lockPath), process.pid);
    await lock.release();
    assert.deepEqual(await fs.readdir(directory), []);
  });

  it('lets exactly one of several waiters take over the same stale lock', async () => {
    // Deleting the stale file without the break marker lets several waiters win in about a third of the rounds.
    const pid = await deadPid();
    for (let round = 0; round < 10; round++) {
      await fs.writeFile(lockPath, `${pid}\n`);
      const outcomes = await Promise.allSettled(
        Array.from({ length: 6 }, () => acquireLock(lockPath, { timeoutMs: 100, pollMs: 10 })),
      );
      const winners = outcomes.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []));
      const losers = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason as unknown] : []));
      assert.equal(winners.length, 1, `round ${round}`);
      // Under load a loser may give up while the winner is still removing the stale file, naming the dead PID.
      for (const reason of losers) assert.ok(reason instanceof LockTimeoutError, String(reason));
      await winners[0]?.release();
      assert.deepEqual(await fs.readdir(directory), []);
    }
  });

  it('release leaves alone a lock file that is no longer ours', async () => {
    const lock = await acquireLock(lockPath, { timeoutMs: 0 });
    await fs.rm(lockPath);
    await fs.writeFile(lockPath, '4242\n');
    await lock.release();
    assert.equal(await fs.readFile(lockPath, 'utf8'), '4242\n');
  });

  it('never lets two processes hold the lock at once', async () => {
    const processCount = 3;
    const rounds = 8;
    const logPath = join(directory, 'log');
    const goPath = join(directory, 'go');
    const worker = join(directory, 'contend.mjs');
    await fs.writeFile(
      worker,
      `import { appendFileSync, existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { acquireLock } from ${JSON.stringify(LOCK_MODULE_URL)};
const [lockPath, logPath, goPath, rounds] = process.argv.slice(2);
console.log('ready');
while (!existsSync(goPath)) await sleep(5);
for (let round = 0; round < Number(rounds); round++) {
  const lock = await acquireLock(lockPath, { timeoutMs: 5000, pollMs: 2 });
  appendFileSync(logPath, 'start ' + process.pid + '\\n');
  await sleep(5);
  appendFileSync(logPath, 'end ' + process.pid + '\\n');
  await lock.release();
  await sleep(2);
}
`,
    );
    const started = Array.from({ length: processCount }, () => {
      const child = spawn(process.execPath, ['--import', 'tsx', worker, lockPath, logPath, goPath, String(rounds)], {
        cwd: PROJECT_ROOT,
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      children.push(child);
      return child;
    });
    await Promise.all(started.map((child) => once(child.stdout!, 'data')));
    await fs.writeFile(goPath, '');
    const exitCodes = await Promise.all(started.map(async (child) => (await once(child, 'exit'))[0] as number | null));
    assert.deepEqual(exitCodes, Array(processCount).fill(0));

    const lines = (await fs.readFile(logPath, 'utf8')).trimEnd().split('\n');
    assert.equal(lines.length, processCount * rounds * 2);
    for (let index = 0; index < lines.length; index += 2) {
      const pid = lines[index]?.replace(/^start /, '');
      assert.deepEqual(
        [lines[index], lines[index + 1]],
        [`start ${pid}`, `end ${pid}`],
        `critical sections overlap at line ${index + 1}`,
      );
    }
    await assert.rejects(fs.stat(lockPath), { code: 'ENOENT' });
  });
});

describe('acquireLock with something other than a lock file in the way', () => {
  const mkfifo = (path: string) => execFileAsync('mkfifo', [path]);

  function assertObstacle(path: string, what: string, timeoutMs: number) {
    return (error: unknown) => {
      assert.ok(error instanceof LockTimeoutError, `expected a LockTimeoutError, got ${String(error)}`);
      assert.deepEqual(error.obstacle, { path, what });
      assert.equal(error.holderPid, undefined);
      assert.ok(error.waitedMs >= timeoutMs, `waited ${error.waitedMs} ms`);
      assert.equal(
        error.message,
        `timed out after ${error.waitedMs} ms waiting for the lock ${lockPath}, ${path} ${what}`,
      );
      return true;
    };
  }

  /** Fails instead of waiting for good when the lock never gives up. */
  async function withinMs<T>(promise: Promise<T>, limitMs: number): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`still trying after ${limitMs} ms`)), limitMs);
    });
    try {
      return await Promise.race([promise, limit]);
    } finally {
      clearTimeout(timer);
    }
  }

  const obstacles: [string, (path: string) => Promise<unknown>, string][] = [
    ['a FIFO', mkfifo, 'is a FIFO, not a lock file'],
    ['a directory', (path) => fs.mkdir(path), 'is a directory, not a lock file'],
    [
      'a dangling symbolic link',
      (path) => fs.symlink(join(directory, 'nowhere'), path),
      'is a symbolic link, not a lock file',
    ],
    ['a link to a device', (path) => fs.symlink('/dev/zero', path), 'is a symbolic link, not a lock file'],
    [
      'a file too large for a lock record',
      (path) => fs.writeFile(path, Buffer.alloc(4097, 0x31)),
      'is not a lock file (it is 4097 bytes, larger than the 4 KiB limit)',
    ],
  ];
  for (const [name, place, what] of obstacles) {
    it(`waits on ${name} until the timeout, then says what it is, and leaves it in place`, async () => {
      await place(lockPath);
      const before = await fs.lstat(lockPath);
      await assert.rejects(
        withinMs(acquireLock(lockPath, { timeoutMs: 300, pollMs: 50 }), 3_000),
        assertObstacle(lockPath, what, 300),
      );
      const after = await fs.lstat(lockPath);
      assert.equal(after.ino, before.ino);
      assert.equal(after.mode, before.mode);
      assert.deepEqual((await fs.readdir(directory)).sort(), [basename(lockPath)]);
    });
  }

  it('follows no link: one to a stale lock record is neither taken over nor removed', async () => {
    const record = join(directory, 'record');
    await fs.writeFile(record, `${await deadPid()}\n`);
    await backdate(record, UNREADABLE_LOCK_STALE_MS + 1_000);
    await fs.symlink(record, lockPath);
    await assert.rejects(
      withinMs(acquireLock(lockPath, { timeoutMs: 200, pollMs: 50 }), 3_000),
      assertObstacle(lockPath, 'is a symbolic link, not a lock file', 200),
    );
    assert.ok((await fs.lstat(lockPath)).isSymbolicLink());
    assert.ok(existsSync(record));
  });

  it('polls a dangling link at its interval instead of spinning', async () => {
    await fs.symlink(join(directory, 'nowhere'), lockPath);
    const cpuBefore = process.cpuUsage();
    await assert.rejects(withinMs(acquireLock(lockPath, { timeoutMs: 1_000, pollMs: 100 }), 5_000), LockTimeoutError);
    const { user, system } = process.cpuUsage(cpuBefore);
    // About ten polls of a few system calls each; a busy loop burns most of the second.
    assert.ok(user + system < 300_000, `used ${(user + system) / 1000} ms of CPU in 1 s`);
  });

  it('says what sits in place of the break file of a stale lock', async () => {
    await fs.writeFile(lockPath, `${await deadPid()}\n`);
    await mkfifo(`${lockPath}.break`);
    await assert.rejects(
      withinMs(acquireLock(lockPath, { timeoutMs: 200, pollMs: 50 }), 3_000),
      assertObstacle(`${lockPath}.break`, 'is a FIFO, not a lock file', 200),
    );
    assert.ok((await fs.lstat(`${lockPath}.break`)).isFIFO());
  });

  it('release does not block on a FIFO put in place of its lock file, and leaves it', async () => {
    const worker = join(directory, 'release.mjs');
    await fs.writeFile(
      worker,
      `import { rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { acquireLock } from ${JSON.stringify(LOCK_MODULE_URL)};
const lock = await acquireLock(process.argv[2], { timeoutMs: 0 });
rmSync(process.argv[2]);
execFileSync('mkfifo', [process.argv[2]]);
await lock.release();
console.log('released');
`,
    );
    const { stdout } = await execFileAsync(process.execPath, ['--import', 'tsx', worker, lockPath], {
      cwd: PROJECT_ROOT,
      timeout: 10_000,
    });
    assert.equal(stdout.trim(), 'released');
    assert.ok((await fs.lstat(lockPath)).isFIFO());
  });
});
