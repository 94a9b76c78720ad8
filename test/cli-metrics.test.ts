// --metrics FILE: the Prometheus textfile written after an update, a batch
// with mixed outcomes, a --check, a --status, a run that stops early and
// updates of a real HAProxy, read back with the Prometheus project's own parser; what is
// carried over from the previous file, and what hostile previous content
// cannot do; a file that cannot be written. Then the format itself, in
// process: label escaping, one series per certificate, leniency.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from '../lib/process/run.ts';
import { parseOcspResponse, type SingleResponse } from '../lib/pki/ocsp-response.ts';
import { metricsFileFor, type CertificateMetrics } from '../lib/cli/metrics.ts';
import { createTestPki, responseSignedAt, type LeafName, type TestPki } from './helpers/pki.ts';
import { runCli } from './helpers/cli.ts';
import { startHaproxy, type RunningHaproxy } from './helpers/haproxy.ts';
import { parseMetricsFile, samplesOf, valueOf, type MetricFamily } from './helpers/prometheus.ts';

let pki: TestPki;
let workDir: string;
const running: RunningHaproxy[] = [];

before(async () => {
  pki = await createTestPki();
  workDir = await mkdtemp(path.join(tmpdir(), 'hapos-upd-metrics-'));
});

after(async () => {
  await Promise.all(running.map((haproxy) => haproxy.stop()));
  await pki?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

const cli = (args: readonly string[]) => runCli(args, { env: pki.env });

/** A directory of its own for each case. */
const caseDir = () => mkdtemp(path.join(workDir, 'case-'));

/** LEAF's crt file (leaf, intermediate, key) copied to DIR/NAME. */
async function place(leaf: LeafName, dir: string, name: string): Promise<string> {
  const target = path.join(dir, name);
  await copyFile(pki.leaves[leaf].bundleWithKey, target);
  return target;
}

const certArgs = (certs: readonly string[]) => certs.flatMap((cert) => ['--cert', cert]);

/** A metrics file in a directory of its own, as node_exporter's textfile directory. */
async function metricsPath(): Promise<string> {
  return path.join(await caseDir(), 'hapos-upd.prom');
}

const nowSeconds = () => Date.now() / 1000;

/** The entry a `.ocsp` file holds for its certificate, and the response's producedAt. */
async function responseIn(ocspFile: string): Promise<SingleResponse & { producedAt: Date }> {
  const response = parseOcspResponse(await readFile(ocspFile));
  assert.equal(response.responseStatus, 'successful');
  if (response.responseStatus !== 'successful') throw new Error('unreachable');
  return { ...response.responses[0]!, producedAt: response.producedAt };
}

const updateActions = ['updated', 'revoked', 'checked', 'kept-current', 'skipped-fresh', 'skipped-no-url', 'failed'];

/** The run's count of certificates per action, every action of the mode present. */
function runCounts(families: readonly MetricFamily[], mode: string): Record<string, number> {
  return Object.fromEntries(
    samplesOf(families, 'hapos_ocsp_run_certificates', { mode }).map((sample) => [sample.labels.action, sample.value]),
  );
}

/** The status series of a certificate, as [status, value] pairs. */
const statusOf = (families: readonly MetricFamily[], labels: Record<string, string>) =>
  samplesOf(families, 'hapos_ocsp_status', labels).map((sample) => [sample.labels.status, sample.value]);

const seconds = (date: Date | undefined) => date!.getTime() / 1000;

describe('after an update', () => {
  test('one --cert: its response, attempt, success and exit code, and the run, in a 0644 file renamed into place', async () => {
    const cert = await place('good', await caseDir(), 'site.pem');
    const file = await metricsPath();
    const startedAt = nowSeconds();
    const result = await cli(['-S', '--cert', cert, '--metrics', file]);
    const endedAt = nowSeconds();
    assert.equal(result.exitCode, 0, result.stderr);
    assert.equal(result.stderr, '');
    assert.equal(result.stdout, '');
    assert.equal((await stat(file)).mode & 0o777, 0o644);
    assert.deepEqual(await readdir(path.dirname(file)), ['hapos-upd.prom'], 'no temporary file is left');

    const families = await parseMetricsFile(file);
    for (const family of families) {
      assert.equal(family.type, 'gauge', family.name);
      assert.notEqual(family.documentation, '', family.name);
      assert.match(family.name, /^hapos_ocsp_/);
    }
    const labels = { mode: 'update', path: cert };
    const response = await responseIn(`${cert}.ocsp`);
    assert.deepEqual(statusOf(families, labels), [
      ['good', 1],
      ['revoked', 0],
      ['unknown', 0],
    ]);
    assert.equal(valueOf(families, 'hapos_ocsp_this_update_timestamp_seconds', labels), seconds(response.thisUpdate));
    assert.equal(valueOf(families, 'hapos_ocsp_next_update_timestamp_seconds', labels), seconds(response.nextUpdate));
    assert.equal(valueOf(families, 'hapos_ocsp_produced_at_timestamp_seconds', labels), seconds(response.producedAt));
    const timeLeft = valueOf(families, 'hapos_ocsp_time_left_seconds', labels);
    assert.ok(Number.isInteger(timeLeft));
    assert.ok(Math.abs(timeLeft - (seconds(response.nextUpdate) - endedAt)) <= endedAt - startedAt + 1, `${timeLeft}`);
    const attempt = valueOf(families, 'hapos_ocsp_last_attempt_timestamp_seconds', labels);
    assert.ok(attempt >= startedAt - 0.001 && attempt <= endedAt, `${attempt}`);
    assert.equal(valueOf(families, 'hapos_ocsp_last_success_timestamp_seconds', labels), attempt);
    assert.equal(valueOf(families, 'hapos_ocsp_last_exit_code', labels), 0);
    assert.deepEqual(samplesOf(families, 'hapos_ocsp_stapled'), [], '-S: no HAProxy was asked');
    // Every certificate series has the certificate's labels alone (and the status of a status series).
    for (const sample of families.flatMap((family) => family.samples)) {
      if (sample.name.startsWith('hapos_ocsp_run_')) continue;
      const { status, ...rest } = sample.labels;
      assert.deepEqual(rest, labels, sample.name);
      assert.equal(status !== undefined, sample.name === 'hapos_ocsp_status', sample.name);
    }

    assert.equal(valueOf(families, 'hapos_ocsp_run_exit_code', { mode: 'update' }), 0);
    const duration = valueOf(families, 'hapos_ocsp_run_duration_seconds', { mode: 'update' });
    assert.ok(duration > 0 && duration <= endedAt - startedAt, `${duration}`);
    const ended = valueOf(families, 'hapos_ocsp_run_timestamp_seconds', { mode: 'update' });
    assert.ok(ended >= attempt && ended <= endedAt, `${ended}`);
    assert.deepEqual(runCounts(families, 'update'), {
      ...Object.fromEntries(updateActions.map((action) => [action, 0])),
      updated: 1,
    });
  });

  test('a batch with mixed outcomes: each certificate as it ended, a path with a quote, a backslash and a line feed too', async () => {
    const dir = await caseDir();
    const good = await place('good', dir, 'a.pem');
    const awkward = await place('goodEc', dir, 'we"ird\\name\nline.pem');
    const revoked = await place('revoked', dir, 'b.pem');
    const noUrl = await place('noUrl', dir, 'c.pem');
    const missing = path.join(dir, 'missing.pem');
    const rogue = await place('rogue', dir, 'd.pem');
    const file = await metricsPath();
    const result = await cli([
      '-S',
      '--quiet',
      ...certArgs([good, awkward, revoked, noUrl, missing, rogue]),
      '--metrics',
      file,
    ]);
    assert.equal(result.exitCode, 1, 'the first failure in input order');
    const families = await parseMetricsFile(file);

    const expected = [
      [good, 'good', 0],
      [awkward, 'good', 0],
      [revoked, 'revoked', 0],
      [noUrl, undefined, 0],
      [missing, undefined, 1],
      [rogue, undefined, 4],
    ] as const;
    for (const [cert, status, exitCode] of expected) {
      const labels = { mode: 'update', path: cert };
      assert.equal(valueOf(families, 'hapos_ocsp_last_exit_code', labels), exitCode, cert);
      const statuses = statusOf(families, labels);
      if (status === undefined) {
        assert.deepEqual(statuses, [], `${cert}: no response, no status`);
        assert.deepEqual(samplesOf(families, 'hapos_ocsp_next_update_timestamp_seconds', labels), []);
      } else {
        assert.deepEqual(statuses, [
          ['good', status === 'good' ? 1 : 0],
          ['revoked', status === 'revoked' ? 1 : 0],
          ['unknown', 0],
        ]);
        const response = await responseIn(`${cert}.ocsp`);
        assert.equal(
          valueOf(families, 'hapos_ocsp_next_update_timestamp_seconds', labels),
          seconds(response.nextUpdate),
        );
        assert.equal(
          valueOf(families, 'hapos_ocsp_produced_at_timestamp_seconds', labels),
          seconds(response.producedAt),
        );
      }
      const successes = samplesOf(families, 'hapos_ocsp_last_success_timestamp_seconds', labels);
      assert.equal(successes.length, exitCode === 0 ? 1 : 0, `${cert}: a success only when it succeeded`);
    }
    assert.equal(valueOf(families, 'hapos_ocsp_run_exit_code', { mode: 'update' }), 1);
    assert.deepEqual(runCounts(families, 'update'), {
      updated: 2,
      revoked: 1,
      checked: 0,
      'kept-current': 0,
      'skipped-fresh': 0,
      'skipped-no-url': 1,
      failed: 2,
    });
  });

  test('a certificate that fails keeps its last success and its response from the previous file; one gone from the run is dropped', async () => {
    const dir = await caseDir();
    const [a, b] = [await place('good', dir, 'a.pem'), await place('good', dir, 'b.pem')];
    const file = await metricsPath();
    const first = await cli(['-S', '-q', ...certArgs([a, b]), '--metrics', file]);
    assert.equal(first.exitCode, 0, first.stderr);
    const before = await parseMetricsFile(file);
    const labels = { mode: 'update', path: a };
    const success = valueOf(before, 'hapos_ocsp_last_success_timestamp_seconds', labels);
    const nextUpdate = valueOf(before, 'hapos_ocsp_next_update_timestamp_seconds', labels);

    await sleep(1100);
    // The rogue responder's answer fails verification: a.pem's update fails, its .ocsp stays.
    await copyFile(pki.leaves.rogue.bundleWithKey, a);
    const c = await place('good', dir, 'c.pem');
    const second = await cli(['-S', '-q', ...certArgs([a, c]), '--metrics', file]);
    assert.equal(second.exitCode, 4);
    const after = await parseMetricsFile(file);
    assert.equal(valueOf(after, 'hapos_ocsp_last_exit_code', labels), 4);
    assert.ok(valueOf(after, 'hapos_ocsp_last_attempt_timestamp_seconds', labels) >= success + 1);
    assert.equal(valueOf(after, 'hapos_ocsp_last_success_timestamp_seconds', labels), success);
    assert.equal(valueOf(after, 'hapos_ocsp_next_update_timestamp_seconds', labels), nextUpdate);
    assert.deepEqual(statusOf(after, labels), [
      ['good', 1],
      ['revoked', 0],
      ['unknown', 0],
    ]);
    assert.deepEqual(samplesOf(after, 'hapos_ocsp_last_attempt_timestamp_seconds', { path: b }), [], 'b.pem left');
    assert.equal(valueOf(after, 'hapos_ocsp_last_exit_code', { path: c }), 0);
  });

  test('-d writes no metrics file, and says so', async () => {
    const cert = await place('good', await caseDir(), 'site.pem');
    const file = await metricsPath();
    const result = await cli(['-d', '--cert', cert, '--metrics', file]);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.match(
      result.stdout,
      new RegExp(`^Debug mode: the metrics file .*hapos-upd\\.prom will not be written\\.$`, 'm'),
    );
    assert.equal(existsSync(file), false);
  });

  test('a run that stops before any certificate still reports itself: its exit code, and no certificate', async () => {
    const empty = await caseDir();
    const file = await metricsPath();
    await writeFile(file, 'hapos_ocsp_last_success_timestamp_seconds{mode="update",path="/old.pem"} 1\n');
    const result = await cli(['--dir', empty, '--metrics', file]);
    assert.equal(result.exitCode, 9);
    assert.equal(
      result.stderr,
      'Error: no certificate found in the given --dir and --crt-list\nRun hapos-upd -h for help\n',
    );
    const families = await parseMetricsFile(file);
    assert.deepEqual(
      families.map((family) => family.name),
      [
        'hapos_ocsp_run_timestamp_seconds',
        'hapos_ocsp_run_duration_seconds',
        'hapos_ocsp_run_exit_code',
        'hapos_ocsp_run_certificates',
      ],
    );
    assert.equal(valueOf(families, 'hapos_ocsp_run_exit_code', { mode: 'update' }), 9);
    assert.deepEqual(
      Object.values(runCounts(families, 'update')),
      updateActions.map(() => 0),
    );
  });
});

describe('after a --check', () => {
  test('each bundle: passed, warned or failed, its exit code alone, and what its dry run received; --strict fails warnings', async () => {
    const dir = await caseDir();
    const good = await place('good', dir, 'good.pem');
    const expiring = await place('expiringSoon', dir, 'expiring.pem');
    const revoked = await place('revoked', dir, 'revoked.pem');
    const noUrl = await place('noUrl', dir, 'no-url.pem');
    const file = await metricsPath();
    const result = await cli(['--check', '-q', ...certArgs([good, expiring, revoked, noUrl]), '--metrics', file]);
    assert.equal(result.exitCode, 4, 'the revoked certificate: an OCSP error');
    const families = await parseMetricsFile(file);
    const expected = [
      [good, 0, 'good'],
      [expiring, 0, 'good'],
      [revoked, 4, 'revoked'],
      [noUrl, 0, undefined],
    ] as const;
    for (const [cert, exitCode, status] of expected) {
      const labels = { mode: 'check', path: cert };
      assert.equal(valueOf(families, 'hapos_ocsp_last_exit_code', labels), exitCode, cert);
      const good = statusOf(families, { ...labels, status: 'good' });
      assert.deepEqual(good, status === undefined ? [] : [['good', status === 'good' ? 1 : 0]], cert);
      if (status !== undefined) {
        const nextUpdate = valueOf(families, 'hapos_ocsp_next_update_timestamp_seconds', labels);
        assert.ok(Math.abs(nextUpdate - (nowSeconds() + 7 * 24 * 3600)) < 3600, `${cert}: Next Update ${nextUpdate}`);
      }
    }
    assert.deepEqual(runCounts(families, 'check'), { passed: 1, warned: 2, failed: 1 });
    assert.equal(valueOf(families, 'hapos_ocsp_run_exit_code', { mode: 'check' }), 4);
    assert.deepEqual(samplesOf(families, 'hapos_ocsp_run_exit_code', { mode: 'update' }), []);

    const strict = await cli(['--check', '-q', '--strict', ...certArgs([good, expiring]), '--metrics', file]);
    assert.equal(strict.exitCode, 1);
    const strictFamilies = await parseMetricsFile(file);
    assert.equal(valueOf(strictFamilies, 'hapos_ocsp_last_exit_code', { path: expiring }), 1, 'cert-expiring: exit 1');
    assert.deepEqual(runCounts(strictFamilies, 'check'), { passed: 1, warned: 0, failed: 1 });
    assert.deepEqual(samplesOf(strictFamilies, 'hapos_ocsp_last_exit_code', { path: revoked }), []);
  });
});

describe('after a --status', () => {
  test('one row per certificate, the worst staple among the HAProxys serving it, stapled per socket; exit codes 0, 6 and 7', async () => {
    const dir = await caseDir();
    const fresh = await place('good', dir, 'fresh.pem');
    const written = await cli(['-S', '--cert', fresh]);
    assert.equal(written.exitCode, 0, written.stderr);
    // Signed 6.5 days ago, valid 7: 12 hours left, under --warn-hours' 24.
    const expiringDer = await responseSignedAt(pki, 'goodEc', '-156h');
    const expiring = await place('goodEc', dir, 'expiring.pem');
    await writeFile(`${expiring}.ocsp`, expiringDer);
    const missing = await place('issuerSigned', dir, 'missing.pem');
    const revoked = await place('revoked', dir, 'revoked.pem');
    await writeFile(`${revoked}.ocsp`, await responseSignedAt(pki, 'revoked', '-1h'));
    // The first HAProxy loads an expiring staple for mixed.pem, the second a fresh one.
    const mixed = await place('mustStaple', dir, 'mixed.pem');
    const mixedExpiringDer = await responseSignedAt(pki, 'mustStaple', '-156h');
    await writeFile(`${mixed}.ocsp`, mixedExpiringDer);
    const first = await startHaproxy({ certificates: [fresh, expiring, missing, revoked, mixed] });
    running.push(first);
    await writeFile(`${mixed}.ocsp`, await responseSignedAt(pki, 'mustStaple', '-1h'));
    const second = await startHaproxy({ certificates: [fresh, missing, mixed] });
    running.push(second);

    const file = await metricsPath();
    const result = await cli([
      '--status',
      '-q',
      '--socket',
      first.socketPath,
      '--socket',
      second.socketPath,
      '--metrics',
      file,
    ]);
    assert.equal(result.exitCode, 7, result.stderr);
    assert.equal(result.stderr, '');
    const families = await parseMetricsFile(file);
    const labels = (cert: string) => ({ mode: 'status', path: cert });
    const stapled = (cert: string) =>
      samplesOf(families, 'hapos_ocsp_stapled', labels(cert)).map((sample) => [sample.labels.socket, sample.value]);
    const expected = [
      [fresh, 0, 'good', [1, 1]],
      [expiring, 6, 'good', [1]],
      [missing, 7, undefined, [0, 0]],
      [revoked, 7, 'revoked', [1]],
      [mixed, 6, 'good', [1, 1]],
    ] as const;
    for (const [cert, exitCode, status, staples] of expected) {
      assert.equal(valueOf(families, 'hapos_ocsp_last_exit_code', labels(cert)), exitCode, cert);
      assert.deepEqual(
        stapled(cert),
        [first.socketPath, second.socketPath].slice(0, staples.length).map((socket, index) => [socket, staples[index]]),
        cert,
      );
      const statuses = statusOf(families, labels(cert));
      if (status === undefined) assert.deepEqual(statuses, [], cert);
      else
        assert.deepEqual(
          statuses.find(([, value]) => value === 1),
          [status, 1],
          cert,
        );
      const successes = samplesOf(families, 'hapos_ocsp_last_success_timestamp_seconds', labels(cert));
      assert.equal(successes.length, exitCode === 0 ? 1 : 0, cert);
    }
    const nextUpdateOf = async (der: Buffer) => {
      const response = parseOcspResponse(der);
      assert.equal(response.responseStatus, 'successful');
      return response.responseStatus === 'successful' ? seconds(response.responses[0]!.nextUpdate) : undefined;
    };
    assert.equal(
      valueOf(families, 'hapos_ocsp_next_update_timestamp_seconds', labels(expiring)),
      await nextUpdateOf(expiringDer),
    );
    assert.equal(
      valueOf(families, 'hapos_ocsp_next_update_timestamp_seconds', labels(mixed)),
      await nextUpdateOf(mixedExpiringDer),
      'the expiring staple of the first HAProxy, not the fresh one of the second',
    );
    assert.deepEqual(samplesOf(families, 'hapos_ocsp_produced_at_timestamp_seconds'), []);
    assert.equal(valueOf(families, 'hapos_ocsp_run_exit_code', { mode: 'status' }), 7);
    assert.deepEqual(runCounts(families, 'status'), {
      fresh: 1,
      expiring: 2,
      expired: 0,
      revoked: 1,
      unknown: 0,
      missing: 1,
      'no-ocsp-url': 0,
    });
  });

  test('a socket that cannot be read: exit 5, and the run alone in the file', async () => {
    const file = await metricsPath();
    const socket = path.join(path.dirname(file), 'no-such.sock');
    const result = await cli(['--status', '--socket', socket, '--metrics', file]);
    assert.equal(result.exitCode, 5);
    const families = await parseMetricsFile(file);
    assert.equal(valueOf(families, 'hapos_ocsp_run_exit_code', { mode: 'status' }), 5);
    assert.deepEqual(samplesOf(families, 'hapos_ocsp_last_exit_code'), []);
  });
});

describe('stapled in HAProxy', () => {
  test('per socket: a response HAProxy took, one waiting for a reload that failed, then for one that ran', async () => {
    const dir = await caseDir();
    const served = await place('good', dir, 'served.pem');
    const unserved = await place('goodEc', dir, 'unserved.pem');
    const haproxy = await startHaproxy({ certificates: [served] });
    running.push(haproxy);
    const file = await metricsPath();
    const args = ['--socket', haproxy.socketPath, '-q', ...certArgs([served, unserved]), '--metrics', file];
    const failedReload = await cli(['--reload-cmd', 'exit 1', ...args]);
    assert.equal(failedReload.exitCode, 5);
    const failed = await parseMetricsFile(file);
    const stapled = (families: readonly MetricFamily[], cert: string) =>
      samplesOf(families, 'hapos_ocsp_stapled', { path: cert }).map((sample) => [sample.labels.socket, sample.value]);
    assert.deepEqual(stapled(failed, served), [[haproxy.socketPath, 1]]);
    assert.deepEqual(stapled(failed, unserved), [[haproxy.socketPath, 0]]);
    assert.equal(valueOf(failed, 'hapos_ocsp_last_exit_code', { path: unserved }), 5);

    const reloaded = await cli(['--reload-cmd', 'true', ...args]);
    assert.equal(reloaded.exitCode, 0, reloaded.stderr);
    const done = await parseMetricsFile(file);
    assert.deepEqual(stapled(done, unserved), [[haproxy.socketPath, 1]]);
    assert.equal(valueOf(done, 'hapos_ocsp_last_exit_code', { path: unserved }), 0);
  });
});

describe('a metrics file that cannot be written', () => {
  test('exit 9 after a run that succeeded, with one line; the run itself is done and reported as usual', async () => {
    const dir = await caseDir();
    const [a, b] = [await place('good', dir, 'a.pem'), await place('good', dir, 'b.pem')];
    const file = path.join(dir, 'no-such-dir', 'hapos-upd.prom');
    const result = await cli(['-S', ...certArgs([a, b]), '--metrics', file]);
    assert.equal(result.exitCode, 9);
    assert.equal(result.stderr, `Error: can't write metrics file ${file} (ENOENT)\n`);
    assert.match(result.stdout, /^2 certificates: 2 updated$/m);
    for (const cert of [a, b]) assert.ok((await stat(`${cert}.ocsp`)).size > 0);
  });

  test("after a run that failed, the run's own exit code stays", async () => {
    const dir = await caseDir();
    const missing = path.join(dir, 'missing.pem');
    const file = path.join(dir, 'no-such-dir', 'hapos-upd.prom');
    const result = await cli(['-S', '--cert', missing, '--metrics', file]);
    assert.equal(result.exitCode, 1);
    assert.equal(
      result.stderr,
      `Error processing '${missing}': can't extract EE certificate from ${missing} (no such file)\n` +
        `Error: can't write metrics file ${file} (ENOENT)\n`,
    );
  });

  test('a FIFO in its place is neither read nor written, and nothing waits on it', async () => {
    const cert = await place('good', await caseDir(), 'site.pem');
    const file = await metricsPath();
    const mkfifo = await run('mkfifo', [file]);
    assert.equal(mkfifo.exitCode, 0, mkfifo.stderr);
    const startedAt = Date.now();
    const result = await cli(['-S', '--cert', cert, '--metrics', file]);
    assert.ok(Date.now() - startedAt < 20_000);
    assert.equal(result.exitCode, 9);
    assert.equal(result.stderr, `Error: can't write metrics file ${file} (it is a FIFO, not a regular file)\n`);
    assert.ok((await stat(file)).isFIFO());
  });
});

describe('hostile previous content', () => {
  test('lines that do not parse are skipped, well-formed ones still carried over', async () => {
    const dir = await caseDir();
    const missing = path.join(dir, 'missing.pem');
    const file = await metricsPath();
    const name = 'hapos_ocsp_last_success_timestamp_seconds';
    await writeFile(
      file,
      [
        '\u0000\u00ff garbage',
        `${name}{mode="update",path="${missing}"} NaN`,
        `${name}{mode="update",path="${missing}"} 1 2 3`,
        `${name}{mode="update",path="${missing}\\q"} 7`,
        `${name}{__proto__="x",mode="update",path="${missing}",path="again"} 8`,
        `${name}{mode="update",path="${missing}"`,
        `${name}{mode="update",path="${missing}"} 1234.5`,
        `${name}{mode="update",path="${'x'.repeat(4 * 1024 * 1024)}`,
      ].join('\n'),
    );
    const startedAt = Date.now();
    const result = await cli(['-S', '--cert', missing, '--metrics', file]);
    assert.ok(Date.now() - startedAt < 20_000);
    assert.equal(result.exitCode, 1);
    const families = await parseMetricsFile(file);
    assert.deepEqual(samplesOf(families, name), [{ name, labels: { mode: 'update', path: missing }, value: 1234.5 }]);
  });

  test('a previous file over 16 MiB is not read back: the run goes on without it', async () => {
    const dir = await caseDir();
    const missing = path.join(dir, 'missing.pem');
    const file = await metricsPath();
    const line = `hapos_ocsp_last_success_timestamp_seconds{mode="update",path="${missing}"} 1234\n`;
    await writeFile(file, line.padEnd(16 * 1024 * 1024 + 1, '#'));
    const result = await cli(['-S', '--cert', missing, '--metrics', file]);
    assert.equal(result.exitCode, 1);
    const families = await parseMetricsFile(file);
    assert.deepEqual(samplesOf(families, 'hapos_ocsp_last_success_timestamp_seconds'), []);
    assert.ok((await stat(file)).size < 10_000, 'replaced');
  });
});

describe('the file format, in process', () => {
  const at = new Date('2026-01-02T03:04:05.678Z');
  const row = (fields: Partial<CertificateMetrics>): CertificateMetrics => ({
    path: '/etc/haproxy/site.pem',
    action: 'updated',
    certStatus: 'good',
    thisUpdate: new Date('2026-01-01T00:00:00Z'),
    nextUpdate: new Date('2026-01-08T00:00:00Z'),
    producedAt: new Date('2026-01-01T00:00:01Z'),
    exitCode: 0,
    lastAttempt: at,
    ...fields,
  });
  const quietLog = () => {
    const lines: string[] = [];
    return {
      lines,
      debug: (line: string) => void lines.push(line),
      error: async (line: string) => void lines.push(line),
    };
  };

  async function written(rows: readonly CertificateMetrics[], file?: string, check = false) {
    const metricsFile = file ?? (await metricsPath());
    const log = quietLog();
    const metrics = metricsFileFor({ metricsFile, debug: false, check, status: false }, log)!;
    metrics.record(rows);
    assert.equal(await metrics.write(0, log), 0);
    return { families: await parseMetricsFile(metricsFile), file: metricsFile, log: log.lines };
  }

  test('paths and sockets with quotes, backslashes and line feeds come back as they were', async () => {
    const awkward = 'a "quoted" \\path\\ with\na line feed \u00e9\u{1F600}';
    const { families } = await written([
      row({ path: awkward, stapled: [{ socket: `ipv4@${awkward}`, stapled: true }] }),
    ]);
    const labels = { mode: 'update', path: awkward };
    assert.equal(valueOf(families, 'hapos_ocsp_last_exit_code', labels), 0);
    assert.equal(valueOf(families, 'hapos_ocsp_stapled', { ...labels, socket: `ipv4@${awkward}` }), 1);
    assert.equal(valueOf(families, 'hapos_ocsp_this_update_timestamp_seconds', labels), 1767225600);
    assert.equal(valueOf(families, 'hapos_ocsp_last_attempt_timestamp_seconds', labels), 1767323045.678);
  });

  test("only the same mode's series of the same certificate are carried over, and dates only with their status", async () => {
    const file = await metricsPath();
    const lines = [
      // Another mode's success, and dates without the status they belong to.
      'hapos_ocsp_last_success_timestamp_seconds{mode="check",path="/a.pem"} 11',
      'hapos_ocsp_next_update_timestamp_seconds{mode="update",path="/a.pem"} 13',
      'hapos_ocsp_status{mode="update",path="/b.pem",status="revoked"} 1',
      'hapos_ocsp_status{mode="update",path="/b.pem",status="good"} 0',
      'hapos_ocsp_status{mode="update",path="/c.pem",status="bogus"} 1',
      'hapos_ocsp_next_update_timestamp_seconds{mode="update",path="/b.pem"} 14',
      'hapos_ocsp_last_success_timestamp_seconds{mode="update",path="/b.pem"} 15',
    ];
    await writeFile(file, `${lines.join('\n')}\n`);
    const failed = {
      action: 'failed',
      certStatus: null,
      thisUpdate: null,
      nextUpdate: null,
      producedAt: null,
      exitCode: 5,
    };
    const { families } = await written(
      [row({ path: '/a.pem', ...failed }), row({ path: '/b.pem', ...failed }), row({ path: '/c.pem', ...failed })],
      file,
    );
    for (const name of [
      'hapos_ocsp_last_success_timestamp_seconds',
      'hapos_ocsp_status',
      'hapos_ocsp_next_update_timestamp_seconds',
    ])
      assert.deepEqual(samplesOf(families, name, { path: '/a.pem' }), [], name);
    assert.deepEqual(samplesOf(families, 'hapos_ocsp_status', { path: '/c.pem' }), []);
    assert.deepEqual(statusOf(families, { path: '/b.pem' }), [
      ['good', 0],
      ['revoked', 1],
      ['unknown', 0],
    ]);
    assert.equal(valueOf(families, 'hapos_ocsp_next_update_timestamp_seconds', { path: '/b.pem' }), 14);
    assert.equal(valueOf(families, 'hapos_ocsp_last_success_timestamp_seconds', { path: '/b.pem' }), 15);
    assert.deepEqual(samplesOf(families, 'hapos_ocsp_this_update_timestamp_seconds', { path: '/b.pem' }), []);
  });

  test("a check's results are counted as passed, warned and failed, each at zero too; a failed one keeps its last success, not its response", async () => {
    const file = await metricsPath();
    await writeFile(
      file,
      [
        'hapos_ocsp_status{mode="check",path="/b.pem",status="good"} 1',
        'hapos_ocsp_next_update_timestamp_seconds{mode="check",path="/b.pem"} 14',
        'hapos_ocsp_last_success_timestamp_seconds{mode="check",path="/b.pem"} 15',
        '',
      ].join('\n'),
    );
    const failed = { certStatus: null, thisUpdate: null, nextUpdate: null, producedAt: null, exitCode: 1 };
    const { families } = await written(
      [row({ action: 'warned' }), row({ path: '/b.pem', action: 'failed', ...failed })],
      file,
      true,
    );
    assert.deepEqual(runCounts(families, 'check'), { passed: 0, warned: 1, failed: 1 });
    assert.equal(valueOf(families, 'hapos_ocsp_last_exit_code', { path: '/etc/haproxy/site.pem' }), 0);
    assert.equal(valueOf(families, 'hapos_ocsp_last_success_timestamp_seconds', { path: '/b.pem' }), 15);
    assert.deepEqual(statusOf(families, { path: '/b.pem' }), [], 'a check that got no response says none');
  });

  test('a previous file that cannot be read back (a directory) is named in a debug line; writing over it fails', async () => {
    const file = await metricsPath();
    await mkdir(file);
    const log = quietLog();
    const metrics = metricsFileFor({ metricsFile: file, debug: false, check: false, status: false }, log)!;
    metrics.record([row({})]);
    assert.equal(await metrics.write(0, log), 9);
    assert.deepEqual(log.lines, [
      `Metrics file ${file} not read back (it is a directory): nothing carried over from it.`,
      `Error: can't write metrics file ${file} (EISDIR)`,
    ]);
  });
});
