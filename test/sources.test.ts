import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { run } from '../lib/process/run.ts';
import { collectCertificates } from '../lib/sources/collect.ts';
import { parseCrtList } from '../lib/sources/crt-list.ts';
import { CertificateSourceError, CrtListSyntaxError } from '../lib/sources/errors.ts';

let root: string;
/** A self-signed certificate and its key, PEM. */
let certificatePem: string;
let keyPem: string;

before(async () => {
  root = await fs.mkdtemp(join(tmpdir(), 'hapos-cert-sources-'));
  const keyPath = join(root, 'made.key');
  const certificatePath = join(root, 'made.crt');
  const made = await run('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-subj', '/CN=x', '-days', '2', '-keyout', keyPath, '-out', certificatePath,
  ]); // prettier-ignore
  assert.equal(made.exitCode, 0, made.stderr);
  certificatePem = await fs.readFile(certificatePath, 'utf8');
  keyPem = await fs.readFile(keyPath, 'utf8');
});

after(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

/** A fresh directory under the test's temp root. */
async function scratch(name: string): Promise<string> {
  return fs.mkdtemp(join(root, `${name}-`));
}

/** Writes each file (paths relative to `dir`, parents created) and returns `dir`. */
async function writeFiles(dir: string, files: Record<string, string>): Promise<string> {
  for (const [name, content] of Object.entries(files)) {
    await fs.mkdir(join(dir, name, '..'), { recursive: true });
    await fs.writeFile(join(dir, name), content);
  }
  return dir;
}

function assertSyntaxError(text: string, line: number, reason: RegExp): void {
  assert.throws(
    () => parseCrtList(text, '/etc/haproxy/list.txt'),
    (error: unknown) => {
      assert.ok(error instanceof CrtListSyntaxError, `expected a CrtListSyntaxError, got ${String(error)}`);
      assert.ok(error instanceof CertificateSourceError);
      assert.equal(error.path, '/etc/haproxy/list.txt');
      assert.equal(error.line, line);
      assert.match(error.reason, reason);
      assert.match(error.message, new RegExp(`^crt-list /etc/haproxy/list\\.txt, line ${line}: `));
      return true;
    },
  );
}

describe('parseCrtList', () => {
  const listPath = '/etc/haproxy/lists/list.txt';

  it('skips comments and blank lines and numbers entries by their line', () => {
    const text = ['# first comment', '', '/certs/a.pem', '   ', '\t', '  # indented comment', '/certs/b.pem', ''].join(
      '\n',
    );
    const entries = parseCrtList(text, listPath);
    assert.deepEqual(
      entries.map(({ path, line }) => ({ path, line })),
      [
        { path: '/certs/a.pem', line: 3 },
        { path: '/certs/b.pem', line: 7 },
      ],
    );
  });

  it('reads ocsp-update, keeps the other options raw and the SNI filters, negated ones included', () => {
    const [entry] = parseCrtList(
      '/certs/w.pem [alpn h2,http/1.1 ocsp-update on verify none] *.example.org !secure.example.org\n',
      listPath,
    );
    assert.deepEqual(entry, {
      path: '/certs/w.pem',
      line: 1,
      ocspUpdate: 'on',
      sslBindOptions: ['alpn', 'h2,http/1.1', 'verify', 'none'],
      sniFilters: ['*.example.org', '!secure.example.org'],
    });
  });

  it('tells ocsp-update off from no setting at all', () => {
    const entries = parseCrtList(
      '/c/off.pem [ocsp-update off]\n/c/none.pem [alpn h2]\n/c/bare.pem\n/c/empty.pem []',
      listPath,
    );
    assert.deepEqual(
      entries.map(({ ocspUpdate, sslBindOptions }) => ({ ocspUpdate, sslBindOptions })),
      [
        { ocspUpdate: 'off', sslBindOptions: [] },
        { ocspUpdate: undefined, sslBindOptions: ['alpn', 'h2'] },
        { ocspUpdate: undefined, sslBindOptions: [] },
        { ocspUpdate: undefined, sslBindOptions: [] },
      ],
    );
  });

  it('splits on brackets even without spaces around them, as HAProxy does', () => {
    const [entry] = parseCrtList('/c/a.pem[ocsp-update on]www.example.org\n', listPath);
    assert.equal(entry?.path, '/c/a.pem');
    assert.equal(entry?.ocspUpdate, 'on');
    assert.deepEqual(entry?.sniFilters, ['www.example.org']);
  });

  it('keeps what follows the path as SNI filters, a "#" included (HAProxy has no inline comments)', () => {
    const [withoutOptions] = parseCrtList('/c/a.pem !* # not a comment\n', listPath);
    assert.deepEqual(withoutOptions?.sniFilters, ['!*', '#', 'not', 'a', 'comment']);
    // HAProxy only warns about filters before the options, then ignores them.
    const [misplaced] = parseCrtList('/c/a.pem early.example.org [alpn h2] late.example.org\n', listPath);
    assert.deepEqual(misplaced?.sniFilters, ['late.example.org']);
  });

  it('resolves relative paths against the crt-list directory and keeps absolute ones', () => {
    const entries = parseCrtList('site.pem\n./sub/../other.pem\n../shared/x.pem\n/abs/y.pem\n', listPath);
    assert.deepEqual(
      entries.map((entry) => entry.path),
      ['/etc/haproxy/lists/site.pem', '/etc/haproxy/lists/other.pem', '/etc/haproxy/shared/x.pem', '/abs/y.pem'],
    );
  });

  it('resolves a relative list path relative to where the list is', () => {
    const [entry] = parseCrtList('site.pem\n', 'conf/list.txt');
    assert.equal(entry?.path, join('conf', 'site.pem'));
  });

  it('resolves relative paths against crt-base when given, absolute ones still ignoring it', () => {
    const entries = parseCrtList('site.pem\n/abs/y.pem\n', listPath, { crtBase: '/etc/ssl/private' });
    assert.deepEqual(
      entries.map((entry) => entry.path),
      ['/etc/ssl/private/site.pem', '/abs/y.pem'],
    );
  });

  it('reads CRLF line endings and a last line without a newline', () => {
    const text = '# comment\r\n\r\n/c/a.pem [ocsp-update on] a.example.org\r\n/c/b.pem';
    const entries = parseCrtList(text, listPath);
    assert.deepEqual(entries, [
      { path: '/c/a.pem', line: 3, ocspUpdate: 'on', sslBindOptions: [], sniFilters: ['a.example.org'] },
      { path: '/c/b.pem', line: 4, ocspUpdate: undefined, sslBindOptions: [], sniFilters: [] },
    ]);
  });

  it('rejects malformed lines, naming the file and the line', () => {
    assertSyntaxError('/c/ok.pem\n/c/a.pem [alpn h2 a.example.org\n', 2, /^unclosed '\['$/);
    assertSyntaxError('/c/a.pem alpn h2] a.example.org\n', 1, /^missing '\['$/);
    assertSyntaxError('/c/a.pem ] [alpn h2\n', 1, /^missing '\['$/);
    assertSyntaxError('/c/a.pem [alpn h2] [verify none]\n', 1, /^too many '\['$/);
    assertSyntaxError('/c/a.pem [alpn h2]]\n', 1, /^too many '\]'$/);
    assertSyntaxError('\n\n[alpn h2] /c/a.pem\n', 3, /^the line must start with a certificate path$/);
    assertSyntaxError('/c/a.pem [ocsp-update yes]\n', 1, /^ocsp-update expects 'on' or 'off', got yes$/);
    assertSyntaxError('/c/a.pem [ocsp-update]\n', 1, /^ocsp-update expects 'on' or 'off', got nothing$/);
    assertSyntaxError('# comment\r\n@web/site1\r\n', 2, /^crt-store references are not supported: @web\/site1$/);
  });

  it('refuses what HAProxy refuses, a line over 65,535 characters or 2,048 words, at once however long', () => {
    assertSyntaxError(
      `/c/ok.pem\n/c/a.pem ${'x'.repeat(65_527)}\n`,
      2,
      /^the line is 65536 characters long; HAProxy reads at most 65535$/,
    );
    assertSyntaxError(`/c/a.pem [${' a'.repeat(2047)} ]\n`, 1, /^2050 words; HAProxy reads at most 2048$/);
    const started = Date.now();
    assertSyntaxError(`/c/a.pem [${' a'.repeat(16 * 1024 * 1024)} ]`, 1, /^the line is 33554444 characters long/);
    assert.ok(Date.now() - started < 2000, `${Date.now() - started} ms for a 32 MiB line`);
    assert.equal(parseCrtList(`/c/a.pem [${' a'.repeat(2045)} ]\n`, '/c/list').length, 1);
  });
});

/** What `--dir DIR` alone collects, in order. */
async function collectedFromDir(dir: string): Promise<string[]> {
  const collected = await collectCertificates({ certs: [], dirs: [dir], crtLists: [] });
  assert.ok(collected.every(({ source }) => source === 'dir'));
  return collected.map(({ path }) => path);
}

/** What `--cert PATH…` alone collects, in order. */
async function collectedFromCerts(paths: readonly string[]): Promise<string[]> {
  const collected = await collectCertificates({ certs: paths, dirs: [], crtLists: [] });
  assert.ok(collected.every(({ source }) => source === 'cert'));
  return collected.map(({ path }) => path);
}

describe('--dir', () => {
  it('lists the certificate files only, sorted by name, skipping what HAProxy and we reserve', async () => {
    const dir = await writeFiles(await scratch('dir'), {
      'b.pem': certificatePem + keyPem,
      'a.pem': certificatePem,
      'c.crt': certificatePem,
      'key-first.pem': keyPem + certificatePem,
      'site.pem.rsa': certificatePem,
      'site.pem.ecdsa': certificatePem,
      // Certificate content, so that only their names can exclude them.
      'a.pem.key': keyPem + certificatePem,
      'a.pem.issuer': certificatePem,
      'a.pem.ocsp': certificatePem,
      'a.pem.sctl': certificatePem,
      'a.pem.ocsp.lock': certificatePem,
      '.a.pem.ocsp.1234.0123456789ab.tmp': certificatePem,
      '.hidden.pem': certificatePem,
      'key-only.pem': keyPem,
      README: 'certificates for the www frontend\n',
      'empty.pem': '',
      'subdir.pem/inner.pem': certificatePem,
    });
    // A link to a file outside the directory, which no other name lists.
    const elsewhere = await writeFiles(await scratch('elsewhere'), { 'linked.pem': certificatePem });
    await fs.symlink(join(elsewhere, 'linked.pem'), join(dir, 'link.pem'));
    await fs.symlink(join(dir, 'missing.pem'), join(dir, 'dangling.pem'));

    const listed = await collectedFromDir(dir);
    assert.deepEqual(
      listed.map((path) => relative(dir, path)),
      ['a.pem', 'b.pem', 'c.crt', 'key-first.pem', 'link.pem', 'site.pem.ecdsa', 'site.pem.rsa'],
    );
    assert.equal(listed[0], join(dir, 'a.pem'));
  });

  it('sorts by byte order, as HAProxy loads them', async () => {
    const dir = await writeFiles(await scratch('order'), {
      'a.pem': certificatePem,
      'B.pem': certificatePem,
      '9.pem': certificatePem,
      '10.pem': certificatePem,
      'a-b.pem': certificatePem,
      'a_b.pem': certificatePem,
    });
    const listed = await collectedFromDir(dir);
    assert.deepEqual(
      listed.map((path) => relative(dir, path)),
      ['10.pem', '9.pem', 'B.pem', 'a-b.pem', 'a.pem', 'a_b.pem'],
    );
  });

  it('returns nothing for an empty directory', async () => {
    assert.deepEqual(await collectedFromDir(await scratch('empty')), []);
  });

  it('throws a CertificateSourceError for a missing directory or a file', async () => {
    const dir = await scratch('missing');
    const missing = join(dir, 'nope');
    await assert.rejects(collectedFromDir(missing), (error: unknown) => {
      assert.ok(error instanceof CertificateSourceError);
      assert.equal(error.path, missing);
      assert.equal(error.message, `--dir ${missing}: no such file or directory`);
      return true;
    });
    const file = join(dir, 'file.pem');
    await fs.writeFile(file, certificatePem);
    await assert.rejects(collectedFromDir(file), {
      name: 'CertificateSourceError',
      message: `--dir ${file}: not a directory`,
    });
  });
});

describe('--cert', () => {
  it('replaces an absent path by its bundle members, in HAProxy order (dsa, ecdsa, rsa)', async () => {
    const dir = await writeFiles(await scratch('bundle'), {
      'site.pem.rsa': certificatePem,
      'site.pem.ecdsa': certificatePem,
      'site.pem.ecdsa.ocsp': '',
      'whole.pem': certificatePem,
      'whole.pem.rsa': certificatePem,
      'dsa-only.pem.dsa': certificatePem,
      'member.pem.rsa': certificatePem,
    });
    const at = (name: string) => join(dir, name);
    assert.deepEqual(
      await collectedFromCerts([
        at('site.pem'),
        at('whole.pem'),
        at('missing.pem'),
        at('dsa-only.pem'),
        at('member.pem.rsa'),
      ]),
      [
        at('site.pem.ecdsa'),
        at('site.pem.rsa'),
        at('whole.pem'),
        at('missing.pem'),
        at('dsa-only.pem.dsa'),
        at('member.pem.rsa'),
      ],
    );
  });

  it('returns an empty list for no paths', async () => {
    assert.deepEqual(await collectedFromCerts([]), []);
  });
});

describe('collectCertificates', () => {
  it('lists certs, then directories, then crt-lists, each in order, keeping the first name of each file', async () => {
    const base = await scratch('collect');
    await writeFiles(base, {
      'given/one.pem': certificatePem,
      'given/two.pem': certificatePem,
      'crts/a.pem': certificatePem,
      'crts/b.pem': certificatePem,
      'crts/b.pem.ocsp': '',
      'more/c.pem': certificatePem,
      'lists/bundle.pem.ecdsa': certificatePem,
      'lists/bundle.pem.rsa': certificatePem,
      'lists/d.pem': certificatePem,
      'lists/first.txt': [
        '# certificates of the www frontend',
        'd.pem [ocsp-update on] www.example.org',
        '../crts/a.pem [ocsp-update off]',
        'bundle.pem [ocsp-update on alpn h2]',
        'absent.pem',
        '',
      ].join('\n'),
      'lists/second.txt': 'd.pem\r\n../more/c.pem\r\n',
    });
    // A second name for a file already listed through the directory.
    await fs.symlink(join(base, 'crts', 'b.pem'), join(base, 'given', 'b-link.pem'));
    await fs.symlink(join(base, 'given', 'one.pem'), join(base, 'crts', 'one-link.pem'));
    const at = (name: string) => join(base, name);

    const collected = await collectCertificates({
      certs: [at('given/two.pem'), at('given/b-link.pem'), at('given/one.pem'), at('given/missing.pem')],
      dirs: [at('crts'), at('more')],
      crtLists: [at('lists/first.txt'), at('lists/second.txt')],
    });
    assert.deepEqual(collected, [
      { path: at('given/two.pem'), source: 'cert' },
      { path: at('given/b-link.pem'), source: 'cert' },
      { path: at('given/one.pem'), source: 'cert' },
      { path: at('given/missing.pem'), source: 'cert' },
      { path: at('crts/a.pem'), source: 'dir' },
      { path: at('more/c.pem'), source: 'dir' },
      { path: at('lists/d.pem'), source: 'crt-list', ocspUpdate: 'on' },
      { path: at('lists/bundle.pem.ecdsa'), source: 'crt-list', ocspUpdate: 'on' },
      { path: at('lists/bundle.pem.rsa'), source: 'crt-list', ocspUpdate: 'on' },
      { path: at('lists/absent.pem'), source: 'crt-list' },
    ]);
  });

  it('de-duplicates names that differ only by "..", and missing paths given twice', async () => {
    const base = await writeFiles(await scratch('names'), { 'crts/a.pem': certificatePem });
    const collected = await collectCertificates({
      certs: [join(base, 'crts', 'a.pem'), `${base}/crts/../crts/a.pem`, join(base, 'gone.pem'), `${base}/./gone.pem`],
      dirs: [join(base, 'crts')],
      crtLists: [],
    });
    assert.deepEqual(collected, [
      { path: join(base, 'crts', 'a.pem'), source: 'cert' },
      { path: join(base, 'gone.pem'), source: 'cert' },
    ]);
  });

  it('expands a --cert that names a bundle', async () => {
    const base = await writeFiles(await scratch('cert-bundle'), { 'site.pem.rsa': certificatePem });
    assert.deepEqual(await collectCertificates({ certs: [join(base, 'site.pem')], dirs: [], crtLists: [] }), [
      { path: join(base, 'site.pem.rsa'), source: 'cert' },
    ]);
  });

  it('resolves crt-list paths against crt-base when given', async () => {
    const base = await writeFiles(await scratch('crt-base'), {
      'private/site.pem': certificatePem,
      'lists/list.txt': 'site.pem\n',
    });
    assert.deepEqual(
      await collectCertificates({
        certs: [],
        dirs: [],
        crtLists: [join(base, 'lists', 'list.txt')],
        crtBase: join(base, 'private'),
      }),
      [{ path: join(base, 'private', 'site.pem'), source: 'crt-list' }],
    );
  });

  it('throws a CertificateSourceError for a missing --dir or --crt-list, or a malformed crt-list', async () => {
    const base = await writeFiles(await scratch('errors'), { 'bad.txt': '/c/a.pem\n/c/b.pem [alpn h2\n' });
    const missingList = join(base, 'missing.txt');
    await assert.rejects(collectCertificates({ certs: [], dirs: [], crtLists: [missingList] }), (error: unknown) => {
      assert.ok(error instanceof CertificateSourceError);
      assert.equal(error.message, `--crt-list ${missingList}: no such file or directory`);
      return true;
    });
    await assert.rejects(collectCertificates({ certs: [], dirs: [join(base, 'nodir')], crtLists: [] }), {
      name: 'CertificateSourceError',
      message: `--dir ${join(base, 'nodir')}: no such file or directory`,
    });
    await assert.rejects(collectCertificates({ certs: [], dirs: [], crtLists: [join(base, 'bad.txt')] }), {
      name: 'CrtListSyntaxError',
      message: `crt-list ${join(base, 'bad.txt')}, line 2: unclosed '['`,
    });
  });

  it('refuses a --crt-list that is a FIFO, a directory or larger than 8 MiB, without reading it', async () => {
    const base = await scratch('special-lists');
    const fifo = join(base, 'fifo.txt');
    const made = await run('mkfifo', [fifo]);
    assert.equal(made.exitCode, 0, made.stderr);
    const huge = join(base, 'huge.txt');
    await fs.writeFile(huge, '');
    await fs.truncate(huge, 8 * 1024 * 1024 + 1);
    for (const [list, reason] of [
      [fifo, 'it is a FIFO, not a regular file'],
      [base, 'it is a directory'],
      [huge, 'it is 8388609 bytes, larger than the 8 MiB limit'],
    ] as const) {
      await assert.rejects(collectCertificates({ certs: [], dirs: [], crtLists: [list] }), {
        name: 'CertificateSourceError',
        message: `--crt-list ${list}: ${reason}`,
      });
    }
  });
});
