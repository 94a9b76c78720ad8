// End-to-end runs of the built CLI on bytes no CA would issue and no honest
// responder would send: each must end quickly with its exit code and one
// short error line (or succeed when the odd part is not needed), and leave
// the `.ocsp` and `.issuer` in place untouched, no temporary or lock file
// behind.
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { UniversalTag } from '../lib/pki/der.ts';
import { encodeOctetString, encodeSequence } from '../lib/pki/der-encode.ts';
import { encodeElement } from './helpers/der-encode.ts';
import { parseOcspResponse } from '../lib/pki/ocsp-response.ts';
import { createTestPki, fetchOcspResponse, type TestPki } from './helpers/pki.ts';
import { runCli, type CliRun, httpClients } from './helpers/cli.ts';
import { assertTempDirRemoved, certError, leftoversIn, privateTempDir, snapshot, timed } from './helpers/aftermath.ts';
import { startFakeHttpServer, type FakeHandler, type FakeHttpServer } from './helpers/responder.ts';
import {
  AUTHORITY_INFO_ACCESS,
  TLS_FEATURE,
  extension,
  extensionId,
  extensionsOf,
  ocspAia,
  oidWithHugeArc,
  withEmptySubject,
  withExtensions,
} from './helpers/certificate-surgery.ts';

/** A generous bound for runs that once spun for minutes; a run here takes well under a second. */
const QUICK_MS = 5000;

let pki: TestPki;
let workDir: string;
let goodResponseInPlace: Buffer;

before(async () => {
  pki = await createTestPki();
  workDir = await mkdtemp(path.join(tmpdir(), 'hapos-upd-hostile-decoder-'));
  goodResponseInPlace = await fetchOcspResponse(pki, 'good');
});

after(async () => {
  await pki?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

/** Runs the CLI with a temporary directory of its own, which it must remove. */
async function cli(args: string[]): Promise<CliRun & { elapsedMs: number }> {
  const tempDir = await privateTempDir(workDir);
  const result = await timed(runCli(args, { env: { ...pki.env, TMPDIR: tempDir } }));
  await assertTempDirRemoved(tempDir);
  return result;
}

function assertQuick(result: { elapsedMs: number }): void {
  assert.ok(result.elapsedMs < QUICK_MS, `took ${result.elapsedMs} ms`);
}

/** CONTENT as `NAME` in a fresh directory, with what a previous successful run left beside it. */
async function placeBundle(content: string | Buffer, name = 'site.pem'): Promise<string> {
  const cert = path.join(await mkdtemp(path.join(workDir, 'case-')), name);
  await writeFile(cert, content);
  await writeFile(`${cert}.ocsp`, goodResponseInPlace);
  await copyFile(pki.intermediate, `${cert}.issuer`);
  return cert;
}

/** The `good` leaf with its extensions edited and signed again by the intermediate, then the intermediate. */
async function editedBundle(edit: (extensions: Buffer[]) => Buffer[]): Promise<string> {
  const [leaf, intermediate, key] = await Promise.all(
    [pki.leaves.good.cert, pki.intermediate, pki.keys.intermediate].map((file) => readFile(file, 'utf8')),
  );
  return withExtensions(leaf, key, edit) + intermediate;
}

const replacing = (id: string, replacement: Buffer) => (extensions: Buffer[]) =>
  extensions.map((der) => (extensionId(der) === id ? replacement : der));

/** The bundle's EE certificate in DER. */
const eeDer = (bundle: string) => new X509Certificate(bundle).raw;

/** An AIA whose OCSP URI is the good leaf's responder with a non-ASCII byte (é in Latin-1) appended. */
const nonAsciiUri = () => Buffer.from(`${pki.leaves.good.ocspUrl}\xe9`, 'latin1');
const nonAsciiAiaBundle = () =>
  editedBundle(replacing(AUTHORITY_INFO_ACCESS, extension(AUTHORITY_INFO_ACCESS, ocspAia(nonAsciiUri()))));
/** A TLS Feature holding an OCTET STRING where the feature numbers (INTEGERs) go. */
const malformedTlsFeature = Buffer.from('3003040105', 'hex');
const malformedTlsFeatureBundle = () =>
  editedBundle((extensions) => [...extensions, extension(TLS_FEATURE, malformedTlsFeature)]);
/** The first extension's length in long form: BER, which OpenSSL (and so node) reads, and DER forbids. */
const berLengthBundle = () =>
  editedBundle(([first, ...rest]) => [
    Buffer.concat([first!.subarray(0, 1), Buffer.from([0x81]), first!.subarray(1)]),
    ...rest,
  ]);

const aiaMessage = (uriOffset: number) =>
  `OCSP server URL not in http[s]:// format (can't decode the EE certificate's Authority Information Access extension: URI: non-ASCII IA5String (at byte ${uriOffset}))`;
const undecodableMessage = (cert: string, bundle: string) =>
  `can't extract EE certificate from ${cert} (can't decode the EE certificate: non-minimal length (at byte ${berLengthOffset(bundle)}))`;

/** Where the Extension with the long-form length starts in the EE certificate. */
function berLengthOffset(bundle: string): number {
  const [first] = extensionsOf(new X509Certificate(readFileSync(pki.leaves.good.cert)).raw);
  return eeDer(bundle).indexOf(Buffer.concat([Buffer.from([0x30, 0x81]), first!.subarray(1)]));
}

/** Asserts that CERT.ocsp is now a `good` response for the good leaf, the `.issuer` left as it was. */
async function assertStapled(cert: string): Promise<void> {
  const response = parseOcspResponse(await readFile(`${cert}.ocsp`));
  const single = response.responseStatus === 'successful' ? response.responses[0] : undefined;
  assert.equal(single?.certStatus, 'good');
  assert.equal(single?.certId.serialNumber, pki.leaves.good.serialHex);
  assert.notDeepEqual(await readFile(`${cert}.ocsp`), goodResponseInPlace, 'a new response');
  assert.deepEqual(await readFile(`${cert}.issuer`), await readFile(pki.intermediate));
  assert.deepEqual(await leftoversIn(path.dirname(cert)), []);
}

/** A fake responder for one test, closed when the test ends. */
async function fakeResponder(t: TestContext, handler: FakeHandler): Promise<FakeHttpServer> {
  const server = await startFakeHttpServer(handler);
  t.after(() => server.close());
  return server;
}

describe('a responder answering one huge OBJECT IDENTIFIER', { concurrency: 2 }, () => {
  // Under 100 KiB, the most OpenSSL's HTTP client (and --use-curl) takes.
  const oidBytes = 99 * 1024;
  const body = encodeSequence([
    Buffer.from('0a0100', 'hex'),
    encodeElement(
      'context',
      true,
      0,
      encodeSequence([
        encodeElement('universal', false, UniversalTag.objectIdentifier, oidWithHugeArc(oidBytes)),
        encodeOctetString(Buffer.from('3000', 'hex')),
      ]),
    ),
  ]);

  for (const { client, args: clientArgs } of httpClients) {
    test(`through ${client}: exit 1 at once, one short line, the files in place untouched`, async (t) => {
      const server = await fakeResponder(t, () => ({ body }));
      const cert = await placeBundle(await readFile(pki.leaves.good.bundle));
      const before = await snapshot(path.dirname(cert));
      const result = await cli(['-S', '--retries', '0', ...clientArgs, '--ocsp-url', server.url, '--cert', cert]);
      assert.equal(
        result.stderr,
        certError(
          cert,
          `can't receive the OCSP server response: malformed OCSP response: responseType: OBJECT IDENTIFIER of ${oidBytes} bytes, over the limit of 586 (at byte ${body.indexOf(Buffer.from([0x06, 0x83]))})`,
        ),
      );
      assert.equal(result.exitCode, 1);
      assertQuick(result);
      assert.equal(server.requests.length, 1);
      assert.deepEqual(await snapshot(path.dirname(cert)), before);
    });
  }
});

describe('certificates that OpenSSL accepts and a strict decoder finds odd', { concurrency: 3 }, () => {
  test('an extension whose OID takes 300 KB: not needed, so the run staples as usual', async () => {
    const bundle = await editedBundle((extensions) => [
      ...extensions,
      extension(oidWithHugeArc(300 * 1024), Buffer.from('0500', 'hex')),
    ]);
    const cert = await placeBundle(bundle);
    const result = await cli(['-S', '--retries', '0', '--cert', cert]);
    assert.equal(result.stderr, '');
    assert.equal(result.exitCode, 0);
    assertQuick(result);
    await assertStapled(cert);
  });

  test('a non-ASCII byte in the AIA URI: exit 3, the files in place untouched', async () => {
    const bundle = await nonAsciiAiaBundle();
    const cert = await placeBundle(bundle);
    const before = await snapshot(path.dirname(cert));
    const result = await cli(['-S', '--retries', '0', '--cert', cert]);
    assert.equal(result.stderr, certError(cert, aiaMessage(eeDer(bundle).indexOf(nonAsciiUri()) - 2)));
    assert.equal(result.exitCode, 3);
    assertQuick(result);
    assert.deepEqual(await snapshot(path.dirname(cert)), before);
  });

  test('a non-ASCII byte in the AIA URI, with --ocsp-url: the AIA is not needed, exit 0', async () => {
    const cert = await placeBundle(await nonAsciiAiaBundle());
    const result = await cli(['-S', '--retries', '0', '--ocsp-url', pki.responders.delegated.url, '--cert', cert]);
    assert.equal(result.stderr, '');
    assert.equal(result.exitCode, 0);
    assertQuick(result);
    await assertStapled(cert);
  });

  test('a malformed non-critical TLS Feature: Must-Staple unknown, exit 0', async () => {
    const cert = await placeBundle(await malformedTlsFeatureBundle());
    const result = await cli(['-S', '--retries', '0', '--cert', cert]);
    assert.equal(result.stderr, '');
    assert.equal(result.exitCode, 0);
    assertQuick(result);
    await assertStapled(cert);
  });

  test('a certificate whose DER cannot be walked: exit 1, the files in place untouched', async () => {
    const bundle = await berLengthBundle();
    const cert = await placeBundle(bundle);
    const before = await snapshot(path.dirname(cert));
    const result = await cli(['-S', '--retries', '0', '--ocsp-url', pki.responders.delegated.url, '--cert', cert]);
    assert.equal(result.stderr, certError(cert, undecodableMessage(cert, bundle)));
    assert.equal(result.exitCode, 1);
    assertQuick(result);
    assert.deepEqual(await snapshot(path.dirname(cert)), before);
  });

  test('an EE with an empty subject placed after its issuer: exit 2 naming it as such, not a crash', async () => {
    const [leaf, intermediate, key] = await Promise.all(
      [pki.leaves.good.cert, pki.intermediate, pki.keys.intermediate].map((file) => readFile(file, 'utf8')),
    );
    const emptySubject = withEmptySubject(leaf, key);
    const cert = await placeBundle(intermediate + emptySubject);
    const before = await snapshot(path.dirname(cert));
    const result = await cli(['-S', '--retries', '0', '--cert', cert]);
    assert.equal(
      result.stderr,
      certError(
        cert,
        "OCSP server URL not found in the EE certificate (the bundle's certificates are out of order: n. 2 (empty name) looks like the EE certificate and must come first)",
      ),
    );
    assert.equal(result.exitCode, 2);
    assertQuick(result);
    assert.deepEqual(await snapshot(path.dirname(cert)), before);
  });

  test('in a batch, each certificate gets its own exit code, none of them 9', async () => {
    const [nonAscii, tlsFeature, berLength] = await Promise.all([
      nonAsciiAiaBundle(),
      malformedTlsFeatureBundle(),
      berLengthBundle(),
    ]);
    const certs = await Promise.all([
      placeBundle(nonAscii, 'non-ascii-aia.pem'),
      placeBundle(tlsFeature, 'tls-feature.pem'),
      placeBundle(berLength, 'ber-length.pem'),
      placeBundle(await readFile(pki.leaves.good.bundle), 'good.pem'),
    ]);
    const [nonAsciiCert, tlsFeatureCert, berLengthCert, goodCert] = certs as [string, string, string, string];
    const befores = await Promise.all([nonAsciiCert, berLengthCert].map((cert) => snapshot(path.dirname(cert))));
    const result = await cli(['-S', '--retries', '0', '--json', ...certs.flatMap((cert) => ['--cert', cert])]);
    const report = JSON.parse(result.stdout) as { results: { cert: string; exitCode: number; message: string }[] };
    assert.deepEqual(
      report.results.map(({ cert, exitCode, message }) => ({ cert, exitCode, message })),
      [
        { cert: nonAsciiCert, exitCode: 3, message: aiaMessage(eeDer(nonAscii).indexOf(nonAsciiUri()) - 2) },
        { cert: tlsFeatureCert, exitCode: 0, message: 'new response in place' },
        { cert: berLengthCert, exitCode: 1, message: undecodableMessage(berLengthCert, berLength) },
        { cert: goodCert, exitCode: 0, message: 'new response in place' },
      ],
    );
    // Each failure is reported as it happens: with several certificates at once, in no set order.
    assert.deepEqual(
      result.stderr.split(/(?<=\n)/).sort(),
      [
        certError(nonAsciiCert, aiaMessage(eeDer(nonAscii).indexOf(nonAsciiUri()) - 2)),
        certError(berLengthCert, undecodableMessage(berLengthCert, berLength)),
      ].sort(),
    );
    assert.equal(result.exitCode, 3);
    assertQuick(result);
    await Promise.all([tlsFeatureCert, goodCert].map((cert) => assertStapled(cert)));
    assert.deepEqual(
      await Promise.all([nonAsciiCert, berLengthCert].map((cert) => snapshot(path.dirname(cert)))),
      befores,
    );
  });
});

describe('a bundle of BEGIN lines without an END', () => {
  test('4 MB of them, just under the 4 MiB cap on bundles: exit 1 at once with the message the original gives, the files in place untouched', async () => {
    // The lazy regular expression that split bundles took 9 s on 1 MB of these, minutes on 4 MB.
    const cert = await placeBundle('-----BEGIN CERTIFICATE-----\n'.repeat(149_000));
    const before = await snapshot(path.dirname(cert));
    const result = await cli(['-S', '--retries', '0', '--cert', cert]);
    assert.equal(
      result.stderr,
      certError(cert, `can't extract EE certificate from ${cert} (its first certificate is not valid PEM)`),
    );
    assert.equal(result.exitCode, 1);
    assertQuick(result);
    assert.deepEqual(await snapshot(path.dirname(cert)), before);
  });
});
