/**
 * The update of one certificate (lib/update/pipeline.ts), run in this
 * process: real certificates and real OCSP responses, fakes only for the
 * openssl process, the clock, the retry delay, the throttle, the HAProxy
 * notifier and the log. The end-to-end tests (cli-*.test.ts) run the same
 * flow with real openssl, responders and HAProxy.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { updateCertificate } from '../lib/update/pipeline.ts';
import { sharedTempFilesIn, type UpdateContext, type UpdateOptions, type UpdateResult } from '../lib/update/context.ts';
import { NoOcspUrlError, UpdateFailure, type FailureKind } from '../lib/update/failure.ts';
import { certIdHex } from '../lib/pki/cert-id.ts';
import { parseOcspResponse, type SingleResponse } from '../lib/pki/ocsp-response.ts';
import { formatOpensslDate } from '../lib/openssl/output.ts';
import { HaproxyUpdateError, SocatMissingError } from '../lib/haproxy/errors.ts';
import { acquireLock } from '../lib/fs/lock.ts';
import { encodeTree, nodesOf, parseTree, replaceNode } from './helpers/der-tree.ts';
import {
  answers,
  answersTryLater,
  captured,
  createFixtures,
  failsWith,
  FakeClock,
  FakeDelays,
  FakeOpenssl,
  OCSP_HOST,
  OCSP_URL,
  RecordingLog,
  RecordingNotifier,
  RecordingThrottle,
  sends,
  snapshotOf,
  statusOutput,
  type FetchReply,
  type Fixtures,
  type LeafName,
  type OpensslScript,
  type ResponseName,
  defaultUpdateOptions,
  recordedPush,
} from './helpers/in-process.ts';

let fx: Fixtures;

before(async () => {
  fx = await createFixtures();
});

after(async () => {
  await fx?.remove();
});

const der = (name: ResponseName): Buffer => fx.responses[name];

function singleOf(response: Buffer): SingleResponse {
  const decoded = parseOcspResponse(response);
  assert.ok(decoded.responseStatus === 'successful' && decoded.responses[0] !== undefined);
  return decoded.responses[0];
}

/** The clock of most tests: a minute after the fresh responses were signed. */
const justAfterSigning = (): Date => new Date(singleOf(der('good')).thisUpdate.getTime() + 60_000);

/** What the update returns for a response it accepted. */
/** The result of an update ending in ACTION with RESPONSE; one that installed it told HAProxy (RecordingNotifier) unless `haproxy` is empty. */
function resultFor(
  action: UpdateResult['action'],
  response: Buffer,
  haproxy = action === 'updated' || action === 'revoked' ? recordedPush : [],
): UpdateResult {
  const { certStatus, thisUpdate, nextUpdate } = singleOf(response);
  const decoded = parseOcspResponse(response);
  assert.ok(decoded.responseStatus === 'successful');
  const { producedAt } = decoded;
  return { action, certStatus, thisUpdate, nextUpdate, producedAt, ...(haproxy.length > 0 && { haproxy }) };
}

interface SceneSpec {
  readonly leaf?: LeafName;
  /** The bundle's text; by default the leaf, then the CA. */
  readonly bundle?: string;
  /** `CERT.issuer`, when there is one. */
  readonly issuerFile?: string;
  /** `CERT.ocsp`, when there is one. */
  readonly inPlace?: ResponseName;
  readonly openssl?: OpensslScript;
  readonly notifyFailure?: Error;
  readonly now?: Date;
  readonly delayMs?: (attempt: number) => number;
}

/** One certificate in a directory of its own, and the fakes its update runs with. */
interface Scene {
  readonly dir: string;
  readonly cert: string;
  readonly tempDir: string;
  /** The files openssl gets: the EE and the chain, in the temporary directory. */
  readonly eeFile: string;
  readonly chainFile: string;
  readonly openssl: FakeOpenssl;
  readonly log: RecordingLog;
  readonly haproxy: RecordingNotifier;
  readonly throttle: RecordingThrottle;
  readonly delays: FakeDelays;
  /** The directory's files before the update. */
  readonly before: Record<string, Buffer>;
  update(options?: Partial<UpdateOptions>): Promise<UpdateResult>;
}

async function sceneOf(spec: SceneSpec = {}): Promise<Scene> {
  const dir = await fx.tempDir('cert-');
  const tempDir = await fx.tempDir('run-');
  const cert = path.join(dir, 'site.pem');
  await writeFile(cert, spec.bundle ?? fx.leaves[spec.leaf ?? 'good'].pem + fx.caPem);
  if (spec.issuerFile !== undefined) await writeFile(`${cert}.issuer`, spec.issuerFile);
  if (spec.inPlace !== undefined) await writeFile(`${cert}.ocsp`, der(spec.inPlace));
  const openssl = new FakeOpenssl(spec.openssl);
  const log = new RecordingLog();
  const haproxy = new RecordingNotifier(spec.notifyFailure);
  const throttle = new RecordingThrottle();
  const delays = new FakeDelays(spec.delayMs);
  const context: UpdateContext = {
    openssl,
    log,
    tempDir,
    sharedFiles: sharedTempFilesIn(tempDir),
    haproxy,
    now: new FakeClock(spec.now ?? justAfterSigning()).now,
    retryDelayMs: delays.delayMs,
    throttleResponder: throttle.run,
    httpClient: { kind: 'openssl' },
  };
  return {
    dir,
    cert,
    tempDir,
    eeFile: path.join(tempDir, 'ee.pem'),
    chainFile: path.join(tempDir, 'chain.pem'),
    openssl,
    log,
    haproxy,
    throttle,
    delays,
    before: snapshotOf(dir),
    update: (options = {}) => updateCertificate({ cert, ...defaultUpdateOptions, ...options }, context),
  };
}

const fingerprintLine = (pem: string) => {
  const x509 = pem === fx.caPem ? fx.caX509 : Object.values(fx.leaves).find((leaf) => leaf.pem === pem)?.x509;
  assert.ok(x509, 'a certificate of the fixtures');
  return `SHA1 Fingerprint=${x509.fingerprint}`;
};

/** chooseResponder's lines for the URL in the certificate. */
const responderLines = [`debug: OCSP server URL found: ${OCSP_URL}`, `debug: OCSP server hostname: ${OCSP_HOST}`];

/** chooseChain's lines for a bundle of the leaf and the CA, without `.issuer`. */
const extractedChainLines = (leaf: LeafName) => [
  'debug: Extracting chain from certificates bundle',
  `debug: EE certificate's fingerprint: ${fingerprintLine(fx.leaves[leaf].pem)}`,
  'debug: 2 certificates found in the bundle',
  `debug: Bundle certificate n. 1 fingerprint: ${fingerprintLine(fx.leaves[leaf].pem)} - EE certificate`,
  `debug: Bundle certificate n. 2 fingerprint: ${fingerprintLine(fx.caPem)} - it's part of the chain`,
];

/** checkReceived's lines for a response openssl verified. */
const checkedLines = (scene: Scene, response: Buffer) => [
  'debug: OCSP response verification results: Response verify OK',
  `debug: OCSP response: ${statusOutput(scene.eeFile, response).trimEnd()}`,
];

/** The update failed with exactly this kind and message, wrote nothing and left HAProxy alone. */
async function assertFails(
  scene: Scene,
  options: Partial<UpdateOptions>,
  expected: { kind: FailureKind; message: string },
): Promise<UpdateFailure> {
  const error = await scene.update(options).then(
    (result) => assert.fail(`the update succeeded: ${JSON.stringify(result)}`),
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof UpdateFailure, `an UpdateFailure, not ${String(error)}`);
  assert.deepEqual({ kind: error.kind, message: error.message }, expected);
  assertUntouched(scene);
  assert.deepEqual(scene.haproxy.updates, [], 'HAProxy is not notified');
  return error;
}

/** `.ocsp`, `.issuer` and the bundle are byte for byte as they were, and nothing was added beside them. */
function assertUntouched(scene: Scene): void {
  assert.deepEqual(snapshotOf(scene.dir), scene.before);
}

const readBytes = (file: string) => readFileSync(file);

/** `openssl verify` refusing the EE, as OpenSSL 3.0 prints it. */
const verifyRefuses = (args: { cert: string }) => ({
  exitCode: 2,
  stdout: '',
  stderr: `CN = leaf.test\nerror 20 at 0 depth lookup: unable to get local issuer certificate\nerror ${args.cert}: verification failed\n`,
});

describe('the update of one certificate, in process', () => {
  test('updated: response and chain installed byte for byte, HAProxy told once with the CertID, issuer and fingerprint', async () => {
    const scene = await sceneOf({ openssl: { fetch: [answers(der('good'))] } });

    assert.deepEqual(await scene.update(), resultFor('updated', der('good')));

    assert.deepEqual(Object.keys(snapshotOf(scene.dir)), ['site.pem', 'site.pem.issuer', 'site.pem.ocsp']);
    assert.deepEqual(readBytes(`${scene.cert}.ocsp`), der('good'));
    assert.deepEqual(readBytes(`${scene.cert}.issuer`), Buffer.from(fx.caPem, 'latin1'));

    assert.equal(scene.haproxy.updates.length, 1);
    const [{ signal, isOlderThan, ...update }] = scene.haproxy.updates as [(typeof scene.haproxy.updates)[0]];
    assert.deepEqual(update, {
      cert: scene.cert,
      responseDer: der('good'),
      // The CertID as the responder (openssl) wrote it, which HAProxy lists.
      certIdHex: certIdHex(singleOf(der('good')).certId),
      issuerPem: fx.caPem,
      sha1Fingerprint: createHash('sha1').update(fx.leaves.good.x509.raw).digest('hex').toUpperCase(),
    });
    assert.ok(signal instanceof AbortSignal && !signal.aborted, "the certificate's deadline goes along");
    // Only a newer response about this very certificate keeps HAProxy from getting the one received.
    assert.deepEqual([der('good'), der('goodDayOld'), der('other'), Buffer.from('not DER')].map(isOlderThan), [
      false,
      false,
      false,
      false,
    ]);

    assert.deepEqual(scene.openssl.methods, ['verify', 'fetchResponse']);
    const [verify] = scene.openssl.callsOf('verify');
    assert.deepEqual(verify?.args, {
      caFile: scene.chainFile,
      cert: scene.eeFile,
      partialChain: false,
      signal: verify?.args.signal,
    });
    assert.deepEqual(verify?.files, { caFile: fx.caPem, cert: fx.leaves.good.pem });
    const [fetch] = scene.openssl.callsOf('fetchResponse');
    assert.deepEqual(fetch?.args, {
      issuer: scene.chainFile,
      cert: scene.eeFile,
      partialChain: false,
      nonce: false,
      requestOut: undefined,
      url: OCSP_URL,
      hostHeader: undefined,
      proxy: undefined,
      responseOut: path.join(scene.tempDir, 'ocsp.der'),
      timeoutSeconds: 15,
      verification: { caFile: scene.chainFile, vaFile: undefined, verify: true },
      signal: fetch?.args.signal,
    });
    assert.deepEqual(fetch?.files, { issuer: fx.caPem, cert: fx.leaves.good.pem });
    assert.deepEqual(scene.throttle.hosts, [OCSP_HOST]);
    assert.deepEqual(scene.delays.attempts, []);

    assert.deepEqual(scene.log.lines, [
      ...responderLines,
      ...extractedChainLines('good'),
      ...checkedLines(scene, der('good')),
    ]);
  });

  test('an existing .issuer is the chain openssl gets, and stays as it is', async () => {
    const scene = await sceneOf({
      inPlace: 'goodHalfSpent',
      issuerFile: fx.caPem,
      openssl: { fetch: [answers(der('good'))] },
    });

    assert.deepEqual(await scene.update(), resultFor('updated', der('good')));

    assert.deepEqual(readBytes(`${scene.cert}.ocsp`), der('good'));
    assert.deepEqual(readBytes(`${scene.cert}.issuer`), scene.before['site.pem.issuer']);
    assert.deepEqual(scene.openssl.callsOf('fetchResponse')[0]?.files, {
      issuer: fx.caPem,
      cert: fx.leaves.good.pem,
    });
    assert.deepEqual(scene.log.lines, [
      'debug: An OCSP response already exists: checking its expiration.',
      `debug: Current OCSP response expiration: ${formatOpensslDate(singleOf(der('goodHalfSpent')).nextUpdate!)} - NOT expired`,
      ...responderLines,
      `debug: Using existing chain (${scene.cert}.issuer)`,
      ...checkedLines(scene, der('good')),
    ]);
  });

  test('dry run (-d): checked, nothing written, HAProxy left alone', async () => {
    const scene = await sceneOf({ inPlace: 'goodDayOld', openssl: { fetch: [answers(der('good'))] } });

    assert.deepEqual(await scene.update({ dryRun: true }), resultFor('checked', der('good')));

    assertUntouched(scene);
    assert.deepEqual(scene.haproxy.updates, []);
    assert.deepEqual(scene.openssl.methods, ['verify', 'fetchResponse']);
    assert.equal(scene.log.lines.at(-1), 'debug: Debug mode: haproxy update skipped.');
  });

  test("the lock: -d takes none; an update gives up on another run's lock past --lock-timeout (run)", async () => {
    const scene = await sceneOf({ inPlace: 'goodDayOld', openssl: { fetch: [answers(der('good'))] } });
    const lockPath = path.join(scene.dir, '.site.pem.ocsp.lock');
    const otherRun = await acquireLock(lockPath, { timeoutMs: 0 });
    try {
      assert.deepEqual(await scene.update({ dryRun: true }), resultFor('checked', der('good')));
      const error = await scene.update({ lockTimeoutSeconds: 0 }).catch((caught: unknown) => caught);
      assert.ok(error instanceof UpdateFailure);
      assert.deepEqual(
        { kind: error.kind, message: error.message },
        {
          kind: 'run',
          message: `another run (PID ${process.pid}) holds ${lockPath}; gave up after 0 s (--lock-timeout)`,
        },
      );
    } finally {
      otherRun.releaseSync();
    }
    assert.equal(scene.openssl.callsOf('fetchResponse').length, 1, 'only the dry run fetched');
    assertUntouched(scene);
    assert.deepEqual(scene.haproxy.updates, []);
  });

  test('--skip-fresh: a fresh good response in place ends the run before any openssl process', async () => {
    const scene = await sceneOf({ inPlace: 'goodDayOld' });

    assert.deepEqual(await scene.update({ skipFresh: true }), resultFor('skipped-fresh', der('goodDayOld')));

    assert.deepEqual(scene.openssl.calls, []);
    assert.deepEqual(scene.throttle.hosts, []);
    assert.deepEqual(scene.haproxy.updates, []);
    assertUntouched(scene);
    assert.equal(
      scene.log.lines.at(-1),
      `debug: Current OCSP response is fresh (Next Update ${formatOpensslDate(singleOf(der('goodDayOld')).nextUpdate!)}): skipped, as --skip-fresh asks.`,
    );
  });

  test('--skip-fresh: a response past half its validity is asked again and replaced', async () => {
    const scene = await sceneOf({ inPlace: 'goodHalfSpent', openssl: { fetch: [answers(der('good'))] } });

    assert.deepEqual(await scene.update({ skipFresh: true }), resultFor('updated', der('good')));

    assert.deepEqual(readBytes(`${scene.cert}.ocsp`), der('good'));
    assert.equal(scene.haproxy.updates.length, 1);
  });

  test('--skip-fresh: the clock decides; the same response, 2.6 days on, is past half its validity', async () => {
    const later = new Date(singleOf(der('good')).thisUpdate.getTime() + 2.6 * 24 * 3600 * 1000);
    const scene = await sceneOf({ inPlace: 'goodDayOld', now: later, openssl: { fetch: [answers(der('good'))] } });

    assert.deepEqual(await scene.update({ skipFresh: true }), resultFor('updated', der('good')));

    assert.deepEqual(scene.openssl.methods, ['verify', 'fetchResponse']);
    // The leaves are certified for two days: by then the EE has expired, which is said too.
    assert.deepEqual(scene.log.errors, [`warning: the EE certificate expired on ${fx.leaves.good.x509.validTo}`]);
  });

  test('--skip-fresh: an expired response in place is reported and replaced', async () => {
    const scene = await sceneOf({ inPlace: 'goodExpired', openssl: { fetch: [answers(der('good'))] } });

    assert.deepEqual(await scene.update({ skipFresh: true }), resultFor('updated', der('good')));

    assert.deepEqual(scene.log.lines.slice(0, 3), [
      'debug: An OCSP response already exists: checking its expiration.',
      `debug: Current OCSP response expiration: ${formatOpensslDate(singleOf(der('goodExpired')).nextUpdate!)} - expired`,
      'error: current OCSP response is expired: please consider running this script more frequently',
    ]);
    assert.deepEqual(readBytes(`${scene.cert}.ocsp`), der('good'));
  });

  test('--skip-fresh never skips a revoked response in place: it is asked again', async () => {
    const scene = await sceneOf({ leaf: 'revoked', inPlace: 'revoked', openssl: { fetch: [answers(der('revoked'))] } });

    assert.deepEqual(await scene.update({ skipFresh: true }), resultFor('revoked', der('revoked')));

    assert.deepEqual(scene.openssl.methods, ['verify', 'fetchResponse']);
  });

  test('kept-current: a newer response in place is kept, and said so', async () => {
    const scene = await sceneOf({ inPlace: 'good', openssl: { fetch: [answers(der('goodDayOld'))] } });

    assert.deepEqual(await scene.update(), resultFor('kept-current', der('goodDayOld')));

    assertUntouched(scene);
    assert.deepEqual(scene.haproxy.updates, []);
    assert.deepEqual(scene.log.errors, [
      `${scene.cert}.ocsp in place is newer (This Update ${formatOpensslDate(singleOf(der('good')).thisUpdate)}) than the response received (This Update ${formatOpensslDate(singleOf(der('goodDayOld')).thisUpdate)}): keeping it`,
    ]);
  });

  test('--skip-update: installed, HAProxy not notified', async () => {
    const scene = await sceneOf({ openssl: { fetch: [answers(der('good'))] } });

    assert.deepEqual(await scene.update({ skipUpdate: true }), resultFor('updated', der('good'), []));

    assert.deepEqual(readBytes(`${scene.cert}.ocsp`), der('good'));
    assert.deepEqual(readBytes(`${scene.cert}.issuer`), Buffer.from(fx.caPem, 'latin1'));
    assert.deepEqual(scene.haproxy.updates, []);
    assert.equal(scene.log.lines.at(-1), 'debug: Not notifying haproxy because skip-update is set.');
  });

  test('a revoked certificate without -g: installed, and the revocation reported', async () => {
    const scene = await sceneOf({ leaf: 'revoked', openssl: { fetch: [answers(der('revoked'))] } });

    assert.deepEqual(await scene.update(), resultFor('revoked', der('revoked')));

    assert.deepEqual(scene.log.errors, [
      `${scene.cert}: certificate revoked at 2026-01-01T00:00:00.000Z (reason: keyCompromise)`,
    ]);
    assert.deepEqual(readBytes(`${scene.cert}.ocsp`), der('revoked'));
    assert.equal(scene.haproxy.updates.length, 1);
  });
});

describe('each failure of the update, in its own words; nothing written', () => {
  test('no OCSP URL in the EE: NoOcspUrlError, no openssl process', async () => {
    const scene = await sceneOf({ leaf: 'noUrl', inPlace: 'goodDayOld' });

    const error = await assertFails(
      scene,
      {},
      {
        kind: 'no-ocsp-url',
        message: 'OCSP server URL not found in the EE certificate',
      },
    );

    assert.ok(error instanceof NoOcspUrlError);
    assert.deepEqual(scene.openssl.calls, []);
  });

  test('a URL or proxy that is not http[s]://: parsing', async () => {
    const url = await sceneOf({ inPlace: 'goodDayOld', issuerFile: fx.caPem });
    await assertFails(
      url,
      { ocspUrl: 'ldap://ocsp.hapos-upd.test/' },
      {
        kind: 'parsing',
        message: 'OCSP server URL not in http[s]:// format',
      },
    );
    assert.deepEqual(
      url.log.lines.at(-1),
      'debug: Using OCSP server URL from command line: ldap://ocsp.hapos-upd.test/',
    );

    const proxy = await sceneOf({ inPlace: 'goodDayOld' });
    await assertFails(
      proxy,
      { ocspProxy: 'socks5://127.0.0.1:1080' },
      {
        kind: 'parsing',
        message: 'OCSP server PROXY not in http[s]:// format',
      },
    );
    assert.deepEqual([...url.openssl.calls, ...proxy.openssl.calls], []);
  });

  test('a bundle of the EE alone, without .issuer: parsing', async () => {
    const scene = await sceneOf({ bundle: fx.leaves.good.pem, inPlace: 'goodDayOld' });

    await assertFails(
      scene,
      {},
      {
        kind: 'parsing',
        message: `can't obtain the number of certificates in the chain (the bundle holds only the EE certificate and there is no ${path.join(scene.dir, 'site.pem')}.issuer)`,
      },
    );
    assert.deepEqual(scene.openssl.calls, []);
  });

  test('a misordered bundle: the failure names the certificate that belongs first', async () => {
    const scene = await sceneOf({ bundle: fx.caPem + fx.leaves.good.pem });

    await assertFails(
      scene,
      {},
      {
        kind: 'no-ocsp-url',
        message:
          "OCSP server URL not found in the EE certificate (the bundle's certificates are out of order: n. 2 (CN=leaf.test) looks like the EE certificate and must come first)",
      },
    );
  });

  test('a bundle of CA certificates only, root first, has no EE to misplace: the plain NoOcspUrlError a batch skips', async () => {
    const pkiFile = (name: string) => readFileSync(new URL(`../fixtures/pki/${name}`, import.meta.url), 'latin1');
    const scene = await sceneOf({ bundle: pkiFile('root.pem') + pkiFile('int.pem') });

    const error = await scene.update().catch((caught: unknown) => caught);

    assert.ok(error instanceof NoOcspUrlError);
    assert.equal(error.message, 'OCSP server URL not found in the EE certificate');
  });

  test('the EE does not verify against the extracted chain: certificate, with openssl’s reason', async () => {
    const scene = await sceneOf({ inPlace: 'goodDayOld', openssl: { verify: verifyRefuses } });

    await assertFails(
      scene,
      {},
      {
        kind: 'certificate',
        message:
          "can't validate the EE certificate against the extracted chain (unable to get local issuer certificate)",
      },
    );
    assert.deepEqual(scene.openssl.methods, ['verify']);
  });

  test('the EE does not verify against the existing chain: certificate, pointing at .issuer', async () => {
    const scene = await sceneOf({ inPlace: 'goodDayOld', issuerFile: fx.caPem, openssl: { verify: verifyRefuses } });

    await assertFails(
      scene,
      {},
      {
        kind: 'certificate',
        message: `can't validate the EE certificate against the existing chain; if it has been changed recently consider removing the current ${scene.cert}.issuer file and let this script to figure out a new one`,
      },
    );
    assert.deepEqual(scene.openssl.methods, ['verify']);
  });

  test('a transient fetch failure is retried --retries times with the delays asked for, then fails', async () => {
    const refused = failsWith(captured('fetch-refused-3.0.txt'));
    const scene = await sceneOf({
      inPlace: 'goodDayOld',
      issuerFile: fx.caPem,
      openssl: { fetch: [refused, refused, refused] },
      delayMs: (attempt) => [40, 160][attempt]!,
    });

    await assertFails(
      scene,
      { retries: 2 },
      {
        kind: 'certificate',
        message: "can't receive the OCSP server response: connection refused",
      },
    );
    assert.deepEqual(scene.openssl.methods, ['verify', 'fetchResponse', 'fetchResponse', 'fetchResponse']);
    assert.deepEqual(scene.delays.attempts, [0, 1]);
    assert.deepEqual(scene.throttle.hosts, [OCSP_HOST, OCSP_HOST, OCSP_HOST], 'each attempt goes through the throttle');
    assert.deepEqual(
      scene.log.lines.filter((line) => line.includes('retrying')),
      [
        'debug: OCSP request failed (connection refused); retrying in 0.0 s',
        'debug: OCSP request failed (connection refused); retrying in 0.2 s',
      ],
    );
  });

  test('a failure that is not transient is not retried', async () => {
    const scene = await sceneOf({
      inPlace: 'goodDayOld',
      openssl: { fetch: [failsWith(captured('fetch-http-404-3.0.txt'))] },
    });

    await assertFails(
      scene,
      { retries: 2 },
      {
        kind: 'certificate',
        message: "can't receive the OCSP server response: HTTP 404 Not Found",
      },
    );
    assert.equal(scene.openssl.callsOf('fetchResponse').length, 1);
    assert.deepEqual(scene.delays.attempts, []);
  });

  test('a retry that would outlast the deadline is not waited for', async () => {
    const scene = await sceneOf({
      inPlace: 'goodDayOld',
      openssl: { fetch: [failsWith(captured('fetch-refused-3.0.txt'))] },
      delayMs: () => 10 * 60 * 1000,
    });

    await assertFails(
      scene,
      { retries: 2, deadlineSeconds: 60 },
      {
        kind: 'certificate',
        message:
          "can't receive the OCSP server response: connection refused; no time left for another attempt before the 60 s deadline (--deadline)",
      },
    );
    assert.equal(scene.openssl.callsOf('fetchResponse').length, 1);
    assert.deepEqual(scene.delays.attempts, [0]);
  });

  test('the deadline stops a fetch that hangs', async () => {
    const hangs = async (args: { signal?: AbortSignal }) => {
      const { signal } = args;
      assert.ok(signal);
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
      return { result: { exitCode: 1, stdout: '', stderr: '', stopped: 'aborted' as const } };
    };
    const scene = await sceneOf({ inPlace: 'goodDayOld', openssl: { fetch: [hangs] } });

    await assertFails(
      scene,
      { retries: 2, deadlineSeconds: 0.05 },
      {
        kind: 'certificate',
        message: "can't receive the OCSP server response: the certificate's 0.05 s deadline passed (--deadline)",
      },
    );
    assert.deepEqual(scene.delays.attempts, []);
  });

  test('tryLater is retried, and the answer that follows is installed', async () => {
    const scene = await sceneOf({ openssl: { fetch: [answersTryLater(der('tryLater')), answers(der('good'))] } });

    assert.deepEqual(await scene.update({ retries: 1 }), resultFor('updated', der('good')));

    assert.deepEqual(scene.delays.attempts, [0]);
    assert.ok(
      scene.log.lines.includes('debug: OCSP request failed (the responder answered tryLater); retrying in 0.0 s'),
    );
    assert.deepEqual(readBytes(`${scene.cert}.ocsp`), der('good'));
  });

  test('tryLater once the retries are spent: ocsp', async () => {
    const tryLater = answersTryLater(der('tryLater'));
    const scene = await sceneOf({
      inPlace: 'goodDayOld',
      issuerFile: fx.caPem,
      openssl: { fetch: [tryLater, tryLater] },
    });

    await assertFails(
      scene,
      { retries: 1 },
      {
        kind: 'ocsp',
        message: "OCSP responder answered 'tryLater' instead of a response",
      },
    );
    assert.deepEqual(scene.delays.attempts, [0]);
  });

  test('-g with a revoked certificate: ocsp', async () => {
    const scene = await sceneOf({
      leaf: 'revoked',
      inPlace: 'goodDayOld',
      openssl: { fetch: [answers(der('revoked'))] },
    });

    await assertFails(
      scene,
      { goodOnly: true },
      {
        kind: 'ocsp',
        message: 'OCSP response, certificate status not good',
      },
    );
  });

  test("openssl's verdict on the response's signature: ocsp, with the -VAfile hint when the signer is missing", async () => {
    const failed = await sceneOf({
      inPlace: 'goodDayOld',
      openssl: { fetch: [answers(der('good'), captured('verify-failure-3.0.txt'), 1)] },
    });
    await assertFails(failed, {}, { kind: 'ocsp', message: 'OCSP response verification failure.' });

    const signerMissing = await sceneOf({
      inPlace: 'goodDayOld',
      openssl: { fetch: [answers(der('good'), captured('verify-signer-not-found-3.0.txt'), 1)] },
    });
    await assertFails(
      signerMissing,
      {},
      {
        kind: 'ocsp',
        message:
          "OCSP response verification failure: signer certificate not found; try with '--VAfile -' or '--VAfile OCSP-response-signing-certificate-file' arguments",
      },
    );
  });

  test('a response for another certificate: ocsp; for a Must-Staple one, the failure says what is at stake', async () => {
    const scene = await sceneOf({ inPlace: 'goodDayOld', openssl: { fetch: [answers(der('other'))] } });
    await assertFails(
      scene,
      {},
      {
        kind: 'ocsp',
        message: 'OCSP response is for another certificate (serial 3003, expected 1001)',
      },
    );

    const mustStaple = await sceneOf({ leaf: 'mustStaple', openssl: { fetch: [answers(der('other'))] } });
    await assertFails(
      mustStaple,
      {},
      {
        kind: 'ocsp',
        message:
          'OCSP response is for another certificate (serial 3003, expected 4004) (this certificate demands OCSP stapling (Must-Staple): clients will refuse the site without a valid staple)',
      },
    );
  });

  test('HAProxy refuses: haproxy, after the files are installed for a reload to pick up', async () => {
    const message = "can't update haproxy ssl ocsp-response using /run/haproxy/admin.sock socket (connection refused)";
    const scene = await sceneOf({
      inPlace: 'goodHalfSpent',
      openssl: { fetch: [answers(der('good'))] },
      notifyFailure: new HaproxyUpdateError(message),
    });

    const error = await scene.update().catch((caught: unknown) => caught);

    assert.ok(error instanceof UpdateFailure);
    assert.deepEqual({ kind: error.kind, message: error.message }, { kind: 'haproxy', message });
    assert.equal(scene.haproxy.updates.length, 1);
    // Installing comes first (as the original copies the files first): the new response is on disk.
    assert.deepEqual(readBytes(`${scene.cert}.ocsp`), der('good'));
  });

  test("the notifier's missing socat is the run's failure (run); anything else passes through as it is", async () => {
    const program = await sceneOf({
      openssl: { fetch: [answers(der('good'))] },
      notifyFailure: new SocatMissingError(),
    });
    const error = await program.update().catch((caught: unknown) => caught);
    assert.ok(error instanceof UpdateFailure);
    assert.deepEqual(
      { kind: error.kind, message: error.message },
      { kind: 'run', message: 'socat binary not found; adjust SOCAT_BIN variable in the script' },
    );

    const bug = new TypeError('a bug in the notifier');
    const buggy = await sceneOf({ openssl: { fetch: [answers(der('good'))] }, notifyFailure: bug });
    await assert.rejects(buggy.update(), (caught) => caught === bug);
  });
});

describe('--nonce, in process', () => {
  /** A nonce's extnValue, as the messages print it. */
  const hexOf = (response: Buffer) => {
    const decoded = parseOcspResponse(response);
    assert.ok(decoded.responseStatus === 'successful' && decoded.nonce);
    return decoded.nonce.toString('hex');
  };
  const requestOutOf = (scene: Scene) => path.join(scene.tempDir, 'ocsp-request.der');

  test('a response that echoes the nonce sent is installed; openssl is asked for a nonce and for the request it sends', async () => {
    const [exchange] = fx.withNonce;
    const scene = await sceneOf({ openssl: { fetch: [sends(exchange.request, answers(exchange.response))] } });

    assert.deepEqual(await scene.update({ nonce: true }), resultFor('updated', exchange.response));

    assert.deepEqual(readBytes(`${scene.cert}.ocsp`), exchange.response);
    const [fetch] = scene.openssl.callsOf('fetchResponse');
    assert.deepEqual([fetch?.args.nonce, fetch?.args.requestOut], [true, requestOutOf(scene)]);
    assert.deepEqual(scene.log.lines, [
      ...responderLines,
      ...extractedChainLines('good'),
      `debug: OCSP response nonce matches the one sent: ${hexOf(exchange.response)}`,
      ...checkedLines(scene, exchange.response),
    ]);
  });

  for (const version of ['3.0', '3.6']) {
    test(`a response for another nonce, at which OpenSSL ${version} stops (exit 1, no status): ocsp, not an unreadable response`, async () => {
      const [exchange, another] = fx.withNonce;
      const verdict = { exitCode: 1, stdout: '', stderr: captured(`fetch-nonce-mismatch-${version}.txt`) };
      const scene = await sceneOf({
        inPlace: 'goodHalfSpent',
        openssl: { fetch: [sends(exchange.request, () => ({ save: another.response, result: verdict }))] },
      });
      await assertFails(
        scene,
        { nonce: true },
        {
          kind: 'ocsp',
          message: `OCSP response carries nonce ${hexOf(another.response)} where the request sent ${hexOf(exchange.response)} (--nonce): a cached or replayed response`,
        },
      );
    });

    test(`a response without a nonce, of which OpenSSL ${version} only warns: ocsp`, async () => {
      const [exchange] = fx.withNonce;
      const verdict = captured(`fetch-nonce-missing-${version}.txt`);
      const scene = await sceneOf({
        inPlace: 'goodHalfSpent',
        openssl: { fetch: [sends(exchange.request, answers(der('good'), verdict))] },
      });
      await assertFails(
        scene,
        { nonce: true },
        {
          kind: 'ocsp',
          message:
            'OCSP response carries no nonce, though the request sent one (--nonce): the responder, or a cache before it, ignores nonces',
        },
      );
    });
  }

  test("a responder's nonce of any length is cut short in the message", async () => {
    const [exchange] = fx.withNonce;
    // The response with its nonce's extnValue made 1,004 bytes long; the
    // signature no longer matches, but the nonce is checked before openssl's verdict.
    const tree = parseTree(exchange.response)!;
    const sentNonce = Buffer.from(hexOf(exchange.response), 'hex');
    const at = nodesOf(tree).findIndex((node) => node.kind === 'primitive' && node.content.equals(sentNonce));
    const longNonce = Buffer.concat([Buffer.from('048203e8', 'hex'), Buffer.alloc(1000, 0xab)]);
    const response = encodeTree(replaceNode(tree, at, (node) => ({ ...node, content: longNonce })));
    assert.equal(hexOf(response), longNonce.toString('hex'));
    const scene = await sceneOf({ openssl: { fetch: [sends(exchange.request, answers(response))] } });
    await assertFails(
      scene,
      { nonce: true },
      {
        kind: 'ocsp',
        message: `OCSP response carries nonce 048203e8abababab… (1992 more characters) where the request sent ${sentNonce.toString('hex')} (--nonce): a cached or replayed response`,
      },
    );
  });

  test('an openssl that writes no request, or one without a nonce: certificate, as for any request it cannot make', async () => {
    const [exchange] = fx.withNonce;
    const cases: [FetchReply, string][] = [
      [answers(exchange.response), "can't create the OCSP request with a nonce (openssl wrote no readable request)"],
      [
        sends(fx.requestWithoutNonce, answers(der('good'))),
        "can't create the OCSP request with a nonce (openssl added none)",
      ],
    ];
    for (const [reply, message] of cases) {
      const scene = await sceneOf({ openssl: { fetch: [reply] } });
      await assertFails(scene, { nonce: true }, { kind: 'certificate', message });
    }
  });

  test("each attempt reads the nonce of its own request, never an earlier attempt's", async () => {
    const [exchange, another] = fx.withNonce;
    const tryLater = sends(another.request, answersTryLater(der('tryLater')));
    const echoed = await sceneOf({
      openssl: { fetch: [tryLater, sends(exchange.request, answers(exchange.response))] },
    });
    assert.deepEqual(await echoed.update({ nonce: true, retries: 1 }), resultFor('updated', exchange.response));

    // The second attempt's openssl writes no request: the first one's is gone, not taken for it.
    const unwritten = await sceneOf({ openssl: { fetch: [tryLater, answers(another.response)] } });
    await assertFails(
      unwritten,
      { nonce: true, retries: 1 },
      {
        kind: 'certificate',
        message: "can't create the OCSP request with a nonce (openssl wrote no readable request)",
      },
    );
  });

  test('without --nonce, none is asked for nor read back, and a nonce in the response is ignored', async () => {
    const [exchange] = fx.withNonce;
    const scene = await sceneOf({ openssl: { fetch: [answers(exchange.response)] } });

    assert.deepEqual(await scene.update(), resultFor('updated', exchange.response));

    const [fetch] = scene.openssl.callsOf('fetchResponse');
    assert.deepEqual([fetch?.args.nonce, fetch?.args.requestOut], [false, undefined]);
    assert.ok(!scene.log.lines.some((line) => line.includes('nonce')), scene.log.lines.join('\n'));
  });
});
