/**
 * The batch (lib/update/batch.ts), `--check` for one bundle
 * (lib/check/check-bundle.ts) and the boundary that turns failures into exit
 * codes (lib/cli/exit-codes.ts), run in this process: real certificates and
 * responses, fakes for the openssl process, the clock, the notifier and the
 * log. The CLI's own tests (cli-batch, cli-check) run them end to end.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import { updateCertificates, type BatchSettings, type CertificateOutcome } from '../lib/update/batch.ts';
import { updateCertificate } from '../lib/update/pipeline.ts';
import { sharedTempFilesIn, type UpdateContext, type UpdateResult } from '../lib/update/context.ts';
import { NoOcspUrlError, UpdateFailure, type FailureKind } from '../lib/update/failure.ts';
import { checkBundle } from '../lib/check/check-bundle.ts';
import type { Finding } from '../lib/check/findings.ts';
import { batchExitCode, ExitCode, failureOf, RunError } from '../lib/cli/exit-codes.ts';
import { renderJson, renderSummary } from '../lib/cli/batch-report.ts';
import { Chalk } from 'chalk';
import { CertificateParseError } from '../lib/pki/certificate.ts';
import { OcspParseError, parseOcspResponse, type SingleResponse } from '../lib/pki/ocsp-response.ts';
import { DerError, parseDer } from '../lib/pki/der.ts';
import type { CertificateInput } from '../lib/sources/collect.ts';
import type { CommandResult } from '../lib/process/run.ts';
import {
  answers,
  createFixtures,
  FakeClock,
  FakeDelays,
  FakeOpenssl,
  RecordingLog,
  RecordingNotifier,
  RecordingThrottle,
  type FetchReply,
  type Fixtures,
  type LeafName,
  type OpensslScript,
  type ResponseName,
  defaultUpdateOptions,
  recordedPush,
} from './helpers/in-process.ts';

type CheckSettings = Parameters<typeof checkBundle>[1];

let fx: Fixtures;

before(async () => {
  fx = await createFixtures();
});

after(async () => {
  await fx?.remove();
});

function singleOf(response: Buffer): SingleResponse {
  const decoded = parseOcspResponse(response);
  assert.ok(decoded.responseStatus === 'successful' && decoded.responses[0] !== undefined);
  return decoded.responses[0];
}

/** A minute after the fresh responses were signed. */
const justAfterSigning = (): Date => new Date(singleOf(fx.responses.good).thisUpdate.getTime() + 60_000);

/** Which leaf openssl is asked about: the EE file it gets is one of the fixtures' leaves. */
function leafOf(eeFile: string): LeafName {
  const pem = readFileSync(eeFile, 'latin1');
  const name = (Object.keys(fx.leaves) as LeafName[]).find((leaf) => fx.leaves[leaf].pem === pem);
  assert.ok(name, `${eeFile} holds a leaf of the fixtures`);
  return name;
}

const OWN_RESPONSE: Partial<Record<LeafName, ResponseName>> = {
  good: 'good',
  revoked: 'revoked',
  other: 'other',
  mustStaple: 'mustStaple',
};

/** Every leaf's own response, whichever order the batch asks in; `meanwhile` runs while the responder "answers". */
const answersEachLeaf =
  (meanwhile?: () => Promise<void>): FetchReply =>
  async (args) => {
    const leaf = leafOf(args.cert);
    await meanwhile?.();
    const response = OWN_RESPONSE[leaf];
    assert.ok(response, `the responder knows ${leaf}`);
    return answers(fx.responses[response])(args);
  };

/** A log that knows whether the batch finished it. */
class CertificateLog extends RecordingLog {
  finished = 0;

  finish(): void {
    this.finished++;
  }
}

type Entry = LeafName | 'missing';

interface BatchScene {
  readonly inputs: CertificateInput[];
  readonly runDir: string;
  readonly openssl: FakeOpenssl;
  readonly haproxy: RecordingNotifier;
  readonly logs: Map<string, CertificateLog>;
  readonly tempDirs: string[];
  readonly reported: [string, unknown][];
  readonly seen: string[];
  run(settings?: Partial<BatchSettings>): Promise<CertificateOutcome[]>;
}

/** Bundles named after their leaves, in one directory, updated as one batch. */
async function batchOf(
  entries: readonly Entry[],
  fetch: FetchReply = answersEachLeaf(),
  haproxy = new RecordingNotifier(),
): Promise<BatchScene> {
  const dir = await fx.tempDir('certs-');
  const runDir = await fx.tempDir('run-');
  const inputs = await Promise.all(
    entries.map(async (entry, index): Promise<CertificateInput> => {
      const cert = path.join(dir, `${index + 1}-${entry}.pem`);
      if (entry !== 'missing') await writeFile(cert, fx.leaves[entry].pem + fx.caPem);
      return { path: cert, source: 'crt-list', ocspUpdate: index % 2 === 0 ? 'on' : 'off' };
    }),
  );
  const openssl = new FakeOpenssl({ fetch });
  const logs = new Map<string, CertificateLog>();
  const tempDirs: string[] = [];
  const reported: [string, unknown][] = [];
  const seen: string[] = [];
  const sharedFiles = sharedTempFilesIn(runDir);
  const throttle = new RecordingThrottle();
  const clock = new FakeClock(justAfterSigning());
  return {
    inputs,
    runDir,
    openssl,
    haproxy,
    logs,
    tempDirs,
    reported,
    seen,
    run: (settings = {}) =>
      updateCertificates(inputs, {
        jobs: 2,
        multiple: true,
        tempDir: runDir,
        optionsFor: (cert) => ({ cert, ...defaultUpdateOptions }),
        contextFor: (tempDir, log): UpdateContext => {
          tempDirs.push(tempDir);
          return {
            openssl,
            log,
            tempDir,
            sharedFiles,
            haproxy,
            now: clock.now,
            retryDelayMs: new FakeDelays().delayMs,
            throttleResponder: throttle.run,
            httpClient: { kind: 'openssl' },
          };
        },
        logFor: (cert) => {
          const log = new CertificateLog();
          logs.set(cert, log);
          return log;
        },
        reportFailure: async (cert, error) => {
          reported.push([cert, error]);
        },
        onOutcome: (outcome) => seen.push(outcome.cert),
        ...settings,
      }),
  };
}

/** An outcome without its timing, and its failure as kind and message. */
function summary(outcome: CertificateOutcome) {
  const { durationMs, failure, ...rest } = outcome;
  assert.ok(Number.isFinite(durationMs) && durationMs >= 0);
  return {
    ...rest,
    ...(failure !== undefined && {
      failure: failure instanceof UpdateFailure ? { kind: failure.kind, message: failure.message } : failure,
    }),
  };
}

/** The outcome of installing RESPONSE: `revoked` when it says the certificate is. */
const updated = (response: Buffer) => {
  const { certStatus, thisUpdate, nextUpdate } = singleOf(response);
  const decoded = parseOcspResponse(response);
  assert.ok(decoded.responseStatus === 'successful');
  const action = certStatus === 'revoked' ? 'revoked' : 'updated';
  const { producedAt } = decoded;
  return { action, certStatus, thisUpdate, nextUpdate: nextUpdate ?? null, producedAt, haproxy: recordedPush };
};

describe('the batch, in process', () => {
  test("what HAProxy did reaches --json and the summary; HAProxy saying it updates a certificate itself overrides the crt-list's off", async () => {
    // The second certificate: its crt-list line says off, HAProxy says it updates it, and staples a newer response.
    const notifier = new RecordingNotifier(undefined, (update) =>
      update.cert.includes('2-other')
        ? [{ socket: 'a.sock', action: 'holds-newer', updatesItself: true }]
        : [{ socket: 'a.sock', action: 'pushed', updatesItself: false }],
    );
    const batch = await batchOf(['good', 'other'], answersEachLeaf(), notifier);
    const outcomes = await batch.run();
    assert.deepEqual(
      outcomes.map((outcome) => [outcome.ocspUpdate, outcome.haproxy?.map((report) => report.action)]),
      [
        ['on', ['pushed']],
        ['on', ['holds-newer']],
      ],
    );
    const json = JSON.parse(renderJson(outcomes, 'done'));
    assert.deepEqual(json.results[1].haproxy, [{ socket: 'a.sock', action: 'holds-newer', updatesItself: true }]);
    assert.deepEqual(json.haproxy, {
      sockets: [{ socket: 'a.sock', pushed: 1, transaction: 0, reload: 0, 'holds-newer': 1, 'holds-same': 0 }],
      reload: 'done',
    });
    const rows = renderSummary(outcomes, 'done', new Chalk({ level: 0 })).split('\n');
    assert.deepEqual(rows.slice(-3), [
      'HAProxy a.sock: 1 pushed, 1 holds-newer',
      'HAProxy reloaded once, after every certificate',
      '',
    ]);
    assert.match(rows[1]!, /^updated .* HAProxy updates it itself \(ocsp-update on\)$/);
    assert.match(
      rows[2]!,
      /^updated .* HAProxy staples a newer response: not replaced; HAProxy updates it itself \(ocsp-update on\)$/,
    );
  });

  test('outcomes in input order; a certificate without URL skipped; a failure recorded and reported', async () => {
    const batch = await batchOf(['good', 'noUrl', 'missing', 'revoked']);
    const [good, noUrl, missing, revoked] = batch.inputs.map((input) => input.path) as [string, string, string, string];

    const outcomes = await batch.run();

    const missingFailure = outcomes[2]?.failure;
    assert.ok(missingFailure instanceof UpdateFailure);
    assert.match(
      missingFailure.message,
      new RegExp(`^can't extract EE certificate from ${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(.+\\)$`),
    );
    assert.deepEqual(outcomes.map(summary), [
      { cert: good, ...updated(fx.responses.good), ocspUpdate: 'on' },
      {
        cert: noUrl,
        action: 'skipped-no-url',
        certStatus: null,
        thisUpdate: null,
        nextUpdate: null,
        producedAt: null,
        ocspUpdate: 'off',
      },
      {
        cert: missing,
        action: 'failed',
        certStatus: null,
        thisUpdate: null,
        nextUpdate: null,
        producedAt: null,
        failure: { kind: 'certificate', message: missingFailure.message },
        ocspUpdate: 'on',
      },
      { cert: revoked, ...updated(fx.responses.revoked), ocspUpdate: 'off' },
    ]);

    assert.deepEqual(batch.reported, [[missing, missingFailure]], 'only the failure is reported');
    assert.deepEqual(batch.logs.get(noUrl)?.lines, [`debug: ${noUrl}: no OCSP URL in the certificate: skipped`]);
    assert.deepEqual(
      [...batch.logs.values()].map((log) => log.finished),
      [1, 1, 1, 1],
      "every certificate's log is finished once",
    );
    assert.deepEqual([...batch.seen].sort(), [good, noUrl, missing, revoked].sort());
    assert.deepEqual(
      [...batch.tempDirs].sort(),
      ['1', '2', '3', '4'].map((n) => path.join(batch.runDir, n)),
      'each certificate gets a temporary directory of its own, made by the batch',
    );
    assert.ok(batch.tempDirs.every((dir) => statSync(dir).isDirectory()));
    assert.deepEqual(batch.haproxy.updates.map((update) => update.cert).sort(), [good, revoked].sort());
    assert.deepEqual(readFileSync(`${good}.ocsp`), fx.responses.good);
    assert.deepEqual(readFileSync(`${revoked}.ocsp`), fx.responses.revoked);
    assert.equal(batchExitCode(outcomes), ExitCode.certificate);
  });

  test('a single certificate without URL is a failure (exit 2), not a skip', async () => {
    const batch = await batchOf(['noUrl']);

    const outcomes = await batch.run({ multiple: false, jobs: 1 });

    assert.equal(outcomes[0]?.action, 'failed');
    assert.ok(outcomes[0]?.failure instanceof NoOcspUrlError);
    assert.deepEqual(batch.reported, [[batch.inputs[0]!.path, outcomes[0]?.failure]]);
    assert.deepEqual(batch.tempDirs, [batch.runDir], 'one certificate uses the run directory itself');
    assert.equal(batchExitCode(outcomes), ExitCode.noOcspUrl);
  });

  test('--jobs: never more certificates at once than asked, and as many as asked', async () => {
    for (const jobs of [1, 2, 3]) {
      let inFlight = 0;
      let most = 0;
      const batch = await batchOf(
        ['good', 'revoked', 'other', 'mustStaple', 'good', 'other'],
        answersEachLeaf(async () => {
          most = Math.max(most, ++inFlight);
          await sleep(15);
          inFlight--;
        }),
      );

      const outcomes = await batch.run({ jobs });

      assert.deepEqual(
        outcomes.map((outcome) => outcome.action),
        ['updated', 'revoked', 'updated', 'updated', 'updated', 'updated'],
      );
      assert.equal(most, jobs, `--jobs ${jobs}`);
    }
  });

  test("durations come from the batch's clock", async () => {
    let ticks = 0;
    const batch = await batchOf(['good', 'revoked']);

    const outcomes = await batch.run({ jobs: 1, now: () => (ticks += 25) });

    assert.deepEqual(
      outcomes.map((outcome) => outcome.durationMs),
      [25, 25],
    );
    assert.deepEqual(
      batch.seen,
      batch.inputs.map((input) => input.path),
      'one at a time, in input order',
    );
  });
});

describe('--check of one bundle, in process', () => {
  const verifyOk = (args: readonly string[]): CommandResult => ({
    exitCode: 0,
    stdout: `${args.at(-1)}: OK\n`,
    stderr: '',
  });
  const verifyRefuses = (args: readonly string[]): CommandResult => ({
    exitCode: 2,
    stdout: '',
    stderr: `CN = leaf.test\nerror 20 at 0 depth lookup: unable to get local issuer certificate\nerror ${args.at(-1)}: verification failed\n`,
  });

  interface CheckScene {
    readonly cert: string;
    readonly tempDir: string;
    readonly openssl: FakeOpenssl;
    readonly dryRuns: number[];
    check(settings?: Partial<CheckSettings>): Promise<Finding[]>;
  }

  /** A bundle with its key, as HAProxy loads it; `dryRun` stands in for the update's dry run. */
  async function checkOf(
    leaf: LeafName,
    script: OpensslScript,
    dryRun: (scene: Pick<CheckScene, 'cert' | 'tempDir' | 'openssl'>) => Promise<UpdateResult>,
  ): Promise<CheckScene> {
    const dir = await fx.tempDir('check-');
    const tempDir = await fx.tempDir('check-run-');
    const cert = path.join(dir, 'site.pem');
    await writeFile(cert, fx.leaves[leaf].pem + fx.caPem + fx.leafKeyPem);
    const openssl = new FakeOpenssl(script);
    const dryRuns: number[] = [];
    return {
      cert,
      tempDir,
      openssl,
      dryRuns,
      check: (settings = {}) =>
        checkBundle(
          cert,
          { now: justAfterSigning(), warnDays: 1, requireOcsp: false, partialChain: false, ...settings },
          {
            openssl,
            tempDir,
            dryRun: () => {
              dryRuns.push(dryRuns.length + 1);
              return dryRun({ cert, tempDir, openssl });
            },
          },
        ),
    };
  }

  const goodResult = (): Promise<UpdateResult> => {
    const { certStatus, thisUpdate, nextUpdate } = singleOf(fx.responses.good);
    return Promise.resolve({ action: 'checked', certStatus, thisUpdate, nextUpdate });
  };

  test('a sound bundle: the chain verified against the system store, one dry run, no finding', async () => {
    const scene = await checkOf('good', { verifyWith: verifyOk }, goodResult);

    assert.deepEqual(await scene.check(), []);

    assert.deepEqual(scene.dryRuns, [1]);
    const [verify] = scene.openssl.callsOf('verifyWith');
    const chainFile = path.join(scene.tempDir, 'check-chain.pem');
    const eeFile = path.join(scene.tempDir, 'check-ee.pem');
    assert.deepEqual(verify?.args, ['-untrusted', chainFile, eeFile]);
    assert.deepEqual(verify?.files, { 'check-chain.pem': fx.caPem, 'check-ee.pem': fx.leaves.good.pem });
    assert.deepEqual(scene.openssl.methods, ['verifyWith']);
  });

  test('--ca-file: openssl trusts a copy of it and nothing else; --partial-chain: the bundle itself', async () => {
    const anchors = path.join(await fx.tempDir('anchors-'), 'private-root.pem');
    await writeFile(anchors, fx.caPem);
    const scene = await checkOf('good', { verifyWith: verifyOk }, goodResult);
    const inTemp = (name: string) => path.join(scene.tempDir, name);

    assert.deepEqual(await scene.check({ caFile: anchors }), []);
    assert.deepEqual(await scene.check({ partialChain: true }), []);

    const [withAnchors, partial] = scene.openssl.callsOf('verifyWith');
    assert.deepEqual(withAnchors?.args, [
      '-CAfile',
      inTemp('check-anchors.pem'),
      '-no-CApath',
      '-no-CAstore',
      '-untrusted',
      inTemp('check-chain.pem'),
      inTemp('check-ee.pem'),
    ]);
    assert.equal(withAnchors?.files['check-anchors.pem'], fx.caPem);
    assert.deepEqual(partial?.args, ['-partial_chain', '-CAfile', inTemp('check-chain.pem'), inTemp('check-ee.pem')]);
  });

  test('a chain that reaches no trusted root: chain-incomplete with openssl’s reason, and no dry run', async () => {
    const scene = await checkOf('good', { verifyWith: verifyRefuses }, goodResult);

    assert.deepEqual(await scene.check(), [
      {
        cert: scene.cert,
        code: 'chain-incomplete',
        severity: 'error',
        kind: 'certificate',
        message: 'the chain does not reach a root in the system trust store: unable to get local issuer certificate',
      },
    ]);
    assert.deepEqual(scene.dryRuns, []);

    const withAnchors = await checkOf('good', { verifyWith: verifyRefuses }, goodResult);
    const anchors = path.join(await fx.tempDir('anchors-'), 'private-root.pem');
    await writeFile(anchors, fx.caPem);
    assert.deepEqual(
      (await withAnchors.check({ caFile: anchors })).map((finding) => finding.message),
      [`the chain does not reach a root in ${anchors}: unable to get local issuer certificate`],
    );
    assert.deepEqual(
      (await withAnchors.check({ partialChain: true })).map((finding) => finding.message),
      ['the chain does not reach a root in the bundle (--partial-chain): unable to get local issuer certificate'],
    );
    assert.deepEqual(withAnchors.dryRuns, []);
  });

  test("the dry run's verdict becomes a finding: revoked, or its failure in its class", async () => {
    const revoked = await checkOf('revoked', { verifyWith: verifyOk }, () => {
      const { certStatus, thisUpdate, nextUpdate } = singleOf(fx.responses.revoked);
      return Promise.resolve({ action: 'checked', certStatus, thisUpdate, nextUpdate });
    });
    assert.deepEqual(await revoked.check(), [
      {
        cert: revoked.cert,
        code: 'ocsp-revoked',
        severity: 'error',
        kind: 'ocsp',
        message: 'the OCSP responder says the certificate is revoked',
      },
    ]);

    const kinds: [FailureKind, Finding['kind']][] = [
      ['ocsp', 'ocsp'],
      ['parsing', 'parsing'],
      ['no-ocsp-url', 'no-ocsp-url'],
      ['certificate', 'certificate'],
      ['haproxy', 'certificate'],
      ['run', 'certificate'],
    ];
    for (const [failureKind, findingKind] of kinds) {
      const failing = await checkOf('good', { verifyWith: verifyOk }, () =>
        Promise.reject(new UpdateFailure(failureKind, 'why')),
      );
      assert.deepEqual(
        await failing.check(),
        [{ cert: failing.cert, code: 'ocsp-failed', severity: 'error', kind: findingKind, message: 'why' }],
        failureKind,
      );
    }

    const bug = new TypeError('a bug');
    const buggy = await checkOf('good', { verifyWith: verifyOk }, () => Promise.reject(bug));
    await assert.rejects(buggy.check(), (caught) => caught === bug);
  });

  test('a blocking lint (no OCSP URL) leaves openssl and the responder alone', async () => {
    const scene = await checkOf('noUrl', { verifyWith: verifyOk }, goodResult);

    const findings = await scene.check({ requireOcsp: true });

    assert.deepEqual(
      findings.map((finding) => [finding.code, finding.severity, finding.kind]),
      [['no-ocsp-url', 'error', 'no-ocsp-url']],
    );
    assert.deepEqual(scene.openssl.calls, []);
    assert.deepEqual(scene.dryRuns, []);
  });

  test('with the real dry run of the update behind it: a revoked certificate is an ocsp-revoked finding', async () => {
    const scene = await checkOf('revoked', { verifyWith: verifyOk, fetch: [answers(fx.responses.revoked)] }, (check) =>
      updateCertificate(
        { cert: check.cert, ...defaultUpdateOptions, dryRun: true, skipUpdate: true },
        {
          openssl: check.openssl,
          log: new RecordingLog(),
          tempDir: check.tempDir,
          sharedFiles: sharedTempFilesIn(check.tempDir),
          haproxy: new RecordingNotifier(new Error('--check never notifies HAProxy')),
          now: new FakeClock(justAfterSigning()).now,
          retryDelayMs: new FakeDelays().delayMs,
          throttleResponder: new RecordingThrottle().run,
          httpClient: { kind: 'openssl' },
        },
      ),
    );

    assert.deepEqual(
      (await scene.check()).map((finding) => finding.code),
      ['ocsp-revoked'],
    );
    assert.deepEqual(scene.openssl.methods, ['verifyWith', 'verify', 'fetchResponse']);
  });
});

describe('exit codes: failureOf', () => {
  test('each failure kind has its exit code, and keeps its message', () => {
    const expected: Record<FailureKind, number> = {
      certificate: 1,
      'no-ocsp-url': 2,
      parsing: 3,
      ocsp: 4,
      haproxy: 5,
      run: 9,
    };
    for (const [kind, exitCode] of Object.entries(expected)) {
      assert.deepEqual(failureOf(new UpdateFailure(kind as FailureKind, `why ${kind}`)), {
        exitCode,
        message: `why ${kind}`,
      });
    }
    assert.deepEqual(failureOf(new NoOcspUrlError()), {
      exitCode: 2,
      message: 'OCSP server URL not found in the EE certificate',
    });
  });

  test("a decoder's error no step caught concerns a certificate or a response: exit 1, never 9", () => {
    const thrownBy = (decode: () => unknown): unknown => {
      try {
        decode();
      } catch (error) {
        return error;
      }
      return assert.fail('the decoder took it');
    };
    const ocspError = thrownBy(() => parseOcspResponse(Buffer.from('<html>busy</html>')));
    const derError = thrownBy(() => parseDer(Buffer.from([0x30, 0x05, 0x02])));
    assert.ok(ocspError instanceof OcspParseError);
    assert.ok(derError instanceof DerError);
    for (const error of [ocspError, derError, new CertificateParseError('issuer is not the issuer of the leaf')]) {
      assert.deepEqual(failureOf(error), { exitCode: 1, message: error.message }, error.name);
    }
  });

  test('anything else is a program error (9)', () => {
    assert.deepEqual(failureOf(new RunError('openssl binary not found')), {
      exitCode: 9,
      message: 'openssl binary not found',
    });
    assert.deepEqual(failureOf(new TypeError('x is undefined')), { exitCode: 9, message: 'x is undefined' });
    assert.deepEqual(failureOf('thrown text'), { exitCode: 9, message: 'thrown text' });
  });

  test("a batch's exit code is that of its first failure in input order", () => {
    assert.equal(
      batchExitCode([
        { action: 'updated' },
        { action: 'skipped-no-url' },
        { action: 'failed', failure: new UpdateFailure('ocsp', 'x') },
        { action: 'failed', failure: new UpdateFailure('certificate', 'y') },
      ]),
      4,
    );
    assert.equal(batchExitCode([{ action: 'updated' }, { action: 'skipped-no-url' }]), 0);
  });
});
