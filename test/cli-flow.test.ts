// End-to-end runs of the built CLI against a real PKI and real `openssl ocsp`
// responders: every step of the original flow, its messages and exit codes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { run } from '../lib/process/run.ts';
import { parseOcspResponse } from '../lib/pki/ocsp-response.ts';
import { createTestPki, responseSignedAt, type LeafName, type TestPki } from './helpers/pki.ts';
import { runCli, tempDirOf } from './helpers/cli.ts';
import packageJson from '../package.json' with { type: 'json' };

let pki: TestPki;
let workDir: string;

before(async () => {
  pki = await createTestPki();
  workDir = await mkdtemp(path.join(tmpdir(), 'hapos-upd-flow-'));
});

after(async () => {
  await pki?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

let copies = 0;
/** A private copy of a leaf's bundle (leaf + intermediate), so that runs do not see each other's files. */
async function bundleOf(leaf: LeafName, name = `${leaf}-${++copies}.pem`): Promise<string> {
  const target = path.join(workDir, name);
  await copyFile(pki.leaves[leaf].bundle, target);
  return target;
}

const cli = (args: string[], env: NodeJS.ProcessEnv = pki.env) => runCli(args, { env });

/** The error line of a failed run on CERT. */
const certError = (cert: string, message: string) => `Error processing '${cert}': ${message}\n`;

describe('help, version and argument errors (exit 9)', () => {
  test('-h prints every option and exit code, and exits 0', async () => {
    const result = await cli(['-h']);
    assert.equal(result.exitCode, 0);
    for (const option of [
      '-d, --debug',
      '--keep-temp',
      '-g, --good-only',
      '-l, --syslog priority',
      '--ocsp-url url',
      '--ocsp-host host',
      '--ocsp-proxy proxy',
      '--use-curl',
      '--partial-chain',
      '-s, --socket file',
      '-v, --VAfile file',
      '--noverify',
      '--nonce',
      '-S, --skip-update',
      '--status',
      '--warn-hours n',
      '-h, --help',
    ]) {
      assert.ok(result.stdout.includes(option), option);
    }
    assert.match(
      result.stdout,
      /Exit codes:\n 0 +OK\n 1 +openssl certificates handling error\n 2 +OCSP server URL not found\n 3 +string parsing \/ PEM manipulation error\n 4 +OCSP error\n 5 +haproxy management error\n 6 +--status: a staple expires within --warn-hours\n 7 +--status: a staple is missing, expired, revoked or unknown\n 9 +program error \(wrong arguments, missing dependencies\)/,
    );
    assert.match(result.stdout, /hapos-upd \[options\] --cert crt_full_path/);
    assert.equal(result.stderr, '');
  });

  test('help asked for after other options prints the same text', async () => {
    const [alone, later] = await Promise.all([cli(['-h']), cli(['-d', '--cert', 'x.pem', '--help'])]);
    assert.equal(later.exitCode, 0);
    assert.equal(later.stdout, alone.stdout);
  });

  test('--version prints the package version', async () => {
    const result = await cli(['--version']);
    assert.deepEqual([result.exitCode, result.stdout], [0, `${packageJson.version}\n`]);
  });

  const programErrors: [string, string[], string][] = [
    ['an unknown option', ['--cert', 'x.pem', '--frobnicate'], 'unknown option: --frobnicate'],
    ['a stray argument', ['x.pem'], 'unknown option: x.pem'],
    ['an option without its value', ['--cert'], 'mandatory value is missing for --cert argument'],
    ['a short option without its value', ['-d', '-s'], 'mandatory value is missing for -s argument'],
    ['no --cert', ['-d'], 'certificate not provided (--cert argument)'],
    ['an empty --cert, as the original tests it', ['-d', '--cert', ''], 'certificate not provided (--cert argument)'],
    [
      'a VAfile that does not exist',
      ['-v', '/nonexistent/signer.pem', '-c', 'x.pem'],
      'VAfile does not exists: /nonexistent/signer.pem',
    ],
  ];
  for (const [what, args, message] of programErrors) {
    test(`${what}: exit 9`, async () => {
      const result = await cli(args);
      assert.equal(result.exitCode, 9);
      assert.equal(result.stderr, `Error: ${message}\nRun hapos-upd -h for help\n`);
    });
  }

  test('an OPENSSL_BIN that is not openssl: exit 9', async () => {
    const result = await cli(['-c', pki.leaves.good.bundle], { ...pki.env, OPENSSL_BIN: '/nonexistent/openssl' });
    assert.equal(result.exitCode, 9);
    assert.equal(
      result.stderr,
      'Error: openssl binary not found; adjust OPENSSL_BIN variable in the script\nRun hapos-upd -h for help\n',
    );
  });

  test('OPENSSL_BIN is honoured', async () => {
    const result = await cli(['-d', '-c', await bundleOf('good')], { ...pki.env, OPENSSL_BIN: '/usr/bin/openssl' });
    assert.equal(result.exitCode, 0, result.stderr);
  });

  test('--use-curl without curl: exit 9', async () => {
    const result = await cli(['--use-curl', '-d', '-c', pki.leaves.good.bundle], {
      ...pki.env,
      CURL_BIN: '/nonexistent/curl',
    });
    assert.equal(result.exitCode, 9);
    assert.equal(
      result.stderr,
      'Error: curl binary not found; adjust CURL_BIN variable in the script\nRun hapos-upd -h for help\n',
    );
  });
});

describe('the update flow', () => {
  test('-d runs every step, prints the original debug lines, and writes nothing', async () => {
    const cert = await bundleOf('good');
    const leaf = pki.leaves.good;
    const result = await cli(['-d', '--cert', cert]);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.equal(result.stderr, '');
    const tempDir = tempDirOf(result.stdout);
    assert.ok(tempDir && /\/hapos-upd\.[A-Za-z0-9]{10}$/.test(tempDir), result.stdout);
    const fingerprint = (file: string) =>
      run('openssl', ['x509', '-noout', '-fingerprint', '-in', file]).then((out) => out.stdout.trim());
    const eeFingerprint = await fingerprint(leaf.cert);
    const intFingerprint = await fingerprint(pki.intermediate);
    const lines = result.stdout.split('\n');
    assert.deepEqual(lines.slice(0, 8), [
      `Temporary directory: ${tempDir}`,
      `OCSP server URL found: ${leaf.ocspUrl}`,
      `OCSP server hostname: ${new URL(leaf.ocspUrl!).host}`,
      'Extracting chain from certificates bundle',
      `EE certificate's fingerprint: ${eeFingerprint}`,
      '2 certificates found in the bundle',
      `Bundle certificate n. 1 fingerprint: ${eeFingerprint} - EE certificate`,
      `Bundle certificate n. 2 fingerprint: ${intFingerprint} - it's part of the chain`,
    ]);
    assert.equal(lines[8], 'OCSP response verification results: Response verify OK');
    assert.equal(lines[9], `OCSP response: ${tempDir}/ee.pem: good`);
    assert.match(lines[10]!, /^\tThis Update: [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4} GMT$/);
    assert.match(lines[11]!, /^\tNext Update: /);
    assert.deepEqual(lines.slice(12), ['Debug mode: haproxy update skipped.', '']);
    assert.deepEqual(
      (await readdir(workDir)).filter((name) => name.startsWith(path.basename(cert))),
      [path.basename(cert)],
    );
    assert.equal(existsSync(tempDir), false, 'the temporary directory is removed');
  });

  test('-S writes .ocsp and .issuer and leaves HAProxy alone; a second run uses them', async () => {
    const cert = await bundleOf('good');
    const first = await cli(['-S', '--cert', cert]);
    assert.equal(first.exitCode, 0, first.stderr);
    assert.equal(first.stdout, '', 'debug lines only with -d');
    const response = parseOcspResponse(await readFile(`${cert}.ocsp`));
    assert.equal(response.responseStatus, 'successful');
    assert.equal(response.responseStatus === 'successful' && response.responses[0]?.certStatus, 'good');
    assert.equal(await readFile(`${cert}.issuer`, 'utf8'), await readFile(pki.intermediate, 'utf8'));

    const second = await cli(['-d', '-S', '--cert', cert]);
    assert.equal(second.exitCode, 0, second.stderr);
    const lines = second.stdout.split('\n');
    assert.equal(lines[1], 'An OCSP response already exists: checking its expiration.');
    assert.match(
      lines[2]!,
      /^Current OCSP response expiration: [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4} GMT - NOT expired$/,
    );
    assert.ok(lines.includes(`Using existing chain (${cert}.issuer)`));
    assert.ok(!lines.includes('Extracting chain from certificates bundle'));

    const third = await cli(['-S', '-l', 'user.err', '--cert', cert]);
    assert.equal(third.exitCode, 0, third.stderr);
  });

  test('--keep-temp keeps the temporary directory, whose log holds every debug line', async () => {
    const cert = await bundleOf('good');
    const privateTmp = await mkdtemp(path.join(workDir, 'tmp-'));
    const result = await cli(['-S', '--keep-temp', '--cert', cert], { ...pki.env, TMPDIR: privateTmp });
    assert.equal(result.exitCode, 0, result.stderr);
    const [kept, ...others] = await readdir(privateTmp);
    assert.deepEqual(others, []);
    assert.match(kept!, /^hapos-upd\.[A-Za-z0-9]{10}$/);
    const files = await readdir(path.join(privateTmp, kept!));
    for (const name of ['ee.pem', 'chain.pem', 'ocsp.der', 'log']) assert.ok(files.includes(name), name);
    const log = await readFile(path.join(privateTmp, kept!, 'log'), 'utf8');
    assert.ok(log.startsWith(`Temporary directory: ${path.join(privateTmp, kept!)}\n`), log);
    assert.ok(log.endsWith('Not notifying haproxy because skip-update is set.\n'), log);

    const removed = await cli(['-S', '--cert', cert], { ...pki.env, TMPDIR: privateTmp });
    assert.equal(removed.exitCode, 0, removed.stderr);
    assert.deepEqual(await readdir(privateTmp), [kept], 'without --keep-temp the directory is removed');
  });

  test('an expired response in place is reported, not fatal, and replaced', async () => {
    const cert = await bundleOf('good');
    await writeFile(`${cert}.ocsp`, await responseSignedAt(pki, 'good', '-8d'));
    const result = await cli(['-d', '-S', '--cert', cert]);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.match(result.stdout, /^Current OCSP response expiration: .* GMT - expired$/m);
    assert.equal(
      result.stderr,
      'current OCSP response is expired: please consider running this script more frequently\n',
    );
  });

  test('a path with spaces and quotes works', async () => {
    const cert = await bundleOf('good', `it's a "site" bundle.pem`);
    const result = await cli(['-S', '--cert', cert]);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.ok(existsSync(`${cert}.ocsp`));
  });

  test('an ECDSA leaf and an issuer-signed response', async () => {
    for (const leaf of ['goodEc', 'issuerSigned'] as const) {
      const result = await cli(['-d', '--cert', await bundleOf(leaf)]);
      assert.equal(result.exitCode, 0, `${leaf}: ${result.stderr}`);
      assert.match(result.stdout, /: good\n/);
    }
  });

  test('a revoked certificate is stapled, but loudly', async () => {
    const cert = await bundleOf('revoked');
    const result = await cli(['-S', '--cert', cert]);
    assert.equal(result.exitCode, 0);
    assert.match(
      result.stderr,
      new RegExp(
        `^${escape(cert)}: certificate revoked at \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z \\(reason: keyCompromise\\)\\n$`,
      ),
    );
    assert.ok(existsSync(`${cert}.ocsp`));
  });
});

describe('failures, each with its exit code and message', () => {
  test('1: the EE cannot be read', async () => {
    const keyOnly = path.join(workDir, 'key-only.pem');
    await copyFile(pki.leaves.good.key, keyOnly);
    const result = await cli(['-d', '--cert', keyOnly]);
    assert.equal(result.exitCode, 1);
    assert.equal(
      result.stderr,
      certError(keyOnly, `can't extract EE certificate from ${keyOnly} (it holds a private key but no certificate)`),
    );
  });

  test('1: an existing .issuer that no longer matches', async () => {
    const cert = await bundleOf('good');
    await copyFile(pki.otherIntermediate, `${cert}.issuer`);
    const result = await cli(['-d', '--cert', cert]);
    assert.equal(result.exitCode, 1);
    assert.equal(
      result.stderr,
      certError(
        cert,
        `can't validate the EE certificate against the existing chain; if it has been changed recently consider removing the current ${cert}.issuer file and let this script to figure out a new one`,
      ),
    );
  });

  test('1: a chain that does not validate the EE', async () => {
    const cert = path.join(workDir, 'wrong-chain.pem');
    await writeFile(
      cert,
      (await readFile(pki.leaves.good.cert, 'utf8')) + (await readFile(pki.otherIntermediate, 'utf8')),
    );
    const result = await cli(['-d', '--cert', cert]);
    assert.equal(result.exitCode, 1);
    assert.equal(
      result.stderr,
      certError(
        cert,
        "can't validate the EE certificate against the extracted chain (unable to get local issuer certificate)",
      ),
    );
  });

  test('1: no response from the responder', async () => {
    const cert = await bundleOf('good');
    const result = await cli([
      '-d',
      '--retries',
      '0',
      '--timeout',
      '1',
      '--ocsp-url',
      'http://127.0.0.1:9/',
      '--cert',
      cert,
    ]);
    assert.equal(result.exitCode, 1);
    assert.equal(result.stderr, certError(cert, "can't receive the OCSP server response: connection refused"));
  });

  test('2: no OCSP URL in the EE', async () => {
    const cert = await bundleOf('noUrl');
    const result = await cli(['-d', '--cert', cert]);
    assert.equal(result.exitCode, 2);
    assert.equal(result.stderr, certError(cert, 'OCSP server URL not found in the EE certificate'));
  });

  test('3: an OCSP URL that is not http(s)', async () => {
    const cert = await bundleOf('good');
    const result = await cli(['-d', '--ocsp-url', 'ldap://ocsp.example/', '--cert', cert]);
    assert.equal(result.exitCode, 3);
    assert.equal(result.stderr, certError(cert, 'OCSP server URL not in http[s]:// format'));
  });

  test('3: a proxy that is not http(s)', async () => {
    const cert = await bundleOf('good');
    const result = await cli(['-d', '--ocsp-proxy', 'socks5://127.0.0.1:1080', '--cert', cert]);
    assert.equal(result.exitCode, 3);
    assert.equal(result.stderr, certError(cert, 'OCSP server PROXY not in http[s]:// format'));
  });

  test('3: a bundle with only the EE and no .issuer', async () => {
    const cert = path.join(workDir, 'leaf-only.pem');
    await copyFile(pki.leaves.good.cert, cert);
    const result = await cli(['-d', '--cert', cert]);
    assert.equal(result.exitCode, 3);
    assert.equal(
      result.stderr,
      certError(
        cert,
        `can't obtain the number of certificates in the chain (the bundle holds only the EE certificate and there is no ${cert}.issuer)`,
      ),
    );
  });

  test('4: a response without its signer certificate, then --VAfile FILE and --VAfile -', async () => {
    const cert = await bundleOf('noCerts');
    const withoutSigner = await cli(['-d', '--cert', cert]);
    assert.equal(withoutSigner.exitCode, 4);
    assert.equal(
      withoutSigner.stderr,
      certError(
        cert,
        "OCSP response verification failure: signer certificate not found; try with '--VAfile -' or '--VAfile OCSP-response-signing-certificate-file' arguments",
      ),
    );
    assert.match(
      withoutSigner.stdout,
      /^OCSP response verification results: Response Verify Failure\n.*signer certificate not found/m,
    );

    const withFile = await cli(['-d', '--VAfile', pki.ocspSigner, '--cert', cert]);
    assert.equal(withFile.exitCode, 0, withFile.stderr);
    assert.match(withFile.stdout, /^OCSP response verification results: Response verify OK$/m);

    // The bundle carries the responder's certificate after the intermediate: '-' trusts the extracted chain.
    const withChain = path.join(workDir, 'with-signer.pem');
    await writeFile(withChain, (await readFile(cert, 'utf8')) + (await readFile(pki.ocspSigner, 'utf8')));
    const viaChain = await cli(['-d', '--VAfile', '-', '--cert', withChain]);
    assert.equal(viaChain.exitCode, 0, viaChain.stderr);
    assert.match(viaChain.stdout, /^3 certificates found in the bundle$/m);
  });

  test('4: a response signed by an unrelated key; --noverify accepts it', async () => {
    const cert = await bundleOf('rogue');
    const rejected = await cli(['-d', '--cert', cert]);
    assert.equal(rejected.exitCode, 4);
    assert.equal(rejected.stderr, certError(cert, 'OCSP response verification failure.'));
    const unverified = await cli(['-d', '--noverify', '--cert', cert]);
    assert.equal(unverified.exitCode, 0, unverified.stderr);
    assert.doesNotMatch(unverified.stdout, /verification results/);
  });

  test('4: -g with a revoked certificate writes nothing', async () => {
    const cert = await bundleOf('revoked');
    const result = await cli(['-g', '-S', '--cert', cert]);
    assert.equal(result.exitCode, 4);
    assert.ok(result.stderr.endsWith(certError(cert, 'OCSP response, certificate status not good')), result.stderr);
    assert.equal(existsSync(`${cert}.ocsp`), false);
    assert.equal(existsSync(`${cert}.issuer`), false);
  });

  test('--partial-chain trusts the bundle intermediate without the root', async () => {
    const cert = await bundleOf('good');
    const untrusted = { ...pki.env, SSL_CERT_DIR: workDir };
    const refused = await cli(['-d', '--cert', cert], untrusted);
    assert.equal(refused.exitCode, 1);
    assert.equal(
      refused.stderr,
      certError(
        cert,
        "can't validate the EE certificate against the extracted chain (unable to get issuer certificate)",
      ),
    );
    const partial = await cli(['-d', '--partial-chain', '--cert', cert], untrusted);
    assert.equal(partial.exitCode, 0, partial.stderr);
  });

  /** A stand-in for logger that records its arguments: this machine has no syslog daemon to receive the line. */
  async function fakeLogger(): Promise<{ env: NodeJS.ProcessEnv; calls: string }> {
    const fakeBin = await mkdtemp(path.join(workDir, 'bin-'));
    const calls = path.join(fakeBin, 'calls');
    await writeFile(
      path.join(fakeBin, 'logger'),
      `#!/bin/sh\nprintf '%s\\n' "$@" >> '${calls}'\necho "<11>logger: $5" >&2\n`,
      { mode: 0o755 },
    );
    return { env: { ...pki.env, PATH: `${fakeBin}:${process.env.PATH}` }, calls };
  }

  test('--syslog sends errors through logger, and never loses them', async () => {
    const { env, calls } = await fakeLogger();
    const cert = await bundleOf('noUrl');
    const result = await cli(['-d', '-l', 'local7.error', '--cert', cert], env);
    assert.equal(result.exitCode, 2);
    assert.deepEqual((await readFile(calls, 'utf8')).split('\n'), [
      '-p',
      'local7.error',
      '-s',
      '--',
      `hapos-upd - Error processing '${cert}': OCSP server URL not found in the EE certificate`,
      '',
    ]);
    assert.equal(
      result.stderr,
      `<11>logger: hapos-upd - Error processing '${cert}': OCSP server URL not found in the EE certificate\n`,
    );

    const noSyslog = await cli(['-d', '-l', 'local7.error', '--cert', cert], {
      ...pki.env,
      PATH: `${path.join(workDir, 'no-such-dir')}:/usr/bin:/bin`,
    });
    assert.equal(noSyslog.exitCode, 2);
    assert.ok(
      noSyslog.stderr.startsWith(certError(cert, 'OCSP server URL not found in the EE certificate')),
      noSyslog.stderr,
    );
  });

  test('--syslog with a program error: exit 9, the error through logger, then the help line', async () => {
    const { env } = await fakeLogger();
    const cases: [string[], NodeJS.ProcessEnv, string][] = [
      [[], env, 'certificate not provided (--cert argument)'],
      [['--frobnicate'], env, 'unknown option: --frobnicate'],
      [
        ['--cert', await bundleOf('good')],
        { ...env, OPENSSL_BIN: path.join(workDir, 'no-such-openssl') },
        'openssl binary not found; adjust OPENSSL_BIN variable in the script',
      ],
    ];
    for (const [args, caseEnv, message] of cases) {
      const result = await cli(['-l', 'local7.error', ...args], caseEnv);
      assert.equal(result.exitCode, 9, result.stderr);
      assert.equal(result.stderr, `<11>logger: hapos-upd - Error: ${message}\nRun hapos-upd -h for help\n`);
    }
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
