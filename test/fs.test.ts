import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { FileReadError, readRegularFileSync } from '../lib/fs/read.ts';
import { removeStaleTemporaryFiles } from '../lib/fs/temporary-files.ts';
import { FileWriteError, replaceFilesAtomically } from '../lib/fs/write.ts';

type ReadLimits = Parameters<typeof readRegularFileSync>[1];
type FileReadProblem = FileReadError['problem'];

const execFileAsync = promisify(execFile);
const moduleUrl = (name: string) => pathToFileURL(fileURLToPath(new URL(`../lib/fs/${name}`, import.meta.url))).href;
const PROJECT_ROOT = fileURLToPath(new URL('..', import.meta.url));
const isRoot = process.geteuid?.() === 0;
const NOBODY = 65534;
const MEBIBYTE = 1 << 20;

let directory: string;

beforeEach(async () => {
  directory = await fs.mkdtemp(join(tmpdir(), 'hapos-files-'));
  // Lets the unprivileged user of some tests reach the files inside.
  await fs.chmod(directory, 0o755);
});

afterEach(async () => {
  await fs.rm(directory, { recursive: true, force: true });
});

const modeOf = async (path: string) => (await fs.stat(path)).mode & 0o7777;

async function temporaryFilesIn(path: string): Promise<string[]> {
  return (await fs.readdir(path)).filter((name) => name.endsWith('.tmp'));
}

/**
 * Root ignores permission bits, so as root the action runs with the effective
 * user and group of `nobody` (the saved user ID stays 0, which lets us return).
 */
async function asUnprivilegedUser<T>(action: () => Promise<T>): Promise<T> {
  if (!isRoot || !process.setegid || !process.seteuid) return action();
  process.setegid(NOBODY);
  process.seteuid(NOBODY);
  try {
    return await action();
  } finally {
    process.seteuid(0);
    process.setegid(0);
  }
}

async function assertWriteFails(write: Promise<void>, path: string, code: string): Promise<void> {
  await assert.rejects(write, (error: unknown) => {
    assert.ok(error instanceof FileWriteError, `expected a FileWriteError, got ${String(error)}`);
    assert.equal(error.path, path);
    assert.equal(error.code, code);
    assert.match(error.message, new RegExp(`^can't write ${path}: .+ failed \\(${code}\\)$`));
    return true;
  });
}

describe('replaceFilesAtomically', () => {
  it('creates a new file with exactly the given bytes and leaves no temporary file', async () => {
    const path = join(directory, 'site.pem.ocsp');
    const data = Buffer.from([0x30, 0x82, 0x00, 0x0a, 0xff, 0x00]);
    await replaceFilesAtomically([{ path, data }]);
    assert.deepEqual(await fs.readFile(path), data);
    assert.deepEqual(await temporaryFilesIn(directory), []);
  });

  it('replaces an existing file and writes strings as UTF-8', async () => {
    const path = join(directory, 'site.pem.issuer');
    await fs.writeFile(path, 'old chain, longer than the new one\n');
    await replaceFilesAtomically([{ path, data: 'new chain é\n' }]);
    assert.equal(await fs.readFile(path, 'utf8'), 'new chain é\n');
    assert.deepEqual(await temporaryFilesIn(directory), []);
  });

  it('replaces several files together, in order, leaving no temporary file', async () => {
    const issuer = join(directory, 'pair.pem.issuer');
    const ocsp = join(directory, 'pair.pem.ocsp');
    await fs.writeFile(issuer, 'old issuer\n');
    await replaceFilesAtomically([
      { path: issuer, data: 'new issuer\n' },
      { path: ocsp, data: Buffer.from([0x30, 0x03]) },
    ]);
    assert.equal(await fs.readFile(issuer, 'utf8'), 'new issuer\n');
    assert.deepEqual(await fs.readFile(ocsp), Buffer.from([0x30, 0x03]));
    assert.deepEqual(await temporaryFilesIn(directory), []);
  });

  it('replaces none of several files when one of them cannot be written, and names that one', async () => {
    const issuer = join(directory, 'pair.pem.issuer');
    const unwritable = join(directory, 'no-such-directory', 'pair.pem.ocsp');
    await fs.writeFile(issuer, 'old issuer\n');
    await assert.rejects(
      replaceFilesAtomically([
        { path: issuer, data: 'new issuer\n' },
        { path: unwritable, data: 'response' },
      ]),
      (error: unknown) => error instanceof FileWriteError && error.path === unwritable && error.code === 'ENOENT',
    );
    assert.equal(await fs.readFile(issuer, 'utf8'), 'old issuer\n');
    assert.deepEqual(await temporaryFilesIn(directory), []);
  });

  describe('modes', () => {
    it('gives a new file 0644 whatever the umask', async () => {
      const path = join(directory, 'site.pem.ocsp');
      const previousUmask = process.umask(0o077);
      try {
        await replaceFilesAtomically([{ path, data: 'response' }]);
      } finally {
        process.umask(previousUmask);
      }
      assert.equal(await modeOf(path), 0o644);
    });

    it('keeps the mode of an existing file', async () => {
      const path = join(directory, 'site.pem.ocsp');
      await fs.writeFile(path, 'old', { mode: 0o600 });
      await fs.chmod(path, 0o600);
      await replaceFilesAtomically([{ path, data: 'new' }]);
      assert.equal(await modeOf(path), 0o600);
    });

    it(
      'keeps the owner and group of an existing file',
      { skip: !isRoot && 'only root can give files away' },
      async () => {
        const path = join(directory, 'site.pem.ocsp');
        await fs.writeFile(path, 'old');
        await fs.chown(path, NOBODY, NOBODY);
        await replaceFilesAtomically([{ path, data: 'new' }]);
        const stats = await fs.stat(path);
        assert.deepEqual([stats.uid, stats.gid], [NOBODY, NOBODY]);
      },
    );

    // A directory is private when others may not both list and enter it; its
    // mode as stat gives it carries the directory's type bits (0o40000) too.
    for (const [directoryMode, isPrivate] of [
      [0o755, false],
      [0o775, false],
      [0o777, false],
      [0o1777, false],
      [0o705, false],
      [0o700, true],
      [0o750, true],
      [0o770, true],
      [0o711, true],
      [0o751, true],
      [0o754, true],
    ] as const) {
      const mode = directoryMode.toString(8).padStart(4, '0');
      it(`gives a new file ${isPrivate ? "the certificate's mode" : '0644'} when the certificate directory is ${mode}`, async () => {
        const certificateDirectory = join(directory, 'certs');
        await fs.mkdir(certificateDirectory);
        await fs.chmod(certificateDirectory, directoryMode);
        const certificate = join(certificateDirectory, 'site.pem');
        await fs.writeFile(certificate, 'certificate and key');
        await fs.chmod(certificate, 0o640);
        await replaceFilesAtomically([{ path: `${certificate}.ocsp`, data: 'response' }], {
          modeFallbackFrom: certificate,
        });
        assert.equal(await modeOf(`${certificate}.ocsp`), isPrivate ? 0o640 : 0o644);
      });
    }

    it('gives a new file 0644 when the certificate directory is world-readable', async () => {
      const certificate = join(directory, 'site.pem');
      await fs.writeFile(certificate, 'certificate and key');
      await fs.chmod(certificate, 0o600);
      await replaceFilesAtomically([{ path: `${certificate}.ocsp`, data: 'response' }], {
        modeFallbackFrom: certificate,
      });
      assert.equal(await modeOf(`${certificate}.ocsp`), 0o644);
    });

    it('keeps an existing file mode even in a private directory', async () => {
      await fs.chmod(directory, 0o700);
      const certificate = join(directory, 'site.pem');
      await fs.writeFile(certificate, 'certificate and key');
      await fs.chmod(certificate, 0o600);
      await fs.writeFile(`${certificate}.ocsp`, 'old');
      await fs.chmod(`${certificate}.ocsp`, 0o644);
      await replaceFilesAtomically([{ path: `${certificate}.ocsp`, data: 'new' }], { modeFallbackFrom: certificate });
      assert.equal(await modeOf(`${certificate}.ocsp`), 0o644);
    });

    it(
      "gives a new file in a private directory the certificate's owner and group",
      { skip: !isRoot && 'only root can give files away' },
      async () => {
        await fs.chmod(directory, 0o750);
        const certificate = join(directory, 'site.pem');
        await fs.writeFile(certificate, 'certificate and key');
        await fs.chmod(certificate, 0o640);
        await fs.chown(certificate, NOBODY, NOBODY);
        await replaceFilesAtomically([{ path: `${certificate}.ocsp`, data: 'response' }], {
          modeFallbackFrom: certificate,
        });
        const stats = await fs.stat(`${certificate}.ocsp`);
        assert.deepEqual([stats.uid, stats.gid, stats.mode & 0o777], [NOBODY, NOBODY, 0o640]);
      },
    );
  });

  it('replaces the target of a symbolic link and keeps the link', async () => {
    const realDirectory = join(directory, 'real');
    await fs.mkdir(realDirectory);
    const realPath = join(realDirectory, 'site.pem.ocsp');
    await fs.writeFile(realPath, 'old');
    const link = join(directory, 'site.pem.ocsp');
    await fs.symlink(realPath, link);
    await replaceFilesAtomically([{ path: link, data: 'new' }]);
    assert.ok((await fs.lstat(link)).isSymbolicLink());
    assert.equal(await fs.readFile(realPath, 'utf8'), 'new');
    assert.deepEqual(await temporaryFilesIn(realDirectory), []);
  });

  describe('failures', () => {
    it('fails on rename when the target is a directory, and removes the temporary file', async () => {
      const path = join(directory, 'site.pem.ocsp');
      await fs.mkdir(path);
      await fs.writeFile(join(path, 'inside'), 'untouched');
      await assertWriteFails(replaceFilesAtomically([{ path, data: 'response' }]), path, 'EISDIR');
      assert.equal(await fs.readFile(join(path, 'inside'), 'utf8'), 'untouched');
      assert.deepEqual(await temporaryFilesIn(directory), []);
    });

    it('keeps the old content when the write fails midway (file size limit, EFBIG)', async () => {
      const path = join(directory, 'site.pem.ocsp');
      await fs.writeFile(path, 'old response');
      const worker = join(directory, 'write-one-mebibyte.mjs');
      await fs.writeFile(
        worker,
        `import { FileWriteError, replaceFilesAtomically } from ${JSON.stringify(moduleUrl('write.ts'))};
try {
  await replaceFilesAtomically([{ path: process.argv[2], data: Buffer.alloc(${MEBIBYTE}, 0x6e) }]);
  console.log('written');
} catch (error) {
  console.log(error instanceof FileWriteError ? error.code : String(error));
}
`,
      );
      // RLIMIT_FSIZE makes write(2) fail once the temporary file reaches 64 KiB; Node.js ignores SIGXFSZ.
      const { stdout } = await execFileAsync(
        'bash',
        ['-c', 'ulimit -f 64 && exec "$@"', 'bash', process.execPath, '--import', 'tsx', worker, path],
        { cwd: PROJECT_ROOT },
      );
      assert.equal(stdout.trim(), 'EFBIG');
      assert.equal(await fs.readFile(path, 'utf8'), 'old response');
      assert.deepEqual(await temporaryFilesIn(directory), []);
    });

    it(
      'keeps the old content when the rename is refused (sticky directory, EPERM)',
      { skip: !isRoot && 'needs a target owned by another user' },
      async () => {
        // In a sticky directory the writer may create its temporary file but not replace root's file.
        await fs.chmod(directory, 0o1777);
        const path = join(directory, 'site.pem.ocsp');
        await fs.writeFile(path, 'old response');
        await assertWriteFails(
          asUnprivilegedUser(() => replaceFilesAtomically([{ path, data: 'new response' }])),
          path,
          'EPERM',
        );
        assert.equal(await fs.readFile(path, 'utf8'), 'old response');
        assert.deepEqual(await temporaryFilesIn(directory), []);
      },
    );

    describe('in a read-only directory (EACCES)', () => {
      it('leaves an existing file untouched', async () => {
        const path = join(directory, 'site.pem.ocsp');
        await fs.writeFile(path, 'old response');
        await fs.chmod(path, 0o666);
        await fs.chmod(directory, 0o555);
        await assertWriteFails(
          asUnprivilegedUser(() => replaceFilesAtomically([{ path, data: 'new response' }])),
          path,
          'EACCES',
        );
        assert.equal(await fs.readFile(path, 'utf8'), 'old response');
        assert.deepEqual(await fs.readdir(directory), ['site.pem.ocsp']);
      });

      it('creates nothing when the file is new', async () => {
        const path = join(directory, 'site.pem.ocsp');
        await fs.chmod(directory, 0o555);
        await assertWriteFails(
          asUnprivilegedUser(() => replaceFilesAtomically([{ path, data: 'new response' }])),
          path,
          'EACCES',
        );
        assert.deepEqual(await fs.readdir(directory), []);
      });
    });
  });

  it('never shows a torn file to readers while 20 writers race', async () => {
    const path = join(directory, 'site.pem.ocsp');
    const initial = Buffer.alloc(MEBIBYTE, 0);
    await fs.writeFile(path, initial);
    const payloads = Array.from({ length: 20 }, (_, index) => Buffer.alloc(MEBIBYTE, index + 1));
    const wholeVersions = [initial, ...payloads];

    let writing = true;
    const observed: Buffer[] = [];
    const reader = (async () => {
      while (writing) observed.push(await fs.readFile(path));
    })();
    try {
      await Promise.all(payloads.map((payload) => replaceFilesAtomically([{ path, data: payload }])));
    } finally {
      writing = false;
      await reader;
    }

    const final = await fs.readFile(path);
    assert.ok(
      payloads.some((payload) => payload.equals(final)),
      'the final file is exactly one of the payloads',
    );
    assert.ok(observed.length > 0);
    for (const version of observed) {
      assert.ok(
        wholeVersions.some((whole) => whole.equals(version)),
        `a reader saw ${version.length} bytes that match no whole version`,
      );
    }
    assert.deepEqual(await temporaryFilesIn(directory), []);
  });
});

const mkfifo = (path: string) => execFileAsync('mkfifo', [path]);

/** A character device node in DIR with /dev/null's numbers, or undefined where mknod is not permitted. */
async function privateDevNull(dir: string): Promise<string | undefined> {
  const node = join(dir, 'null');
  return execFileAsync('mknod', [node, 'c', '1', '3']).then(
    () => node,
    () => undefined,
  );
}

/**
 * What readRegularFileSync makes of PATH, in a process of its own: a read
 * that blocks (a FIFO with no writer) would block this one for good.
 */
async function readInChildProcess(path: string, limits: ReadLimits): Promise<string> {
  const worker = join(directory, 'read.mjs');
  await fs.writeFile(
    worker,
    `import { FileReadError, readRegularFileSync } from ${JSON.stringify(moduleUrl('read.ts'))};
try {
  console.log('read ' + readRegularFileSync(process.argv[2], JSON.parse(process.argv[3])).bytes.length);
} catch (error) {
  console.log(error instanceof FileReadError ? error.reason : String(error));
}
`,
  );
  const { stdout } = await execFileAsync(process.execPath, ['--import', 'tsx', worker, path, JSON.stringify(limits)], {
    cwd: PROJECT_ROOT,
    timeout: 10_000,
  });
  return stdout.trim();
}

function assertReadFails(path: string, limits: ReadLimits, problem: FileReadProblem, reason: string): void {
  assert.throws(
    () => readRegularFileSync(path, limits),
    (error: unknown) => {
      assert.ok(error instanceof FileReadError, `expected a FileReadError, got ${String(error)}`);
      assert.equal(error.path, path);
      assert.deepEqual(error.problem, problem);
      assert.equal(error.reason, reason);
      assert.equal(error.message, `can't read ${path}: ${reason}`);
      return true;
    },
  );
}

describe('readRegularFileSync', () => {
  it('reads a regular file, with the attributes of what it opened', async () => {
    const path = join(directory, 'site.pem');
    await fs.writeFile(path, 'bundle\n');
    const { bytes, stats } = readRegularFileSync(path, { maxBytes: 100 });
    assert.equal(bytes.toString(), 'bundle\n');
    assert.equal(stats.ino, (await fs.stat(path)).ino);
  });

  it('reads a file of exactly maxBytes, and refuses one of a byte more', async () => {
    const path = join(directory, 'site.pem');
    await fs.writeFile(path, Buffer.alloc(100_000, 0x41));
    assert.equal(readRegularFileSync(path, { maxBytes: 100_000 }).bytes.length, 100_000);
    assertReadFails(
      path,
      { maxBytes: 99_999 },
      { kind: 'too-large', maxBytes: 99_999, size: 100_000 },
      'it is 100000 bytes, larger than the 99999 bytes limit',
    );
  });

  it('refuses a file by its size, without reading it (a sparse 1 TiB)', async () => {
    const path = join(directory, 'site.pem');
    await fs.writeFile(path, '');
    await fs.truncate(path, 2 ** 40);
    const startedAt = Date.now();
    assertReadFails(
      path,
      { maxBytes: 4 * MEBIBYTE },
      { kind: 'too-large', maxBytes: 4 * MEBIBYTE, size: 2 ** 40 },
      'it is 1099511627776 bytes, larger than the 4 MiB limit',
    );
    assert.ok(Date.now() - startedAt < 1000);
  });

  it(
    'stops reading past maxBytes a file that claims to be empty (/proc)',
    { skip: !existsSync('/proc/self/status') },
    () => {
      assertReadFails(
        '/proc/self/status',
        { maxBytes: 100 },
        { kind: 'too-large', maxBytes: 100 },
        'it is larger than the 100 bytes limit',
      );
      assert.match(readRegularFileSync('/proc/self/status', { maxBytes: 64 * 1024 }).bytes.toString(), /^Name:/);
    },
  );

  it('reads only the start of a larger file when asked for a prefix', async () => {
    const path = join(directory, 'site.pem');
    await fs.writeFile(path, 'abcdefghij');
    assert.equal(readRegularFileSync(path, { maxBytes: 4, prefixOnly: true }).bytes.toString(), 'abcd');
  });

  it('refuses a FIFO at once, with no writer to wait for', async () => {
    const path = join(directory, 'site.pem');
    await mkfifo(path);
    assert.equal(await readInChildProcess(path, { maxBytes: 100 }), 'it is a FIFO, not a regular file');
    assertReadFails(path, { maxBytes: 100 }, { kind: 'not-regular', type: 'FIFO' }, 'it is a FIFO, not a regular file');
  });

  it('refuses a device a link leads to, without reading it', async () => {
    const path = join(directory, 'site.pem');
    await fs.symlink('/dev/zero', path);
    assert.equal(await readInChildProcess(path, { maxBytes: 100 }), 'it is a character device, not a regular file');
    assertReadFails(
      path,
      { maxBytes: 100 },
      { kind: 'not-regular', type: 'character device' },
      'it is a character device, not a regular file',
    );
  });

  it('refuses a directory and a socket', async () => {
    assertReadFails(directory, { maxBytes: 100 }, { kind: 'not-regular', type: 'directory' }, 'it is a directory');
    const socketPath = join(directory, 'haproxy.sock');
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    try {
      assertReadFails(
        socketPath,
        { maxBytes: 100 },
        { kind: 'not-regular', type: 'socket' },
        'it is a socket, not a regular file',
      );
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('says a file is missing, its directory too', () => {
    const missing = join(directory, 'site.pem');
    assertReadFails(missing, { maxBytes: 100 }, { kind: 'missing' }, 'no such file');
    assert.throws(() => readRegularFileSync(missing, { maxBytes: 100 }), { code: 'ENOENT' });
    assertReadFails(join(missing, 'inside'), { maxBytes: 100 }, { kind: 'missing' }, 'no such file');
  });

  it('refuses a symbolic link, even to a regular file, when links are not to be followed', async () => {
    const target = join(directory, 'target');
    await fs.writeFile(target, 'content');
    const link = join(directory, 'link');
    const dangling = join(directory, 'dangling');
    await fs.symlink(target, link);
    await fs.symlink(join(directory, 'nowhere'), dangling);
    for (const path of [link, dangling]) {
      assertReadFails(
        path,
        { maxBytes: 100, followSymlinks: false },
        { kind: 'not-regular', type: 'symbolic link' },
        'it is a symbolic link, not a regular file',
      );
    }
    assert.equal(readRegularFileSync(link, { maxBytes: 100 }).bytes.toString(), 'content');
  });

  it('says permission denied', { skip: !isRoot && 'needs a file another user cannot read' }, async () => {
    const path = join(directory, 'site.pem');
    await fs.writeFile(path, 'secret', { mode: 0o600 });
    await asUnprivilegedUser(async () => {
      assertReadFails(path, { maxBytes: 100 }, { kind: 'permission' }, 'permission denied');
      assert.throws(() => readRegularFileSync(path, { maxBytes: 100 }), { code: 'EACCES' });
    });
  });
});

describe('replaceFilesAtomically never replaces a special file', () => {
  it('refuses a FIFO, and leaves it in place', async () => {
    const path = join(directory, 'site.pem.ocsp');
    await mkfifo(path);
    await assertWriteFails(
      replaceFilesAtomically([{ path, data: 'response' }]),
      path,
      'it is a FIFO, not a regular file',
    );
    assert.ok((await fs.lstat(path)).isFIFO());
    assert.deepEqual(await temporaryFilesIn(directory), []);
  });

  it('refuses the device a link leads to, and writes nothing beside it', async (t) => {
    const devices = join(directory, 'dev');
    await fs.mkdir(devices);
    const node = await privateDevNull(devices);
    if (node === undefined) {
      t.skip('mknod is not permitted here');
      return;
    }
    const path = join(directory, 'site.pem.ocsp');
    await fs.symlink(node, path);
    await assertWriteFails(
      replaceFilesAtomically([{ path, data: 'response' }]),
      path,
      'it is a character device, not a regular file',
    );
    assert.ok((await fs.lstat(node)).isCharacterDevice());
    assert.deepEqual(await fs.readdir(devices), ['null']);
  });
});

describe('removeStaleTemporaryFiles', () => {
  const OTHER_PID = 4_000_001;
  const leftover = (target: string, pid = OTHER_PID, id = '0123456789ab') => `.${target}.${pid}.${id}.tmp`;

  it("removes other processes' temporary files for the targets, and nothing else", async () => {
    const removed = [leftover('site.pem.ocsp'), leftover('site.pem.issuer', 77, 'ffffffffffff')];
    const kept = [
      leftover('site.pem.ocsp', process.pid),
      leftover('other.pem.ocsp'),
      leftover('site.pem.key'),
      `${leftover('site.pem.ocsp')}.orig`,
      leftover('site.pem.ocsp', OTHER_PID, '0123'),
      leftover('site.pem.ocsp', OTHER_PID, '0123456789AB'),
      '.site.pem.ocsp.tmp',
      'site.pem.ocsp',
    ];
    for (const name of [...removed, ...kept]) await fs.writeFile(join(directory, name), 'partial');
    await fs.mkdir(join(directory, leftover('site.pem.ocsp', OTHER_PID, 'aaaaaaaaaaaa')));
    await fs.symlink(
      join(directory, 'site.pem.ocsp'),
      join(directory, leftover('site.pem.ocsp', OTHER_PID, 'bbbbbbbbbbbb')),
    );
    kept.push(
      leftover('site.pem.ocsp', OTHER_PID, 'aaaaaaaaaaaa'),
      leftover('site.pem.ocsp', OTHER_PID, 'bbbbbbbbbbbb'),
    );

    const found = await removeStaleTemporaryFiles([
      join(directory, 'site.pem.ocsp'),
      join(directory, 'site.pem.issuer'),
    ]);
    assert.deepEqual(found, [
      { path: join(directory, removed[0]!), pid: OTHER_PID },
      { path: join(directory, removed[1]!), pid: 77 },
    ]);
    assert.deepEqual((await fs.readdir(directory)).sort(), kept.sort());
  });

  it('looks beside the file a symbolic link leads to, as the writer does', async () => {
    const elsewhere = join(directory, 'responses');
    await fs.mkdir(elsewhere);
    await fs.writeFile(join(elsewhere, 'site.der'), 'response');
    await fs.symlink(join(elsewhere, 'site.der'), join(directory, 'site.pem.ocsp'));
    await fs.writeFile(join(elsewhere, leftover('site.der')), 'partial');
    await fs.writeFile(join(directory, leftover('site.pem.ocsp')), 'partial');
    const found = await removeStaleTemporaryFiles([join(directory, 'site.pem.ocsp')]);
    assert.deepEqual(found, [{ path: join(elsewhere, leftover('site.der')), pid: OTHER_PID }]);
    assert.deepEqual(await fs.readdir(elsewhere), ['site.der']);
  });

  it('reports one it may not remove', { skip: !isRoot && 'needs a file owned by another user' }, async () => {
    // In a sticky directory only the owner removes a file.
    await fs.chmod(directory, 0o1777);
    await fs.writeFile(join(directory, leftover('site.pem.ocsp')), 'partial');
    const found = await asUnprivilegedUser(() => removeStaleTemporaryFiles([join(directory, 'site.pem.ocsp')]));
    assert.deepEqual(found, [{ path: join(directory, leftover('site.pem.ocsp')), pid: OTHER_PID, failure: 'EPERM' }]);
    assert.deepEqual(await fs.readdir(directory), [leftover('site.pem.ocsp')]);
  });
});
