// --nonce end to end, through every HTTP client: the request carries a nonce,
// the real responder (`openssl ocsp -port`) echoes it, and a response that
// does not carry it back is refused (exit 4) with everything in place left
// as it was. The responder in front of the real one requires a nonce, and
// makes the real one answer for another nonce or for none.
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseOcspResponse } from '../lib/pki/ocsp-response.ts';
import { readRequestNonce } from '../lib/pki/ocsp-request.ts';
import { createTestPki, fetchOcspResponse, type TestPki } from './helpers/pki.ts';
import { runCli, httpClients } from './helpers/cli.ts';
import { certError, snapshot, timed } from './helpers/aftermath.ts';
import { startFakeHaproxy } from './helpers/fake-haproxy.ts';
import { ocspRequestOf, startFakeHttpServer, startNonceResponder, type NonceAnswer } from './helpers/responder.ts';

let pki: TestPki;
let workDir: string;
/** A real response for the `good` leaf, carrying the nonce of a request made before any test. */
let responseForAnotherRequest: Buffer;

before(async () => {
  pki = await createTestPki();
  workDir = await mkdtemp(path.join(tmpdir(), 'hapos-upd-nonce-'));
  responseForAnotherRequest = await fetchOcspResponse(pki, 'good');
});

after(async () => {
  await pki?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

const cli = (args: string[]) => runCli(args, { env: pki.env });

/** The `good` leaf's bundle in a directory of its own; with `inPlace`, also what an earlier run left beside it. */
async function placeCertificate({ inPlace = false } = {}): Promise<string> {
  const cert = path.join(await mkdtemp(path.join(workDir, 'case-')), 'site.pem');
  await copyFile(pki.leaves.good.bundle, cert);
  if (inPlace) {
    await writeFile(`${cert}.ocsp`, responseForAnotherRequest);
    await copyFile(pki.intermediate, `${cert}.issuer`);
  }
  return cert;
}

/** A nonce-requiring responder in front of the delegated one, for one test. */
async function nonceResponder(t: TestContext, answer: NonceAnswer) {
  const responder = await startNonceResponder(pki.responders.delegated.url, answer);
  t.after(() => responder.close());
  return responder;
}

const nonceOf = (response: Buffer) => {
  const decoded = parseOcspResponse(response);
  return decoded.responseStatus === 'successful' ? decoded.nonce : undefined;
};

/** A nonce as the messages print it. */
const hex = (nonce: Buffer | undefined) => nonce?.toString('hex') ?? 'none';

/** openssl's nonce: an OCTET STRING (04 10) of 16 random bytes. */
const OPENSSL_NONCE = /^0410[0-9a-f]{32}$/;

const clients = httpClients;

for (const { client, args: clientArgs } of clients) {
  describe(`--nonce through ${client}`, () => {
    test('the request carries a nonce, the real responder echoes it, and that response is installed', async (t) => {
      const responder = await nonceResponder(t, 'echo');
      const cert = await placeCertificate();
      const result = await cli([...clientArgs, '-S', '--nonce', '--ocsp-url', responder.url, '--cert', cert]);
      assert.equal(result.exitCode, 0, result.stderr);
      assert.equal(result.stderr, '');
      const [sent, ...others] = responder.nonces;
      assert.deepEqual(others, []);
      assert.match(hex(sent), OPENSSL_NONCE);
      assert.deepEqual(nonceOf(await readFile(`${cert}.ocsp`)), sent);

      const debug = await cli([...clientArgs, '-d', '--nonce', '--ocsp-url', responder.url, '--cert', cert]);
      assert.equal(debug.exitCode, 0, debug.stderr);
      const again = responder.nonces[1];
      assert.notDeepEqual(again, sent, 'a new nonce for every request');
      assert.match(debug.stdout, new RegExp(`^OCSP response nonce matches the one sent: ${hex(again)}$`, 'm'));
    });

    test('a responder that requires a nonce refuses the request without --nonce: exit 4', async (t) => {
      const responder = await nonceResponder(t, 'echo');
      const cert = await placeCertificate();
      const result = await cli([...clientArgs, '-S', '--ocsp-url', responder.url, '--cert', cert]);
      assert.equal(result.exitCode, 4);
      assert.equal(result.stderr, certError(cert, "OCSP responder answered 'unauthorized' instead of a response"));
      assert.deepEqual(responder.nonces, [undefined]);
    });

    const refusals: [NonceAnswer, string, (sent: Buffer) => string][] = [
      [
        'another-nonce',
        'a real response made for another nonce',
        (sent) => {
          const other = Buffer.from(sent);
          other[other.length - 1]! ^= 0xff;
          return `OCSP response carries nonce ${hex(other)} where the request sent ${hex(sent)} (--nonce): a cached or replayed response`;
        },
      ],
      [
        'no-nonce',
        'a real response without a nonce',
        () =>
          'OCSP response carries no nonce, though the request sent one (--nonce): the responder, or a cache before it, ignores nonces',
      ],
    ];
    for (const [answer, what, messageFor] of refusals) {
      test(`${what}: exit 4 at once, with or without --noverify; nothing written, HAProxy untouched`, async (t) => {
        const responder = await nonceResponder(t, answer);
        const haproxy = await startFakeHaproxy(() => ({ kind: 'close' }));
        t.after(() => haproxy.close());
        const cert = await placeCertificate({ inPlace: true });
        const before = await snapshot(path.dirname(cert));
        for (const verifyArgs of [[], ['--noverify']]) {
          const args = [...clientArgs, ...verifyArgs, '--nonce', '--socket', haproxy.socketPath];
          const result = await timed(cli([...args, '--ocsp-url', responder.url, '--cert', cert]));
          const sent = responder.nonces.at(-1);
          assert.ok(sent, 'the request carried a nonce');
          assert.equal(result.stderr, certError(cert, messageFor(sent)));
          assert.equal(result.exitCode, 4);
          assert.ok(result.elapsedMs < 5000, `took ${result.elapsedMs} ms`);
        }
        assert.equal(responder.nonces.length, 2, 'one request a run: a wrong nonce is not retried');
        assert.deepEqual(await snapshot(path.dirname(cert)), before, '.ocsp and .issuer byte for byte as they were');
        assert.deepEqual(haproxy.commands, []);
      });
    }

    test('without --nonce, no nonce is sent, and one in the response is ignored', async (t) => {
      const server = await startFakeHttpServer(() => ({ body: responseForAnotherRequest }));
      t.after(() => server.close());
      const cert = await placeCertificate();
      const result = await cli([...clientArgs, '-S', '--ocsp-url', server.url, '--cert', cert]);
      assert.equal(result.exitCode, 0, result.stderr);
      assert.equal(readRequestNonce(ocspRequestOf(server.requests[0]!)), undefined);
      assert.match(hex(nonceOf(responseForAnotherRequest)), OPENSSL_NONCE);
      assert.deepEqual(await readFile(`${cert}.ocsp`), responseForAnotherRequest);
    });

    test('in a batch, each certificate sends a nonce of its own and gets it back', async (t) => {
      const responder = await nonceResponder(t, 'echo');
      const certs = await Promise.all([1, 2, 3].map(() => placeCertificate()));
      const certArgs = certs.flatMap((cert) => ['--cert', cert]);
      const result = await cli([...clientArgs, '-S', '-q', '--nonce', '--ocsp-url', responder.url, ...certArgs]);
      assert.equal(result.exitCode, 0, result.stderr);
      const sent = responder.nonces.map(hex);
      assert.equal(new Set(sent).size, 3, `three different nonces: ${sent.join(', ')}`);
      const installed = await Promise.all(certs.map(async (cert) => hex(nonceOf(await readFile(`${cert}.ocsp`)))));
      assert.deepEqual([...installed].sort(), [...sent].sort());
    });
  });
}
