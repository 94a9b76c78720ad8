// End-to-end runs of the built CLI on bad input, as cron would meet it on a
// production load balancer: each must end with one error line and its exit
// code, and leave the certificate's directory as it was (the `.ocsp` and
// `.issuer` in place untouched, no temporary or lock file behind).
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from '../lib/process/run.ts';
import { parseOcspResponse } from '../lib/pki/ocsp-response.ts';
import { createTestPki, fetchOcspResponse, responseSignedAt, type LeafName, type TestPki } from './helpers/pki.ts';
import { CLI_PATH, cliOpensslAtLeast, lockPathOf, runCli, type CliRun, httpClients } from './helpers/cli.ts';
import {
  assertTempDirRemoved,
  certError,
  leftoversIn,
  privateTempDir,
  programError,
  programsMentioning,
  snapshot,
  timed,
} from './helpers/aftermath.ts';
import { answerOf, startFakeHttpServer, type FakeHandler, type FakeHttpServer } from './helpers/responder.ts';

let pki: TestPki;
let workDir: string;
/** A valid response for the `good` leaf, standing for the one a previous run left in place. */
let goodResponseInPlace: Buffer;

before(async () => {
  pki = await createTestPki();
  workDir = await mkdtemp(path.join(tmpdir(), 'hapos-upd-safety-'));
  goodResponseInPlace = await fetchOcspResponse(pki, 'good');
});

after(async () => {
  await pki?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

async function cli(args: string[]): Promise<CliRun> {
  const tempDir = await privateTempDir(workDir);
  const result = await runCli(args, { env: { ...pki.env, TMPDIR: tempDir } });
  await assertTempDirRemoved(tempDir);
  return result;
}

/** A directory of its own for each case, so that one case's files never show up in another's checks. */
const caseDir = () => mkdtemp(path.join(workDir, 'case-'));

/** CONTENT as `site.pem` in a fresh directory. */
async function placeBundle(content: string | Buffer): Promise<string> {
  const cert = path.join(await caseDir(), 'site.pem');
  await writeFile(cert, content);
  return cert;
}

/** LEAF's bundle (leaf then intermediate) as `site.pem` in a fresh directory. */
const placeLeafBundle = async (leaf: LeafName) => placeBundle(await readFile(pki.leaves[leaf].bundle));

/** What a previous successful run would have left beside CERT. */
async function placePreviousRun(cert: string, response: Buffer = goodResponseInPlace): Promise<void> {
  await writeFile(`${cert}.ocsp`, response);
  await copyFile(pki.intermediate, `${cert}.issuer`);
}

/** Asserts that CERT.ocsp is a `good` response for LEAF and CERT.issuer its issuer. */
async function assertStapled(cert: string, leaf: LeafName): Promise<void> {
  const response = parseOcspResponse(await readFile(`${cert}.ocsp`));
  assert.equal(response.responseStatus, 'successful');
  const single = response.responseStatus === 'successful' ? response.responses[0] : undefined;
  assert.equal(single?.certStatus, 'good');
  assert.equal(single?.certId.serialNumber, pki.leaves[leaf].serialHex);
  assert.equal(await readFile(`${cert}.issuer`, 'utf8'), await readFile(pki.intermediate, 'utf8'));
  assert.deepEqual(await leftoversIn(path.dirname(cert)), []);
}

/** A fake responder for one test, closed when the test ends. */
async function fakeResponder(t: TestContext, handler: FakeHandler): Promise<FakeHttpServer> {
  const server = await startFakeHttpServer(handler);
  t.after(() => server.close());
  return server;
}

const ocspResponseStatus = (status: number) => Buffer.from([0x30, 0x03, 0x0a, 0x01, status]);

describe('bundles that cannot be read', { concurrency: 4 }, () => {
  const unreadable = (cert: string, why: string) =>
    certError(cert, `can't extract EE certificate from ${cert} (${why})`);

  test('a missing file: exit 1, nothing created', async () => {
    const dir = await caseDir();
    const cert = path.join(dir, 'site.pem');
    const result = await cli(['-S', '--retries', '0', '--cert', cert]);
    assert.equal(result.stderr, unreadable(cert, 'no such file'));
    assert.equal(result.exitCode, 1);
    assert.deepEqual(await snapshot(dir), {});
  });

  test('a missing file in a missing directory: exit 1, like any missing file', async () => {
    const dir = await caseDir();
    const cert = path.join(dir, 'gone', 'site.pem');
    const result = await cli(['-S', '--retries', '0', '--cert', cert]);
    assert.equal(result.stderr, unreadable(cert, 'no such file'));
    assert.equal(result.exitCode, 1);
    assert.deepEqual(await snapshot(dir), {});
  });

  test('a directory: exit 1', async () => {
    const dir = await caseDir();
    const cert = path.join(dir, 'site.pem');
    await mkdir(cert);
    const result = await cli(['-S', '--retries', '0', '--cert', cert]);
    assert.equal(result.stderr, unreadable(cert, 'it is a directory'));
    assert.equal(result.exitCode, 1);
    assert.deepEqual(await snapshot(dir), { 'site.pem': 'directory' });
  });

  const badContents: [string, () => Promise<Buffer>, string][] = [
    ['an empty file', async () => Buffer.alloc(0), 'the file is empty'],
    [
      'a DER certificate',
      () => readDer(pki.leaves.good.cert),
      'it looks like DER; HAProxy needs PEM (openssl x509 -inform DER -outform PEM)',
    ],
    ['a private key only', () => readFile(pki.leaves.good.key), 'it holds a private key but no certificate'],
  ];
  for (const [what, content, why] of badContents) {
    test(`${what}: exit 1, the response and chain in place untouched`, async () => {
      const cert = await placeBundle(await content());
      await placePreviousRun(cert);
      const before = await snapshot(path.dirname(cert));
      const result = await cli(['-S', '--retries', '0', '--cert', cert]);
      assert.equal(result.stderr, unreadable(cert, why));
      assert.equal(result.exitCode, 1);
      assert.deepEqual(await snapshot(path.dirname(cert)), before);
    });
  }
});

/** The certificate of FILE in DER, through openssl as a user would convert it. */
async function readDer(file: string): Promise<Buffer> {
  const der = path.join(await caseDir(), 'cert.der');
  const converted = await run('openssl', ['x509', '-in', file, '-outform', 'DER', '-out', der]);
  assert.equal(converted.exitCode, 0, converted.stderr);
  return readFile(der);
}

describe('untidy bundles that HAProxy loads still work', { concurrency: 3 }, () => {
  test('text around and between the PEM blocks', async () => {
    const [leaf, issuer] = await Promise.all([
      readFile(pki.leaves.good.cert, 'utf8'),
      readFile(pki.intermediate, 'utf8'),
    ]);
    const cert = await placeBundle(
      [
        'Bag Attributes',
        '    localKeyID: 01 02 03',
        `subject=CN = ${pki.leaves.good.commonName}`,
        leaf.trimEnd(),
        '# the intermediate follows',
        '',
        issuer.trimEnd(),
        'trailing notes, no newline at the end',
      ].join('\n'),
    );
    const result = await cli(['-S', '--retries', '0', '--cert', cert]);
    assert.equal(result.stderr, '');
    assert.equal(result.exitCode, 0);
    await assertStapled(cert, 'good');
  });

  test('CRLF line endings', async () => {
    const bundle = await readFile(pki.leaves.good.bundle, 'utf8');
    const cert = await placeBundle(bundle.replace(/\n/g, '\r\n'));
    const result = await cli(['-S', '--retries', '0', '--cert', cert]);
    assert.equal(result.stderr, '');
    assert.equal(result.exitCode, 0);
    await assertStapled(cert, 'good');
  });

  test('the private key after the chain, which never leaks into .issuer', async () => {
    const cert = await placeBundle(await readFile(pki.leaves.good.bundleWithKey));
    const result = await cli(['-S', '--retries', '0', '--cert', cert]);
    assert.equal(result.stderr, '');
    assert.equal(result.exitCode, 0);
    await assertStapled(cert, 'good');
    assert.doesNotMatch(await readFile(`${cert}.issuer`, 'utf8'), /PRIVATE KEY/);
  });
});

describe('certificates that cannot be stapled', { concurrency: 3 }, () => {
  test('the intermediate first: the error names the certificate that looks like the EE', async () => {
    const cert = await placeBundle(
      (await readFile(pki.intermediate, 'utf8')) + (await readFile(pki.leaves.good.cert, 'utf8')),
    );
    const before = await snapshot(path.dirname(cert));
    const result = await cli(['-S', '--retries', '0', '--cert', cert]);
    assert.equal(
      result.stderr,
      certError(
        cert,
        `OCSP server URL not found in the EE certificate (the bundle's certificates are out of order: n. 2 (CN=${pki.leaves.good.commonName}) looks like the EE certificate and must come first)`,
      ),
    );
    assert.equal(result.exitCode, 2);
    assert.deepEqual(await snapshot(path.dirname(cert)), before);
  });

  const outOfValidity: [LeafName, (x509: X509Certificate) => string, string][] = [
    ['expired', (x509) => `the EE certificate expired on ${x509.validTo}`, 'certificate has expired'],
    [
      'notYetValid',
      (x509) => `the EE certificate is not valid before ${x509.validFrom}`,
      'certificate is not yet valid',
    ],
  ];
  // OpenSSL 3.6 suspects the clock as well when a certificate is not yet valid.
  const inWordsOf = async (reason: string) =>
    reason === 'certificate is not yet valid' && (await cliOpensslAtLeast(3, 6))
      ? `${reason} or the system clock is incorrect`
      : reason;
  for (const [leaf, warning, reason] of outOfValidity) {
    test(`${leaf} EE: a warning, then exit 1 at the chain check with openssl's reason`, async () => {
      const x509 = new X509Certificate(await readFile(pki.leaves[leaf].cert));
      const cert = await placeLeafBundle(leaf);
      const before = await snapshot(path.dirname(cert));
      const result = await cli(['-S', '--retries', '0', '--cert', cert]);
      assert.equal(
        result.stderr,
        `warning: ${warning(x509)}\n` +
          certError(cert, `can't validate the EE certificate against the extracted chain (${await inWordsOf(reason)})`),
      );
      assert.equal(result.exitCode, 1);
      assert.deepEqual(await snapshot(path.dirname(cert)), before);
    });
  }
});

describe('responder URLs', { concurrency: 2 }, () => {
  test('a path and a port are kept', async (t) => {
    const proxy = await fakeResponder(t, (request) => answerOf(pki.responders.delegated.url, request));
    const cert = await placeLeafBundle('good');
    const result = await cli([
      '-S',
      '--retries',
      '0',
      '--ocsp-url',
      `http://127.0.0.1:${proxy.port}/some/path`,
      '--cert',
      cert,
    ]);
    assert.equal(result.stderr, '');
    assert.equal(result.exitCode, 0);
    assert.deepEqual(
      proxy.requests.map((request) => `${request.method} ${request.url}`),
      ['POST /some/path'],
    );
    await assertStapled(cert, 'good');
  });

  test('an IPv6 literal', async () => {
    const cert = await placeLeafBundle('good');
    const requestsBefore = pki.responders.delegated.requests.length;
    const result = await cli([
      '-S',
      '--retries',
      '0',
      '--ocsp-url',
      `http://[::1]:${pki.responders.delegated.port}/`,
      '--cert',
      cert,
    ]);
    assert.equal(result.stderr, '');
    assert.equal(result.exitCode, 0);
    assert.ok(pki.responders.delegated.requests.length > requestsBefore, 'the responder was asked');
    await assertStapled(cert, 'good');
  });
});

/** A server error as most servers send one: a text body. */
const serverError = { status: 500, headers: { 'Content-Type': 'text/plain' }, body: 'oops' };

/** How a 500 is reported: OpenSSL 3.6 no longer gives a server error's reason phrase. */
async function http500(): Promise<string> {
  return (await cliOpensslAtLeast(3, 6)) ? 'HTTP 500' : 'HTTP 500 Internal Server Error';
}

describe('responders that do not answer with a usable response', { concurrency: 3 }, () => {
  /** Runs the CLI on a `good` bundle with a previous run's files in place, against a fake responder. */
  async function againstFake(
    t: TestContext,
    handler: FakeHandler,
    extraArgs: string[] = ['--retries', '0'],
  ): Promise<{ cert: string; result: CliRun & { elapsedMs: number }; server: FakeHttpServer }> {
    const server = await fakeResponder(t, handler);
    const cert = await placeLeafBundle('good');
    await placePreviousRun(cert);
    const before = await snapshot(path.dirname(cert));
    const result = await timed(cli(['-S', ...extraArgs, '--ocsp-url', server.url, '--cert', cert]));
    assert.deepEqual(await snapshot(path.dirname(cert)), before, 'the directory is left as it was');
    return { cert, result, server };
  }
  const notReceived = (cert: string, why: string) => certError(cert, `can't receive the OCSP server response: ${why}`);

  test('an HTML page: exit 1', async (t) => {
    const { cert, result } = await againstFake(t, () => ({
      headers: { 'Content-Type': 'text/html' },
      body: '<html><body>Please log in</body></html>',
    }));
    assert.equal(result.stderr, notReceived(cert, 'a text/html body instead of an OCSP response'));
    assert.equal(result.exitCode, 1);
  });

  test('an HTML page with a charset, as web servers send it: exit 1, the media type named alone', async (t) => {
    const { cert, result } = await againstFake(t, () => ({
      headers: { 'Content-Type': 'text/html; charset=utf-8' },
      body: '<html><body>Please log in</body></html>',
    }));
    assert.equal(result.stderr, notReceived(cert, 'a text/html body instead of an OCSP response'));
    assert.equal(result.exitCode, 1);
  });

  test('HTTP 404: exit 1', async (t) => {
    const { cert, result } = await againstFake(t, () => ({ status: 404, body: 'not here' }));
    assert.equal(result.stderr, notReceived(cert, 'HTTP 404 Not Found'));
    assert.equal(result.exitCode, 1);
  });

  test('HTTP 500 twice with --retries 1: two requests, exit 1', async (t) => {
    const { cert, result, server } = await againstFake(t, () => serverError, ['--retries', '1']);
    assert.equal(server.requests.length, 2);
    assert.equal(result.stderr, notReceived(cert, await http500()));
    assert.equal(result.exitCode, 1);
  });

  test('HTTP 500 with an OCSP media type and --retries 1: OpenSSL 3.6 reads the body and cannot tell a 500', async (t) => {
    const { cert, result, server } = await againstFake(t, () => ({ status: 500, body: 'oops' }), ['--retries', '1']);
    if (await cliOpensslAtLeast(3, 6)) {
      // Its error names neither the status nor the body: only what the body is not.
      assert.equal(server.requests.length, 1);
      assert.equal(result.stderr, notReceived(cert, 'a body that is not ASN.1 instead of an OCSP response'));
    } else {
      assert.equal(server.requests.length, 2);
      assert.equal(result.stderr, notReceived(cert, 'HTTP 500 Internal Server Error'));
    }
    assert.equal(result.exitCode, 1);
  });

  test('an empty body: exit 1', async (t) => {
    const { cert, result } = await againstFake(t, () => ({ body: Buffer.alloc(0) }));
    assert.equal(result.stderr, notReceived(cert, 'an empty or truncated body instead of an OCSP response'));
    assert.equal(result.exitCode, 1);
  });

  test('tryLater twice with --retries 1: two requests, exit 4', async (t) => {
    const { cert, result, server } = await againstFake(t, () => ({ body: ocspResponseStatus(3) }), ['--retries', '1']);
    assert.equal(server.requests.length, 2);
    assert.equal(result.stderr, certError(cert, "OCSP responder answered 'tryLater' instead of a response"));
    assert.equal(result.exitCode, 4);
  });

  test('unauthorized: exit 4', async (t) => {
    const { cert, result, server } = await againstFake(t, () => ({ body: ocspResponseStatus(6) }));
    assert.equal(server.requests.length, 1);
    assert.equal(result.stderr, certError(cert, "OCSP responder answered 'unauthorized' instead of a response"));
    assert.equal(result.exitCode, 4);
  });

  test('a valid response for another certificate: exit 4', async (t) => {
    const otherResponse = await fetchOcspResponse(pki, 'goodEc');
    const { cert, result } = await againstFake(t, () => ({ body: otherResponse }));
    assert.equal(
      result.stderr,
      certError(
        cert,
        `OCSP response is for another certificate (serial ${pki.leaves.goodEc.serialHex}, expected ${pki.leaves.good.serialHex})`,
      ),
    );
    assert.equal(result.exitCode, 4);
  });

  for (const { client, args: clientArgs } of httpClients) {
    test(`a responder that never answers, through ${client}: exit 1 after --timeout`, async (t) => {
      const { cert, result } = await againstFake(t, () => 'hang', ['--timeout', '1', '--retries', '0', ...clientArgs]);
      assert.equal(result.stderr, notReceived(cert, 'no answer before the timeout'));
      assert.equal(result.exitCode, 1);
      assert.ok(result.elapsedMs < 5000, `took ${result.elapsedMs} ms`);
    });
  }

  for (const { client, args: clientArgs } of httpClients) {
    test(`a responder that never answers, through ${client}: --deadline ends the run before --timeout would`, async (t) => {
      const { cert, result } = await againstFake(t, () => 'hang', [
        '--timeout',
        '30',
        '--retries',
        '0',
        '--deadline',
        '2',
        ...clientArgs,
      ]);
      assert.equal(result.stderr, notReceived(cert, "the certificate's 2 s deadline passed (--deadline)"));
      assert.equal(result.exitCode, 1);
      assert.ok(result.elapsedMs >= 2000 && result.elapsedMs < 6000, `took ${result.elapsedMs} ms`);
    });
  }

  test('a retry whose pause would outlast --deadline is not made: exit 1 at once, saying so', async (t) => {
    const slowFailure = async () => {
      await sleep(600);
      return serverError;
    };
    // 1 s deadline, 600 ms spent: the shortest pause (0.5 s) no longer fits.
    const { cert, result, server } = await againstFake(t, slowFailure, ['--retries', '2', '--deadline', '1']);
    assert.equal(server.requests.length, 1);
    assert.equal(
      result.stderr,
      notReceived(cert, `${await http500()}; no time left for another attempt before the 1 s deadline (--deadline)`),
    );
    assert.equal(result.exitCode, 1);
    assert.ok(result.elapsedMs < 3000, `took ${result.elapsedMs} ms`);
  });
});

describe('responses that must not be stapled', { concurrency: 3 }, () => {
  for (const leaf of ['noEku', 'rogue'] as const) {
    test(`${leaf}: a signature that does not verify, exit 4, the previous response kept`, async () => {
      const cert = await placeLeafBundle(leaf);
      await writeFile(`${cert}.ocsp`, await fetchOcspResponse(pki, leaf, pki.responders.delegated.url));
      const before = await snapshot(path.dirname(cert));
      const result = await cli(['-S', '--retries', '0', '--cert', cert]);
      assert.equal(result.stderr, certError(cert, 'OCSP response verification failure.'));
      assert.equal(result.exitCode, 4);
      assert.deepEqual(await snapshot(path.dirname(cert)), before);
    });
  }

  test('a certificate the responder does not know: exit 4, nothing written', async () => {
    const cert = await placeLeafBundle('unknownToResponder');
    const before = await snapshot(path.dirname(cert));
    const result = await cli(['-S', '--retries', '0', '--cert', cert]);
    assert.equal(result.stderr, certError(cert, 'OCSP responder does not know this certificate (status unknown)'));
    assert.equal(result.exitCode, 4);
    assert.deepEqual(await snapshot(path.dirname(cert)), before);
  });

  test('a Must-Staple certificate: the error says what is at stake', async (t) => {
    const server = await fakeResponder(t, () => ({ status: 404 }));
    const cert = await placeLeafBundle('mustStaple');
    await placePreviousRun(cert, await fetchOcspResponse(pki, 'mustStaple'));
    const before = await snapshot(path.dirname(cert));
    const result = await cli(['-S', '--retries', '0', '--ocsp-url', server.url, '--cert', cert]);
    assert.equal(
      result.stderr,
      certError(
        cert,
        "can't receive the OCSP server response: HTTP 404 Not Found (this certificate demands OCSP stapling (Must-Staple): clients will refuse the site without a valid staple)",
      ),
    );
    assert.equal(result.exitCode, 1);
    assert.deepEqual(await snapshot(path.dirname(cert)), before);
  });
});

describe('the response in place', { concurrency: 2 }, () => {
  test('corrupt: reported as unreadable and replaced', async () => {
    const cert = await placeLeafBundle('good');
    await writeFile(`${cert}.ocsp`, 'garbage\n');
    const result = await cli(['-S', '--retries', '0', '--cert', cert]);
    assert.equal(
      result.stderr,
      `current OCSP response ${cert}.ocsp is unreadable (not an OCSP response: text starting with "garbage\\n"): it will be replaced\n`,
    );
    assert.equal(result.exitCode, 0);
    await assertStapled(cert, 'good');
  });

  test("empty, HAProxy 2.6's placeholder: replaced with no error, a debug line says why", async () => {
    const cert = await placeLeafBundle('good');
    await writeFile(`${cert}.ocsp`, '');
    const dry = await cli(['-d', '--cert', cert]);
    assert.equal(dry.exitCode, 0, dry.stderr);
    assert.match(
      dry.stdout,
      new RegExp(`^Current OCSP response ${escape(cert)}\\.ocsp is an empty placeholder: it will be replaced$`, 'm'),
    );
    const result = await cli(['-S', '--retries', '0', '--cert', cert]);
    assert.equal(result.stderr, '');
    assert.equal(result.exitCode, 0);
    await assertStapled(cert, 'good');
  });

  test('newer than the one fetched: kept as it is', async () => {
    const cert = await placeLeafBundle('good');
    const inPlace = await responseSignedAt(pki, 'good', '+1d');
    await writeFile(`${cert}.ocsp`, inPlace);
    const result = await cli(['-S', '--retries', '0', '--cert', cert]);
    const date = '[A-Z][a-z]{2} [ \\d]\\d \\d\\d:\\d\\d:\\d\\d \\d{4} GMT';
    assert.match(
      result.stderr,
      new RegExp(
        `^${escape(cert)}\\.ocsp in place is newer \\(This Update ${date}\\) than the response received \\(This Update ${date}\\): keeping it\\n$`,
      ),
    );
    assert.equal(result.exitCode, 0);
    assert.deepEqual(await readFile(`${cert}.ocsp`), inPlace);
    assert.deepEqual(await leftoversIn(path.dirname(cert)), []);
  });

  test("for the certificate before a renewal, even if newer: replaced by the renewed certificate's response", async () => {
    const cert = await placeLeafBundle('good');
    await writeFile(`${cert}.ocsp`, await responseSignedAt(pki, 'goodEc', '+1h'));
    const result = await cli(['-S', '--retries', '0', '--cert', cert]);
    assert.doesNotMatch(result.stderr, /keeping it/);
    assert.equal(result.exitCode, 0);
    await assertStapled(cert, 'good');
  });
});

describe('the certificate directory', () => {
  test('a .issuer that cannot be written (a link through a file): exit 5 naming it, no .ocsp either', async () => {
    const cert = await placeLeafBundle('good');
    await symlink('/dev/null/chain.pem', `${cert}.issuer`);
    const result = await cli(['-S', '--retries', '0', '--cert', cert]);
    assert.equal(result.stderr, certError(cert, `can't update ${cert}.issuer file (ENOTDIR)`));
    assert.equal(result.exitCode, 5);
    assert.equal(existsSync(`${cert}.ocsp`), false);
    assert.deepEqual(await leftoversIn(path.dirname(cert)), []);
  });

  test('a directory where .ocsp should be: exit 5 naming it, and no .issuer left behind', async () => {
    const cert = await placeLeafBundle('good');
    await mkdir(`${cert}.ocsp`);
    const result = await cli(['-S', '--retries', '0', '--cert', cert]);
    assert.equal(result.exitCode, 5, result.stderr);
    assert.equal(
      result.stderr.split('\n').at(-2),
      certError(cert, `can't update ${cert}.ocsp file (EISDIR)`).trimEnd(),
    );
    assert.equal(existsSync(`${cert}.issuer`), false);
    assert.deepEqual(await leftoversIn(path.dirname(cert)), []);
  });

  test('not writable by the user running the updater: exit 5 naming .ocsp at the install step, earlier failures keep their code, nothing changed', async (t) => {
    const setpriv = await run('setpriv', ['--version']);
    if (setpriv.exitCode !== 0) {
      t.skip('setpriv (util-linux) is missing: cannot run the CLI as another user');
      return;
    }
    // Everything `nobody` must reach: the certificate and the test PKI (its keys stay private).
    await Promise.all([workDir, pki.dir, path.dirname(pki.trustDir)].map((dir) => chmod(dir, 0o755)));
    const version = await runAsNobody(['--version']);
    if (version.exitCode !== 0) {
      // A checkout under a private directory (/root, say) is out of nobody's reach.
      t.skip(`nobody cannot run ${CLI_PATH}: ${version.stderr.trim()}`);
      return;
    }
    const cert = await placeLeafBundle('good');
    await placePreviousRun(cert);
    const dir = path.dirname(cert);
    const noUrl = path.join(dir, 'no-url.pem');
    await copyFile(await placeLeafBundle('noUrl'), noUrl);
    await chmod(dir, 0o755);
    for (const name of await readdir(dir)) await chmod(path.join(dir, name), 0o644);
    const before = await snapshot(dir);
    const result = await runAsNobody(['-S', '--retries', '0', '--cert', cert]);
    assert.equal(
      result.stderr,
      certError(cert, `can't update ${cert}.ocsp file: can't create ${lockPathOf(cert)} (EACCES)`),
    );
    assert.equal(result.exitCode, 5);
    const missingUrl = await runAsNobody(['-S', '--retries', '0', '--cert', noUrl]);
    assert.equal(missingUrl.stderr, certError(noUrl, 'OCSP server URL not found in the EE certificate'));
    assert.equal(missingUrl.exitCode, 2);
    assert.deepEqual(await snapshot(dir), before);
  });
});

/** Starts PROGRAM (the built CLI by default) with a handle on its process, e.g. to signal it. */
function startCli(
  args: readonly string[],
  tempDir: string,
  program: readonly string[] = [process.execPath, CLI_PATH],
): { child: ChildProcess; finished: Promise<CliRun> } {
  const [command, ...commandArgs] = program;
  const child = spawn(command!, [...commandArgs, ...args], {
    env: { ...pki.env, TMPDIR: tempDir, NO_COLOR: '1' },
    cwd: '/',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const finished = new Promise<CliRun>((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (exitCode, signal) => resolve({ exitCode, signal, stdout, stderr }));
  });
  return { child, finished };
}

/** Runs the built CLI as `nobody` (uid 65534): root, which runs the tests, ignores file permissions. */
async function runAsNobody(args: readonly string[]): Promise<CliRun> {
  const tempDir = await privateTempDir(workDir);
  const asNobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI_PATH];
  const result = await startCli(args, tempDir, asNobody).finished;
  await assertTempDirRemoved(tempDir);
  return result;
}

describe('the lock', { concurrency: 3 }, () => {
  test('left by a process that has exited: taken over, and gone afterwards', async () => {
    const exited = spawn('true');
    await new Promise((resolve) => exited.on('exit', resolve));
    assert.ok(exited.pid !== undefined);
    const cert = await placeLeafBundle('good');
    await writeFile(lockPathOf(cert), `${exited.pid}\n`);
    const result = await cli(['-S', '--retries', '0', '--cert', cert]);
    assert.equal(result.stderr, '');
    assert.equal(result.exitCode, 0);
    assert.equal(existsSync(lockPathOf(cert)), false);
    await assertStapled(cert, 'good');
  });

  test('held by a live process: exit 9 after --lock-timeout, the lock left alone', async () => {
    const cert = await placeLeafBundle('good');
    await placePreviousRun(cert);
    await writeFile(lockPathOf(cert), `${process.pid}\n`);
    const before = await snapshot(path.dirname(cert));
    const result = await timed(cli(['-S', '--retries', '0', '--lock-timeout', '1', '--cert', cert]));
    assert.equal(
      result.stderr,
      programError(`another run (PID ${process.pid}) holds ${lockPathOf(cert)}; gave up after 1 s (--lock-timeout)`),
    );
    assert.equal(result.exitCode, 9);
    assert.ok(result.elapsedMs >= 1000 && result.elapsedMs < 3000, `took ${result.elapsedMs} ms`);
    assert.deepEqual(await snapshot(path.dirname(cert)), before);
  });

  test("a run killed mid-request (cron's `timeout` sends SIGTERM): exit 9, lock and temporary files gone", async (t) => {
    const server = await fakeResponder(t, () => 'hang');
    const cert = await placeLeafBundle('good');
    await placePreviousRun(cert);
    const before = await snapshot(path.dirname(cert));
    const tempDir = await privateTempDir(workDir);
    const { child, finished } = startCli(
      ['-S', '--retries', '0', '--timeout', '20', '--ocsp-url', server.url, '--cert', cert],
      tempDir,
    );
    t.after(() => child.kill('SIGKILL'));
    while (server.requests.length === 0 && child.exitCode === null) await sleep(50);
    assert.ok(existsSync(lockPathOf(cert)), 'the lock is held while the request is under way');
    assert.notDeepEqual(await programsMentioning(tempDir), [], 'openssl is waiting on the responder');
    child.kill('SIGTERM');
    const result = await finished;
    assert.equal(result.exitCode, 9);
    assert.deepEqual(await programsMentioning(tempDir), [], 'no openssl left waiting on the responder');
    assert.deepEqual(await snapshot(path.dirname(cert)), before);
    await assertTempDirRemoved(tempDir);
  });

  test('a run killed with SIGKILL mid-request leaves no openssl waiting on the responder', async (t) => {
    const server = await fakeResponder(t, () => 'hang');
    const cert = await placeLeafBundle('good');
    const tempDir = await privateTempDir(workDir);
    const { child, finished } = startCli(
      ['-S', '--retries', '0', '--timeout', '20', '--ocsp-url', server.url, '--cert', cert],
      tempDir,
    );
    t.after(() => child.kill('SIGKILL'));
    while (server.requests.length === 0 && child.exitCode === null) await sleep(50);
    assert.notDeepEqual(await programsMentioning(tempDir), [], 'openssl is waiting on the responder');
    child.kill('SIGKILL');
    await finished;
    // The kernel delivers the parent-death signal as the parent exits; give it a moment, no more.
    for (let tries = 0; tries < 20 && (await programsMentioning(tempDir)).length > 0; tries++) await sleep(50);
    assert.deepEqual(await programsMentioning(tempDir), []);
  });

  test('-d neither takes it nor writes anything, even with no .ocsp nor .issuer', async () => {
    const cert = await placeLeafBundle('good');
    await writeFile(lockPathOf(cert), `${process.pid}\n`);
    const before = await snapshot(path.dirname(cert));
    const result = await cli(['-d', '--retries', '0', '--lock-timeout', '0', '--cert', cert]);
    assert.equal(result.stderr, '');
    assert.equal(result.exitCode, 0);
    assert.match(result.stdout, /^Debug mode: haproxy update skipped\.$/m);
    assert.deepEqual(await snapshot(path.dirname(cert)), before);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe('arguments from a careless or hostile caller', { concurrency: 3 }, () => {
  for (const value of ['2147483648', '1e308']) {
    test(`--timeout ${value}: exit 9 before any work, not a timer that fires at once`, async () => {
      const cert = await placeLeafBundle('good');
      const before = await snapshot(path.dirname(cert));
      const result = await cli(['-S', '--timeout', value, '--cert', cert]);
      assert.equal(result.stderr, programError(`--timeout wants a whole number from 1 to 3600, got: ${value}`));
      assert.equal(result.exitCode, 9);
      assert.deepEqual(await snapshot(path.dirname(cert)), before);
    });
  }

  test('a TMPDIR that is missing or not a directory: exit 9 saying so, not a crash', async () => {
    const cert = await placeLeafBundle('good');
    const notADirectory = path.join(await caseDir(), 'plain-file');
    await writeFile(notADirectory, '');
    for (const [tmp, code] of [
      [path.join(await caseDir(), 'missing'), 'ENOENT'],
      [notADirectory, 'ENOTDIR'],
    ] as const) {
      const result = await runCli(['-S', '--cert', cert], { env: { ...pki.env, TMPDIR: tmp } });
      assert.equal(result.stderr, programError(`can't create a temporary directory in ${tmp} (${code})`));
      assert.equal(result.exitCode, 9);
    }
  });

  test('an OCSP URL holding a newline: exit 3, and the debug line naming it stays one line', async () => {
    const cert = await placeLeafBundle('good');
    const url = "http://127.0.0.1:1/\nError processing 'other.pem': \u001b[32mforged";
    const result = await cli(['-d', '--ocsp-url', url, '--cert', cert]);
    assert.equal(result.stderr, certError(cert, 'OCSP server URL not in http[s]:// format'));
    assert.equal(result.exitCode, 3);
    const shown = url.replace('\n', '\\u000A').replace('\u001b', '\\u001B');
    assert.match(result.stdout, new RegExp(`^Using OCSP server URL from command line: ${escape(shown)}$`, 'm'));
    assert.doesNotMatch(result.stdout, /^Error processing/m);
  });

  test('a --cert path holding a newline and escape sequences stays on its one error line', async () => {
    const dir = await caseDir();
    const forged = path.join(dir, "site.pem\nError processing 'other.pem': \u001b[32mall good\u001b[0m");
    const result = await cli(['-S', '--retries', '0', '--cert', forged]);
    const shown = forged.replace(/\n/g, '\\u000A').replace(/\u001b/g, '\\u001B');
    assert.equal(
      result.stderr,
      `Error processing '${shown}': can't extract EE certificate from ${shown} (no such file)\n`,
    );
    assert.equal(result.exitCode, 1);
  });
});
