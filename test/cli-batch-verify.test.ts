// A batch checks the responses its built-in client fetched in-process
// (signature, signer, issuer) and has openssl verify each responder's chain
// once; whatever it is not sure of goes to `openssl ocsp`, as a single run's
// check does. These runs hold the two side by side on real responders: the
// same verdict, exit code and message for every kind of signer, and openssl
// started for exactly the responses the in-process check did not take.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createTestPki, fetchOcspResponse, type LeafName, type TestPki } from './helpers/pki.ts';
import { recordingWrapper, runCli } from './helpers/cli.ts';
import { certError, snapshot } from './helpers/aftermath.ts';
import { startFakeHttpServer } from './helpers/responder.ts';
import { parseOcspResponse } from '../lib/pki/ocsp-response.ts';
import { encodeTree, nodesOf, parseTree, replaceNode, type DerNode } from './helpers/der-tree.ts';

let pki: TestPki;
let workDir: string;

before(async () => {
  pki = await createTestPki();
  workDir = await mkdtemp(path.join(tmpdir(), 'hapos-upd-batch-verify-'));
});

after(async () => {
  await pki?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

/** A stand-in for the openssl the tests run (OPENSSL_BIN, as the version matrix sets it), recording its subcommands. */
const opensslRecorder = async () =>
  recordingWrapper(await mkdtemp(path.join(workDir, 'bin-')), 'openssl', process.env.OPENSSL_BIN || 'openssl');

/** A copy of LEAF's bundle in a directory of its own. */
async function placed(leaf: LeafName): Promise<string> {
  const cert = path.join(await mkdtemp(path.join(workDir, `${leaf}-`)), 'site.pem');
  await copyFile(pki.leaves[leaf].bundle, cert);
  return cert;
}

interface JsonResult {
  readonly cert: string;
  readonly action: string;
  readonly exitCode: number;
  readonly message?: string;
}

/** Each kind of signer the test responders use, and what the check says of its response. */
const signers: readonly { readonly leaf: LeafName; readonly inProcess: boolean }[] = [
  { leaf: 'good', inProcess: true }, // a delegated responder, carried in the response
  { leaf: 'goodEc', inProcess: true },
  { leaf: 'revoked', inProcess: true },
  { leaf: 'issuerSigned', inProcess: true }, // the issuer itself
  { leaf: 'noCerts', inProcess: false }, // the signer is not in the response: openssl says so
  { leaf: 'noEku', inProcess: false }, // delegated without id-kp-OCSPSigning
  { leaf: 'rogue', inProcess: false }, // a self-signed stranger
];

test('a batch and single runs agree on every kind of signer; openssl checks only what the batch was not sure of', async () => {
  const openssl = await opensslRecorder();
  const certs = await Promise.all(signers.map(({ leaf }) => placed(leaf)));
  const batch = await runCli(['-S', '--json', ...certs.flatMap((cert) => ['--cert', cert])], {
    env: { ...pki.env, OPENSSL_BIN: openssl.path },
  });
  const results = (JSON.parse(batch.stdout) as { results: JsonResult[] }).results;
  const ocspRuns = (await openssl.firstArguments()).filter((command) => command === 'ocsp').length;
  assert.equal(
    ocspRuns,
    signers.filter(({ inProcess }) => !inProcess).length,
    'one openssl ocsp per response left to it',
  );

  for (const [index, { leaf }] of signers.entries()) {
    const cert = certs[index]!;
    const single = await runCli(['-S', '--http-client', 'builtin', '--cert', await placed(leaf)], { env: pki.env });
    const inBatch = results.find((result) => result.cert === cert)!;
    assert.equal(inBatch.exitCode, single.exitCode, `${leaf}: ${single.stderr}`);
    if (single.exitCode === 0) {
      assert.equal(inBatch.action, leaf === 'revoked' ? 'revoked' : 'updated', leaf);
      assert.ok(existsSync(`${cert}.ocsp`), leaf);
    } else {
      const message = /^Error processing '[^']*': (.*)\n$/.exec(single.stderr)?.[1];
      assert.equal(inBatch.message, message, leaf);
      assert.ok(!existsSync(`${cert}.ocsp`), leaf);
    }
  }
  const failed = results.filter((result) => result.exitCode !== 0).map((result) => result.exitCode);
  assert.deepEqual(failed, [4, 4, 4], 'noCerts, noEku and rogue: OCSP errors');
});

test('a response whose signature was changed by one bit is refused by openssl, in the batch as alone: exit 4, nothing written', async (t) => {
  const response = Buffer.from(await fetchOcspResponse(pki, 'good'));
  const parsed = parseOcspResponse(response);
  assert.ok(parsed.responseStatus === 'successful');
  // A view into RESPONSE: the change lands in the bytes served.
  parsed.signed.signature.bytes[10]! ^= 0x01;
  const server = await startFakeHttpServer(() => ({ body: response }));
  t.after(() => server.close());
  const certs = [await placed('good'), await placed('good')];
  const before = await Promise.all(certs.map((cert) => snapshot(path.dirname(cert))));
  const started = performance.now();
  const result = await runCli(
    ['-S', '--retries', '0', '--ocsp-url', server.url, ...certs.flatMap((cert) => ['--cert', cert])],
    { env: pki.env },
  );
  assert.equal(result.exitCode, 4);
  assert.deepEqual(
    result.stderr.split(/(?<=\n)/).sort(),
    certs.map((cert) => certError(cert, 'OCSP response verification failure.')).sort(),
  );
  assert.ok(performance.now() - started < 10_000);
  assert.deepEqual(await Promise.all(certs.map((cert) => snapshot(path.dirname(cert)))), before);
  assert.deepEqual(await readFile(certs[0]!), await readFile(pki.leaves.good.bundle));
});

/**
 * RESPONSE with one more certificate that no parser takes (`30 00`, an empty
 * SEQUENCE) at the end of the certificates it carries: anyone on the path can
 * add one, as the signature does not cover them.
 */
function withUnreadableCertificate(response: Buffer): Buffer {
  const parsed = parseOcspResponse(response);
  assert.ok(parsed.responseStatus === 'successful' && parsed.certificates.length > 0);
  const tree = parseTree(response)!;
  const isCertificates = (node: DerNode) =>
    node.kind === 'constructed' && node.children.some((child) => encodeTree(child).equals(parsed.certificates[0]!));
  const index = nodesOf(tree).findIndex(isCertificates);
  assert.ok(index > 0, 'the certs SEQUENCE');
  const empty: DerNode = { kind: 'constructed', identifier: Buffer.from([0x30]), children: [] };
  return encodeTree(
    replaceNode(tree, index, (node) =>
      node.kind === 'constructed' ? { ...node, children: [...node.children, empty] } : node,
    ),
  );
}

test('a genuine response signed by the issuer, with an unreadable certificate added, goes to openssl, which cannot read it: exit 1, nothing written', async (t) => {
  const tampered = withUnreadableCertificate(await fetchOcspResponse(pki, 'issuerSigned'));
  const server = await startFakeHttpServer(() => ({ body: tampered }));
  t.after(() => server.close());
  const certs = [await placed('issuerSigned'), await placed('issuerSigned')];
  const before = await Promise.all(certs.map((cert) => snapshot(path.dirname(cert))));
  const single = await runCli(
    [
      '-S',
      '--http-client',
      'builtin',
      '--retries',
      '0',
      '--ocsp-url',
      server.url,
      '--cert',
      await placed('issuerSigned'),
    ],
    { env: pki.env },
  );
  const batch = await runCli(
    ['-S', '--retries', '0', '--ocsp-url', server.url, ...certs.flatMap((cert) => ['--cert', cert])],
    { env: pki.env },
  );
  assert.equal(single.exitCode, 1, single.stderr);
  const message = /^Error processing '[^']*': (.*)\n$/.exec(single.stderr)?.[1];
  assert.ok(message !== undefined, single.stderr);
  assert.equal(batch.exitCode, 1);
  assert.deepEqual(batch.stderr.split(/(?<=\n)/).sort(), certs.map((cert) => certError(cert, message)).sort());
  assert.deepEqual(await Promise.all(certs.map((cert) => snapshot(path.dirname(cert)))), before);
});

test("a chain file that does not start with the EE's issuer leaves every response to openssl, which then finds no status: exit 1 as alone", async () => {
  const openssl = await opensslRecorder();
  const certs = [await placed('good'), await placed('issuerSigned')];
  // The root first: openssl ocsp -issuer makes its CertID from the file's first certificate.
  const misordered = (await readFile(pki.root, 'utf8')) + (await readFile(pki.intermediate, 'utf8'));
  for (const cert of certs) await writeFile(`${cert}.issuer`, misordered);
  const single = await runCli(['-S', '--http-client', 'builtin', '--cert', certs[0]!], { env: pki.env });
  const batch = await runCli(['-S', '--json', ...certs.flatMap((cert) => ['--cert', cert])], {
    env: { ...pki.env, OPENSSL_BIN: openssl.path },
  });
  const results = (JSON.parse(batch.stdout) as { results: JsonResult[] }).results;
  assert.deepEqual(
    results.map((result) => result.exitCode),
    [single.exitCode, single.exitCode],
    single.stderr,
  );
  assert.equal((await openssl.firstArguments()).filter((command) => command === 'ocsp').length, 2);
});
