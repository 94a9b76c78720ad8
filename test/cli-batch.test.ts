// End-to-end runs of the built CLI on many certificates at once: repeated
// --cert, --dir, --crt-list and multi-certificate bundles as input;
// --skip-fresh, --jobs, --json, --quiet and the summary table as output; the
// exit code of a batch with mixed outcomes; the per-responder request cap.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from '../lib/process/run.ts';
import { parseOcspResponse } from '../lib/pki/ocsp-response.ts';
import { createTestPki, fetchOcspResponse, responseSignedAt, type LeafName, type TestPki } from './helpers/pki.ts';
import { CLI_PATH, lockPathOf, recordingWrapper, runCli, type CliRun } from './helpers/cli.ts';
import { answerOf, startFakeHttpServer, type OcspResponder } from './helpers/responder.ts';

let pki: TestPki;
let workDir: string;

before(async () => {
  pki = await createTestPki();
  workDir = await mkdtemp(path.join(tmpdir(), 'hapos-upd-batch-'));
});

after(async () => {
  await pki?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

const cli = (args: string[], cwd?: string) => runCli(args, { env: pki.env, cwd });

/** A directory of its own for each case, so that one case's files never show up in another's checks. */
const caseDir = () => mkdtemp(path.join(workDir, 'case-'));

/** LEAF's bundle (leaf then intermediate, and the key when asked) copied to DIR/NAME. */
async function place(leaf: LeafName, dir: string, name: string, { withKey = false } = {}): Promise<string> {
  const target = path.join(dir, name);
  await mkdir(path.dirname(target), { recursive: true });
  await copyFile(withKey ? pki.leaves[leaf].bundleWithKey : pki.leaves[leaf].bundle, target);
  return target;
}

/** `--cert` for each path. */
const certArgs = (certs: readonly string[]) => certs.flatMap((cert) => ['--cert', cert]);

/** The error line of a failed certificate. */
const certError = (cert: string, message: string) => `Error processing '${cert}': ${message}`;

/** The two lines of an exit 9 error. */
const programError = (message: string) => `Error: ${message}\nRun hapos-upd -h for help\n`;

const missingFileMessage = (cert: string) => `can't extract EE certificate from ${cert} (no such file)`;
const rogueMessage = 'OCSP response verification failure.';
const unknownMessage = 'OCSP responder does not know this certificate (status unknown)';

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

const ansiEscape = /\x1b\[/;

interface JsonResult {
  readonly cert: string;
  readonly action: string;
  readonly certStatus: string | null;
  readonly thisUpdate: string | null;
  readonly nextUpdate: string | null;
  readonly exitCode: number;
  readonly message: string;
  readonly durationMs: number;
  readonly ocspUpdate?: string;
}

interface JsonReport {
  readonly results: readonly JsonResult[];
  readonly totals: Readonly<Record<string, number>>;
}

/** The whole of stdout as the one JSON document `--json` promises; fails on anything else. */
function jsonReport(result: CliRun): JsonReport {
  let parsed: unknown;
  try {
    parsed = JSON.parse(result.stdout);
  } catch (error) {
    assert.fail(`stdout is not one JSON document (${error}):\n${result.stdout}`);
  }
  assert.deepEqual(Object.keys(parsed as object), ['results', 'totals']);
  return parsed as JsonReport;
}

const resultKeys = ['cert', 'action', 'certStatus', 'thisUpdate', 'nextUpdate', 'exitCode', 'message', 'durationMs'];

/** Every field of every result has the promised type; dates are ISO 8601 that round-trip. */
function assertWellFormed(report: JsonReport): void {
  for (const result of report.results) {
    const keys = Object.keys(result).filter((key) => key !== 'ocspUpdate');
    assert.deepEqual(keys, resultKeys, result.cert);
    assert.ok(['good', 'revoked', 'unknown', null].includes(result.certStatus), `certStatus ${result.certStatus}`);
    for (const date of [result.thisUpdate, result.nextUpdate]) {
      if (date !== null) assert.equal(new Date(date).toISOString(), date, `${result.cert}: ISO 8601`);
    }
    assert.equal(result.thisUpdate === null, result.certStatus === null, `${result.cert}: dates come with a status`);
    assert.ok(Number.isInteger(result.exitCode), `${result.cert}: exitCode`);
    assert.equal(typeof result.message, 'string');
    assert.ok(typeof result.durationMs === 'number' && result.durationMs >= 0, `${result.cert}: durationMs`);
  }
}

const zeroTotals = {
  updated: 0,
  revoked: 0,
  checked: 0,
  'kept-current': 0,
  'skipped-fresh': 0,
  'skipped-no-url': 0,
  failed: 0,
};

/** The totals of a run: every action counted, zero unless given. */
const totals = (counts: Partial<typeof zeroTotals>, certificates: number) => ({
  ...zeroTotals,
  ...counts,
  certificates,
});

/** What a result says about its certificate, without timings and dates, which differ from run to run. */
const outcomeOf = (result: JsonResult) => [result.cert, result.action, result.certStatus, result.exitCode] as const;

/** The responder's request log lags its stderr a little: let it catch up before counting. */
async function requestCount(responder: OcspResponder): Promise<number> {
  await sleep(200);
  return responder.requests.length;
}

async function listing(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort();
}

const isoSeconds = '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ';
const summaryHeader = /^ACTION +STATUS +NEXT UPDATE +CERTIFICATE +MESSAGE$/;

/** The summary row of a certificate, the widths of its columns left open. */
const summaryRow = (action: string, status: string, nextUpdate: string, cert: string, message = '') =>
  new RegExp(
    `^${action} +${status} +${nextUpdate} +${escapeRegExp(cert)}${message === '' ? '' : ` +${escapeRegExp(message)}`}$`,
  );

/** Runs the built CLI with exactly ENV (runCli always adds NO_COLOR), stdout and stderr piped. */
function runCliWithExactEnv(args: readonly string[], env: NodeJS.ProcessEnv): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_PATH, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (exitCode, signal) => resolve({ exitCode, signal, stdout, stderr }));
  });
}

/** The serial number of the certificate a DER response speaks about. */
async function serialInResponse(file: string): Promise<string | undefined> {
  const response = parseOcspResponse(await readFile(file));
  return response.responseStatus === 'successful' ? response.responses[0]?.certId.serialNumber : undefined;
}

describe('input: repeated --cert, --dir, --crt-list, multi-certificate bundles', () => {
  test('repeated --cert: each updated, and a plain summary table on stdout', async () => {
    const dir = await caseDir();
    const rsa = await place('good', dir, 'rsa-site.pem');
    const ec = await place('goodEc', dir, 'ec-site.pem');
    const result = await cli(['-S', ...certArgs([rsa, ec])]);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.equal(result.stderr, '');
    for (const cert of [rsa, ec])
      assert.equal(await serialInResponse(`${cert}.ocsp`), pki.leaves[cert === rsa ? 'good' : 'goodEc'].serialHex);

    const lines = result.stdout.split('\n');
    assert.equal(lines.length, 5, result.stdout);
    assert.match(lines[0]!, summaryHeader);
    assert.match(lines[1]!, summaryRow('updated', 'good', isoSeconds, rsa));
    assert.match(lines[2]!, summaryRow('updated', 'good', isoSeconds, ec));
    assert.equal(lines[3], '2 certificates: 2 updated');
    assert.equal(lines[4], '');
    // Columns line up under their titles.
    assert.equal(lines[1]!.indexOf(rsa), lines[0]!.indexOf('CERTIFICATE'));
    assert.equal(lines[2]!.indexOf(ec), lines[0]!.indexOf('CERTIFICATE'));
    assert.equal(lines[1]!.indexOf('good'), lines[0]!.indexOf('STATUS'));
    const nextUpdate = Date.parse(new RegExp(isoSeconds).exec(lines[1]!)![0]);
    const sevenDaysAhead = Date.now() + 7 * 24 * 3600 * 1000;
    assert.ok(Math.abs(nextUpdate - sevenDaysAhead) < 3600 * 1000, `Next Update ${lines[1]}`);
    assert.doesNotMatch(result.stdout, ansiEscape);
  });

  test('no colours on a pipe even without NO_COLOR or FORCE_COLOR', async () => {
    const dir = await caseDir();
    const certs = [await place('good', dir, 'a.pem'), path.join(dir, 'missing.pem')];
    const env: NodeJS.ProcessEnv = { ...pki.env, TERM: 'xterm-256color' };
    delete env.NO_COLOR;
    delete env.FORCE_COLOR;
    const result = await runCliWithExactEnv(['-S', ...certArgs(certs)], env);
    assert.equal(result.exitCode, 1);
    assert.match(result.stdout, /^2 certificates: 1 updated, 1 failed$/m);
    assert.doesNotMatch(result.stdout, ansiEscape);
    assert.equal(result.stderr, `${certError(certs[1]!, missingFileMessage(certs[1]!))}\n`);
  });

  test('--dir: only the certificates, in name order; keys, sidecars, text and dot-files are left out', async () => {
    const dir = await caseDir();
    const withKey = await place('good', dir, 'b-site.pem', { withKey: true });
    const withoutKey = await place('goodEc', dir, 'a-site.pem');
    await copyFile(pki.leaves.goodEc.key, path.join(dir, 'a-site.pem.key'));
    // Each of these holds a PEM certificate: only its name keeps it out.
    await copyFile(pki.intermediate, `${withKey}.issuer`);
    await place('good', dir, '.hidden-site.pem');
    await place('revoked', dir, 'nested/site.pem');
    await writeFile(`${withoutKey}.ocsp`, await fetchOcspResponse(pki, 'goodEc'));
    await writeFile(path.join(dir, 'README'), 'Certificates of the front ends. Keys are in *.key.\n');

    const result = await cli(['-S', '--json', '--dir', dir]);
    assert.equal(result.exitCode, 0, result.stderr);
    const report = jsonReport(result);
    assert.deepEqual(report.results.map(outcomeOf), [
      [withoutKey, 'updated', 'good', 0],
      [withKey, 'updated', 'good', 0],
    ]);
    assert.deepEqual(report.totals, totals({ updated: 2 }, 2));
    assert.deepEqual(await listing(dir), [
      '.hidden-site.pem',
      'README',
      'a-site.pem',
      'a-site.pem.issuer',
      'a-site.pem.key',
      'a-site.pem.ocsp',
      'b-site.pem',
      'b-site.pem.issuer',
      'b-site.pem.ocsp',
      'nested',
    ]);
  });

  test('a certificate named twice (--cert and --dir, a symbolic link) is processed once', async () => {
    const dir = await caseDir();
    const site = await place('good', dir, 'a-site.pem');
    const other = await place('goodEc', dir, 'b-site.pem');
    await symlink('a-site.pem', path.join(dir, 'c-link.pem'));
    const result = await cli(['-S', '--json', '--cert', site, '--dir', dir]);
    assert.equal(result.exitCode, 0, result.stderr);
    const report = jsonReport(result);
    assert.deepEqual(report.results.map(outcomeOf), [
      [site, 'updated', 'good', 0],
      [other, 'updated', 'good', 0],
    ]);
  });

  test('--crt-list: comments, blank lines, options and SNI filters; relative paths from the list directory', async () => {
    const listDir = await caseDir();
    const elsewhere = await caseDir();
    const siteA = await place('good', listDir, 'site-a.pem', { withKey: true });
    const siteB = await place('goodEc', listDir, 'sub/site-b.pem');
    const siteC = await place('good', elsewhere, 'site-c.pem');
    const siteD = await place('revoked', listDir, 'site-d.pem');
    // Decoys where a path resolved against the working directory would land.
    const cwd = await caseDir();
    await place('rogue', cwd, 'site-a.pem');
    await place('rogue', cwd, 'site-d.pem');
    const list = path.join(listDir, 'crt-list.txt');
    await writeFile(
      list,
      [
        '# front-end certificates',
        '',
        'site-a.pem [ocsp-update on alpn h2,http/1.1] a.example.test !b.example.test',
        '   ',
        'sub/site-b.pem *.example.test',
        `${siteC}`,
        '\t',
        'site-d.pem [ ocsp-update off ]',
        '',
      ].join('\n'),
    );

    const result = await cli(['-S', '--json', '--crt-list', list], cwd);
    assert.equal(result.exitCode, 0, result.stderr);
    const report = jsonReport(result);
    assert.deepEqual(report.results.map(outcomeOf), [
      [siteA, 'updated', 'good', 0],
      [siteB, 'updated', 'good', 0],
      [siteC, 'updated', 'good', 0],
      [siteD, 'revoked', 'revoked', 0],
    ]);
    assert.deepEqual(
      report.results.map((entry) => entry.ocspUpdate),
      ['on', undefined, undefined, 'off'],
    );
    assert.ok(!('ocspUpdate' in report.results[1]!), 'no ocspUpdate key without the option');
    for (const cert of [siteA, siteB, siteC, siteD]) assert.ok(existsSync(`${cert}.ocsp`), cert);
    assert.deepEqual(await listing(cwd), ['site-a.pem', 'site-d.pem']);
  });

  test('--crt-list with --crt-base: relative paths from crt-base, as HAProxy resolves them; absolute ones as they are', async () => {
    const listDir = await caseDir();
    const crtBase = await caseDir();
    const elsewhere = await caseDir();
    const relative = await place('good', crtBase, 'site.pem');
    const absolute = await place('goodEc', elsewhere, 'other.pem');
    // A decoy where the list's own directory would have sent the relative path.
    await place('rogue', listDir, 'site.pem');
    const list = path.join(listDir, 'crt-list.txt');
    await writeFile(list, `site.pem\n${absolute}\n`);

    const result = await cli(['-S', '--json', '--crt-list', list, '--crt-base', crtBase]);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.deepEqual(jsonReport(result).results.map(outcomeOf), [
      [relative, 'updated', 'good', 0],
      [absolute, 'updated', 'good', 0],
    ]);
    assert.deepEqual(await listing(listDir), ['crt-list.txt', 'site.pem']);
  });

  test('a multi-certificate bundle: --cert site.pem updates site.pem.ecdsa and site.pem.rsa', async () => {
    const dir = await caseDir();
    const rsa = await place('good', dir, 'site.pem.rsa', { withKey: true });
    const ecdsa = await place('goodEc', dir, 'site.pem.ecdsa', { withKey: true });
    const site = path.join(dir, 'site.pem');
    const result = await cli(['-S', '--json', '--cert', site]);
    assert.equal(result.exitCode, 0, result.stderr);
    const report = jsonReport(result);
    assert.deepEqual(report.results.map(outcomeOf), [
      [ecdsa, 'updated', 'good', 0],
      [rsa, 'updated', 'good', 0],
    ]);
    assert.equal(await serialInResponse(`${rsa}.ocsp`), pki.leaves.good.serialHex);
    assert.equal(await serialInResponse(`${ecdsa}.ocsp`), pki.leaves.goodEc.serialHex);
    assert.equal(existsSync(`${site}.ocsp`), false);
  });
});

describe('outcomes and exit codes', () => {
  test('no OCSP URL in a batch is a skip, exit 0; alone it is still exit 2', async () => {
    const dir = await caseDir();
    const certs = [
      await place('good', dir, 'a.pem'),
      await place('noUrl', dir, 'b.pem'),
      await place('goodEc', dir, 'c.pem'),
    ];
    const result = await cli(['-S', ...certArgs(certs)]);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.equal(result.stderr, '');
    const lines = result.stdout.split('\n');
    assert.match(lines[1]!, summaryRow('updated', 'good', isoSeconds, certs[0]!));
    assert.match(lines[2]!, summaryRow('skipped-no-url', '-', '-', certs[1]!));
    assert.match(lines[3]!, summaryRow('updated', 'good', isoSeconds, certs[2]!));
    assert.equal(lines[4], '3 certificates: 2 updated, 1 skipped-no-url');
    assert.equal(existsSync(`${certs[1]}.ocsp`), false);

    const alone = await cli(['-S', '--cert', certs[1]!]);
    assert.equal(alone.exitCode, 2);
    assert.equal(alone.stderr, `${certError(certs[1]!, 'OCSP server URL not found in the EE certificate')}\n`);
  });

  /** good, then OTHERS in the given order, then good; every failure reported; exit code of the first failure. */
  async function mixedRun(order: ('rogue' | 'missing' | 'noUrl')[]) {
    const dir = await caseDir();
    const named: Record<string, string> = {
      rogue: await place('rogue', dir, 'rogue.pem'),
      missing: path.join(dir, 'missing.pem'),
      noUrl: await place('noUrl', dir, 'no-url.pem'),
    };
    const certs = [
      await place('good', dir, 'first.pem'),
      ...order.map((name) => named[name]!),
      await place('good', dir, 'last.pem'),
    ];
    const result = await cli(['-S', '--jobs', '4', ...certArgs(certs)]);
    assert.deepEqual(
      result.stderr.split('\n').sort(),
      ['', certError(named.rogue!, rogueMessage), certError(named.missing!, missingFileMessage(named.missing!))].sort(),
    );
    const lines = result.stdout.split('\n');
    assert.match(lines[0]!, summaryHeader);
    const expectedRows = certs.map((cert) =>
      cert === named.rogue
        ? summaryRow('failed', '-', '-', cert, rogueMessage)
        : cert === named.missing
          ? summaryRow('failed', '-', '-', cert, missingFileMessage(cert))
          : cert === named.noUrl
            ? summaryRow('skipped-no-url', '-', '-', cert)
            : summaryRow('updated', 'good', isoSeconds, cert),
    );
    expectedRows.forEach((row, index) => assert.match(lines[index + 1]!, row));
    assert.equal(lines[6], '5 certificates: 2 updated, 1 skipped-no-url, 2 failed');
    return result.exitCode;
  }

  test('mixed outcomes: the exit code is that of the first failed certificate in input order (rogue first: 4)', async () => {
    // With --jobs 4 the missing file fails long before the rogue response is judged.
    assert.equal(await mixedRun(['rogue', 'noUrl', 'missing']), 4);
  });

  test('mixed outcomes: the exit code is that of the first failed certificate in input order (missing first: 1)', async () => {
    assert.equal(await mixedRun(['missing', 'noUrl', 'rogue']), 1);
  });

  test('in a batch, every warning on stderr names its certificate', async () => {
    const dir = await caseDir();
    const expired = await place('expired', dir, 'expired.pem');
    const staleResponse = await place('good', dir, 'stale-response.pem');
    await writeFile(`${staleResponse}.ocsp`, await responseSignedAt(pki, 'good', '-8d'));
    const unremarkable = await place('goodEc', dir, 'unremarkable.pem');
    const result = await cli(['-S', ...certArgs([expired, staleResponse, unremarkable])]);
    assert.equal(result.exitCode, 1);
    const lines = result.stderr.split('\n').filter((line) => line !== '');
    assert.ok(lines.length >= 3, result.stderr);
    for (const line of lines) {
      assert.ok(line.includes(expired) || line.includes(staleResponse), `no certificate named: ${line}`);
    }
  });

  test('--quiet: nothing on stdout, errors still on stderr', async () => {
    const dir = await caseDir();
    const good = await place('good', dir, 'a.pem');
    const missing = path.join(dir, 'missing.pem');
    const result = await cli(['-S', '--quiet', ...certArgs([good, missing])]);
    assert.equal(result.exitCode, 1);
    assert.equal(result.stdout, '');
    assert.equal(result.stderr, `${certError(missing, missingFileMessage(missing))}\n`);
    assert.ok(existsSync(`${good}.ocsp`));
  });
});

/** Quotes TEXT for the shell that `script` starts. */
const shellQuote = (text: string) => `'${text.replace(/'/g, "'\\''")}'`;

/**
 * Runs the built CLI on a pseudo-terminal made by `script`, and returns what
 * the terminal showed, with the terminal's CRLF line ends. `inShell` turns the
 * CLI's command line into the shell line `script` runs (a redirection, say).
 */
async function onTerminal(
  args: readonly string[],
  {
    env = pki.env,
    inShell = (cliCommand: string) => cliCommand,
  }: { env?: NodeJS.ProcessEnv; inShell?: (cliCommand: string) => string } = {},
): Promise<{ exitCode: number | null; terminal: string }> {
  const cliCommand = [process.execPath, CLI_PATH, ...args].map(shellQuote).join(' ');
  const result = await run('script', ['--quiet', '--return', '--command', inShell(cliCommand), '/dev/null'], {
    env: { ...env, SHELL: '/bin/sh', TERM: 'xterm-256color' },
    timeoutMs: 30_000,
  });
  return { exitCode: result.exitCode, terminal: result.stdout };
}

/** Sends the CLI's stdout to FILE, so that the terminal shows stderr alone. */
const stdoutTo = (file: string) => (cliCommand: string) => `${cliCommand} > ${shellQuote(file)}`;

describe('on a terminal', () => {
  test('a progress line on stderr, rewritten in place; an error goes above it, not into it', async () => {
    const dir = await caseDir();
    const good = await Promise.all(['a.pem', 'b.pem', 'd.pem', 'e.pem'].map((name) => place('good', dir, name)));
    const missing = path.join(dir, 'c.pem');
    const stdoutFile = path.join(dir, 'stdout');
    const certs = [good[0]!, good[1]!, missing, good[2]!, good[3]!];
    const result = await onTerminal(['-S', '--jobs', '1', ...certArgs(certs)], {
      inShell: stdoutTo(stdoutFile),
      env: { ...pki.env, NO_COLOR: '1' },
    });
    assert.equal(result.exitCode, 1);
    const blank = ' '.repeat('[2/5] 2 updated'.length);
    assert.equal(
      result.terminal,
      '\r[1/5] 1 updated\r[2/5] 2 updated' +
        `\r${blank}\r${certError(missing, missingFileMessage(missing))}\r\n[2/5] 2 updated` +
        '\r[3/5] 2 updated, 1 failed\r[4/5] 3 updated, 1 failed\r[5/5] 4 updated, 1 failed\r\n',
    );
    const summary = await readFile(stdoutFile, 'utf8');
    assert.match(summary, /^5 certificates: 4 updated, 1 failed$/m);
    assert.doesNotMatch(summary, ansiEscape, 'stdout is a file: no colour there');
  });

  test('a batch stopped by SIGTERM leaves its progress line on a line of its own', async () => {
    const dir = await caseDir();
    const certs = await Promise.all(
      ['a.pem', 'b.pem', 'c.pem', 'd.pem', 'e.pem'].map((name) => place('good', dir, name)),
    );
    // The last certificate waits for a lock this test holds, so the run is stopped mid-batch.
    await writeFile(lockPathOf(certs[4]!), `${process.pid}\n`);
    const fourthDone = shellQuote(`${certs[3]!}.ocsp`);
    const result = await onTerminal(['-S', '--jobs', '1', '--lock-timeout', '60', ...certArgs(certs)], {
      env: { ...pki.env, NO_COLOR: '1' },
      inShell: (cliCommand) =>
        `${cliCommand} & until [ -e ${fourthDone} ]; do sleep 0.1; done; sleep 0.5; kill -TERM $!; wait $!`,
    });
    assert.equal(result.exitCode, 9, result.terminal);
    assert.equal(result.terminal, '\r[1/5] 1 updated\r[2/5] 2 updated\r[3/5] 3 updated\r[4/5] 4 updated\r\n');
  });

  test('the summary is coloured; NO_COLOR turns every colour off', async () => {
    const dir = await caseDir();
    const certs = await Promise.all(['a.pem', 'b.pem', 'c.pem', 'd.pem'].map((name) => place('good', dir, name)));
    const env: NodeJS.ProcessEnv = { ...pki.env };
    delete env.NO_COLOR;
    delete env.FORCE_COLOR;
    const coloured = await onTerminal(['-S', ...certArgs(certs)], { env });
    assert.equal(coloured.exitCode, 0);
    assert.match(coloured.terminal, /\x1b\[32mupdated\x1b\[39m {2}good/);
    assert.match(coloured.terminal, /^\r\[1\/4\] 1 updated\r/);

    const plain = await onTerminal(['-S', ...certArgs(certs)], { env: { ...env, NO_COLOR: '1' } });
    assert.equal(plain.exitCode, 0);
    assert.doesNotMatch(plain.terminal, ansiEscape);
    assert.match(plain.terminal, /^\r\[1\/4\] 1 updated\r.*\[4\/4\] 4 updated\r\n/s);
    assert.match(plain.terminal, /^4 certificates: 4 updated\r$/m);
  });

  for (const [what, extra, count] of [
    ['three certificates', [], 3],
    ['--quiet', ['--quiet'], 4],
    ['--json', ['--json'], 4],
    ['-d', ['-d'], 4],
  ] as const) {
    test(`no progress line with ${what}: stderr stays empty`, async () => {
      const dir = await caseDir();
      const names = ['a.pem', 'b.pem', 'c.pem', 'd.pem'].slice(0, count);
      const certs = await Promise.all(names.map((name) => place('good', dir, name)));
      const stdoutFile = path.join(dir, 'stdout');
      const result = await onTerminal(['-S', ...extra, ...certArgs(certs)], { inShell: stdoutTo(stdoutFile) });
      assert.equal(result.exitCode, 0);
      assert.equal(result.terminal, '');
      const printed = await readFile(stdoutFile, 'utf8');
      if (extra[0] === '--quiet') assert.equal(printed, '');
      else assert.notEqual(printed, '', 'the report went to stdout');
    });
  }
});

describe('--json', () => {
  test('one JSON document: every action, status and exit code, totals, input order with --jobs 4', async () => {
    const dir = await caseDir();
    const fresh = await place('good', dir, 'fresh.pem');
    const first = await cli(['-S', '--cert', fresh]);
    assert.equal(first.exitCode, 0, first.stderr);
    const certs = [
      fresh,
      await place('good', dir, 'good.pem'),
      await place('revoked', dir, 'revoked.pem'),
      path.join(dir, 'missing.pem'),
      await place('noUrl', dir, 'no-url.pem'),
      await place('unknownToResponder', dir, 'unknown.pem'),
      await place('rogue', dir, 'rogue.pem'),
      await place('goodEc', dir, 'good-ec.pem'),
    ];
    const result = await cli(['-S', '--skip-fresh', '--json', '--jobs', '4', ...certArgs(certs)]);
    assert.equal(result.exitCode, 1, result.stderr);
    const report = jsonReport(result);
    assertWellFormed(report);
    assert.deepEqual(report.results.map(outcomeOf), [
      [certs[0], 'skipped-fresh', 'good', 0],
      [certs[1], 'updated', 'good', 0],
      [certs[2], 'revoked', 'revoked', 0],
      [certs[3], 'failed', null, 1],
      [certs[4], 'skipped-no-url', null, 0],
      // Stapling an `unknown` status is refused outright, unlike the original.
      [certs[5], 'failed', null, 4],
      [certs[6], 'failed', null, 4],
      [certs[7], 'updated', 'good', 0],
    ]);
    assert.deepEqual(
      report.results.map((entry) => entry.message),
      [
        'the response in place is still fresh',
        'new response in place',
        'new response in place: the certificate is revoked',
        missingFileMessage(certs[3]!),
        'no OCSP URL in the certificate',
        unknownMessage,
        rogueMessage,
        'new response in place',
      ],
    );
    assert.deepEqual(
      report.totals,
      totals({ updated: 2, revoked: 1, 'skipped-fresh': 1, 'skipped-no-url': 1, failed: 3 }, 8),
    );
    for (const entry of report.results.filter((entry) => entry.thisUpdate !== null)) {
      assert.ok(Date.parse(entry.nextUpdate!) > Date.parse(entry.thisUpdate!), entry.cert);
      assert.ok(Date.parse(entry.thisUpdate!) <= Date.now(), entry.cert);
    }
    // The failures are still reported on stderr.
    assert.match(result.stderr, new RegExp(`^${escapeRegExp(certError(certs[6]!, rogueMessage))}$`, 'm'));
  });

  test('a run that stops before any certificate (exit 9): still one JSON document, naming the error', async () => {
    const missing = path.join(await caseDir(), 'missing');
    for (const [args, message] of [
      [['--dir', missing], `--dir ${missing}: no such file or directory`],
      [['--jobs', '0', '--cert', 'x.pem'], '--jobs wants a whole number from 1 to 1024, got: 0'],
    ] as const) {
      const result = await cli(['-S', '--json', ...args]);
      assert.equal(result.exitCode, 9);
      assert.deepEqual(JSON.parse(result.stdout), { error: { exitCode: 9, message } });
      assert.equal(result.stderr, `Error: ${message}\nRun hapos-upd -h for help\n`);
    }
  });

  test('one --cert with --json: a document with one result', async () => {
    const cert = await place('good', await caseDir(), 'site.pem');
    const report = jsonReport(await cli(['-S', '--json', '--cert', cert]));
    assertWellFormed(report);
    assert.deepEqual(report.results.map(outcomeOf), [[cert, 'updated', 'good', 0]]);
    assert.deepEqual(report.totals, totals({ updated: 1 }, 1));
  });

  test('-d --json: stdout is still one JSON document, results `checked`', async () => {
    const dir = await caseDir();
    const certs = [await place('good', dir, 'a.pem'), await place('revoked', dir, 'b.pem')];
    const result = await cli(['-d', '--json', ...certArgs(certs)]);
    assert.equal(result.exitCode, 0, result.stderr);
    const report = jsonReport(result);
    assertWellFormed(report);
    assert.deepEqual(report.results.map(outcomeOf), [
      [certs[0], 'checked', 'good', 0],
      [certs[1], 'checked', 'revoked', 0],
    ]);
    assert.deepEqual(report.totals, totals({ checked: 2 }, 2));
  });
});

describe('--skip-fresh', () => {
  test('a fresh response of our own in place: skipped, nothing asked, nothing written', async () => {
    const cert = await place('good', await caseDir(), 'site.pem');
    const first = await cli(['-S', '--cert', cert]);
    assert.equal(first.exitCode, 0, first.stderr);
    const stapled = await readFile(`${cert}.ocsp`);
    const before = await requestCount(pki.responders.delegated);

    const second = await cli(['-S', '--skip-fresh', '--json', '--cert', cert]);
    assert.equal(second.exitCode, 0, second.stderr);
    const [entry] = jsonReport(second).results;
    assert.equal(entry?.action, 'skipped-fresh');
    assert.equal(entry?.certStatus, 'good');
    const single = parseOcspResponse(stapled);
    assert.ok(single.responseStatus === 'successful');
    assert.equal(entry?.thisUpdate, single.responses[0]!.thisUpdate.toISOString());
    assert.equal(entry?.nextUpdate, single.responses[0]!.nextUpdate?.toISOString());
    assert.equal(await requestCount(pki.responders.delegated), before, 'no request to the responder');
    assert.deepEqual(await readFile(`${cert}.ocsp`), stapled);

    const third = await cli(['-S', '--json', '--cert', cert]);
    assert.equal(jsonReport(third).results[0]?.action, 'updated', 'without --skip-fresh it is fetched again');
    assert.equal(await requestCount(pki.responders.delegated), before + 1, 'the responder log counts requests');
  });

  test('a response with more than half of its validity ahead, signed 3 days ago for 7: skipped', async () => {
    const cert = await place('good', await caseDir(), 'site.pem');
    const inPlace = await responseSignedAt(pki, 'good', '-3d');
    await writeFile(`${cert}.ocsp`, inPlace);
    const before = await requestCount(pki.responders.delegated);
    const result = await cli(['-S', '--skip-fresh', '--json', '--cert', cert]);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.equal(jsonReport(result).results[0]?.action, 'skipped-fresh');
    assert.equal(await requestCount(pki.responders.delegated), before);
    assert.deepEqual(await readFile(`${cert}.ocsp`), inPlace);
  });

  test('a response with most of its validity over, signed 5 days ago for 7: fetched again', async () => {
    const cert = await place('good', await caseDir(), 'site.pem');
    const stale = await responseSignedAt(pki, 'good', '-5d');
    await writeFile(`${cert}.ocsp`, stale);
    const before = await requestCount(pki.responders.delegated);
    const result = await cli(['-S', '--skip-fresh', '--json', '--cert', cert]);
    assert.equal(result.exitCode, 0, result.stderr);
    const [entry] = jsonReport(result).results;
    assert.equal(entry?.action, 'updated');
    assert.ok(Date.parse(entry!.thisUpdate!) > Date.now() - 3600 * 1000, 'the new response is from now');
    assert.equal(await requestCount(pki.responders.delegated), before + 1);
    assert.notDeepEqual(await readFile(`${cert}.ocsp`), stale);
  });

  test('a fresh response saying revoked: asked again, so the revocation is reported and -g fails', async () => {
    const cert = await place('revoked', await caseDir(), 'site.pem');
    const inPlace = await responseSignedAt(pki, 'revoked', '-1d');
    const runWith = async (extra: string[]) => {
      await writeFile(`${cert}.ocsp`, inPlace);
      const before = await requestCount(pki.responders.delegated);
      const result = await cli(['-S', ...extra, '--skip-fresh', '--json', '--cert', cert]);
      assert.equal(await requestCount(pki.responders.delegated), before + 1, `${extra}: the responder is asked`);
      return { result, entry: jsonReport(result).results[0] };
    };
    const goodOnly = await runWith(['-g']);
    assert.equal(goodOnly.result.exitCode, 4);
    assert.equal(goodOnly.entry?.action, 'failed');
    assert.equal(goodOnly.result.stderr, `${certError(cert, 'OCSP response, certificate status not good')}\n`);
    const plain = await runWith([]);
    assert.equal(plain.result.exitCode, 0, plain.result.stderr);
    assert.deepEqual([plain.entry?.action, plain.entry?.certStatus], ['revoked', 'revoked']);
    assert.match(plain.result.stderr, /revoked/);
  });

  test('a fresh response saying unknown, which HAProxy would not staple: asked again', async () => {
    const cert = await place('unknownToResponder', await caseDir(), 'site.pem');
    await writeFile(`${cert}.ocsp`, await responseSignedAt(pki, 'unknownToResponder', '-1d'));
    const before = await requestCount(pki.responders.delegated);
    const result = await cli(['-S', '--skip-fresh', '--json', '--cert', cert]);
    assert.equal(await requestCount(pki.responders.delegated), before + 1);
    assert.notEqual(jsonReport(result).results[0]?.action, 'skipped-fresh');
  });

  test('a fresh response for another certificate in place: not skipped, replaced by the right one', async () => {
    const cert = await place('good', await caseDir(), 'site.pem');
    await writeFile(`${cert}.ocsp`, await fetchOcspResponse(pki, 'goodEc'));
    const result = await cli(['-S', '--skip-fresh', '--json', '--cert', cert]);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.equal(jsonReport(result).results[0]?.action, 'updated');
    assert.equal(await serialInResponse(`${cert}.ocsp`), pki.leaves.good.serialHex);
  });
});

describe('temporary files', () => {
  test('certificates that share a chain share one chain file; another chain gets its own', async () => {
    const dir = await caseDir();
    const certs = await Promise.all(
      (['good', 'otherChain', 'goodEc'] as const).map((leaf) => place(leaf, dir, `${leaf}.pem`)),
    );
    const privateTmp = await mkdtemp(path.join(workDir, 'tmp-'));
    const result = await runCli(['-S', '--keep-temp', '--json', ...certArgs(certs)], {
      env: { ...pki.env, TMPDIR: privateTmp },
    });
    assert.deepEqual(
      jsonReport(result).results.map((entry) => entry.action),
      ['updated', 'failed', 'updated'],
      result.stderr,
    );
    const [kept] = await readdir(privateTmp);
    const runTemp = path.join(privateTmp, kept!);
    const chainFiles = (await readdir(runTemp)).filter((name) => name.startsWith('chain')).sort();
    assert.deepEqual(chainFiles, ['chain-2.pem', 'chain.pem']);
    // Names follow the order certificates get there first, which concurrent jobs do not fix.
    const contents = await Promise.all(chainFiles.map((name) => readFile(path.join(runTemp, name), 'utf8')));
    const expected = await Promise.all([pki.intermediate, pki.otherIntermediate].map((pem) => readFile(pem, 'utf8')));
    assert.deepEqual(contents.sort(), expected.sort());
    // Each certificate keeps only its own files; otherChain failed verification before asking for a response.
    const ownFiles = { '1': ['ee.pem', 'ocsp.der'], '2': ['ee.pem'], '3': ['ee.pem', 'ocsp.der'] };
    for (const [certDir, expected] of Object.entries(ownFiles)) {
      assert.deepEqual((await readdir(path.join(runTemp, certDir))).sort(), expected, certDir);
    }
  });
});

describe('openssl processes', () => {
  test('a batch runs no ocsp and two verify for all (the EEs in bulk, the responder once); one --cert runs three in all', async () => {
    const dir = await caseDir();
    const certs = await Promise.all(
      (['good', 'goodEc', 'revoked'] as const).map((leaf) => place(leaf, dir, `${leaf}.pem`)),
    );
    const openssl = await recordingWrapper(dir, 'openssl', process.env.OPENSSL_BIN || 'openssl');
    const subcommandsOf = async (args: string[]) => {
      await openssl.clear();
      const result = await runCli(['-S', ...args], { env: { ...pki.env, OPENSSL_BIN: openssl.path } });
      assert.equal(result.exitCode, 0, result.stderr);
      const counts: Record<string, number> = {};
      for (const name of await openssl.firstArguments()) counts[name] = (counts[name] ?? 0) + 1;
      return counts;
    };
    assert.deepEqual(await subcommandsOf(certArgs(certs)), { version: 1, verify: 2 });
    assert.deepEqual(await subcommandsOf(['--http-client', 'openssl', ...certArgs(certs)]), {
      version: 1,
      verify: 1,
      ocsp: 3,
    });
    assert.deepEqual(await subcommandsOf(['--cert', certs[0]!]), { version: 1, verify: 1, ocsp: 1 });
  });
});

describe('--jobs', () => {
  test('--jobs 1 and --jobs 4 give the same results', async () => {
    const leaves: LeafName[] = ['good', 'revoked', 'noUrl', 'rogue', 'goodEc', 'unknownToResponder', 'expired'];
    const runWith = async (jobs: string) => {
      const dir = await caseDir();
      const certs = await Promise.all(leaves.map((leaf) => place(leaf, dir, `${leaf}.pem`)));
      certs.splice(3, 0, path.join(dir, 'missing.pem'));
      const result = await cli(['-S', '--json', '--jobs', jobs, ...certArgs(certs)]);
      const report = jsonReport(result);
      const relative = (text: string) => text.replaceAll(dir, 'DIR');
      const outcome = {
        exitCode: result.exitCode,
        results: report.results.map((entry) => [
          relative(entry.cert),
          entry.action,
          entry.certStatus,
          entry.exitCode,
          relative(entry.message),
        ]),
        totals: report.totals,
      };
      return { outcome, stderr: result.stderr };
    };
    const [oneAtATime, four] = [await runWith('1'), await runWith('4')];
    assert.deepEqual(
      four.outcome,
      oneAtATime.outcome,
      `stderr with --jobs 1:\n${oneAtATime.stderr}\nstderr with --jobs 4:\n${four.stderr}`,
    );
    assert.equal(oneAtATime.outcome.exitCode, 1);
    assert.deepEqual(
      oneAtATime.outcome.results.map(([cert, action, certStatus]) => [cert, action, certStatus]),
      [
        ['DIR/good.pem', 'updated', 'good'],
        ['DIR/revoked.pem', 'revoked', 'revoked'],
        ['DIR/noUrl.pem', 'skipped-no-url', null],
        ['DIR/missing.pem', 'failed', null],
        ['DIR/rogue.pem', 'failed', null],
        ['DIR/goodEc.pem', 'updated', 'good'],
        ['DIR/unknownToResponder.pem', 'failed', null],
        ['DIR/expired.pem', 'failed', null],
      ],
    );
  });

  for (const value of ['0', 'x', '-2', '1.5']) {
    test(`--jobs ${value}: exit 9`, async () => {
      const result = await cli(['-S', '--jobs', value, '--cert', pki.leaves.good.bundle]);
      assert.equal(result.exitCode, 9);
      assert.equal(result.stdout, '');
      assert.equal(result.stderr, programError(`--jobs wants a whole number from 1 to 1024, got: ${value}`));
    });
  }

  test('at most 4 requests at once to one responder, however many jobs', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const forwarder = await startFakeHttpServer(async (request) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        await sleep(300);
        return await answerOf(pki.responders.delegated.url, request);
      } finally {
        inFlight--;
      }
    });
    try {
      const dir = await caseDir();
      const certs = await Promise.all(
        Array.from({ length: 12 }, (_, index) => place('good', dir, `site-${index + 1}.pem`)),
      );
      const result = await cli(['-S', '--json', '--jobs', '12', '--ocsp-url', forwarder.url, ...certArgs(certs)]);
      assert.equal(result.exitCode, 0, result.stderr);
      assert.deepEqual(jsonReport(result).totals, totals({ updated: 12 }, 12));
      assert.equal(forwarder.requests.length, 12);
      assert.ok(maxInFlight <= 4, `${maxInFlight} requests in flight at once`);
      assert.ok(maxInFlight > 1, `${maxInFlight} request in flight at once: no parallel work`);
    } finally {
      await forwarder.close();
    }
  });
});

describe('sources that cannot be used: exit 9, nothing processed', () => {
  test('--dir that does not exist', async () => {
    const missing = path.join(workDir, 'no-such-dir');
    const result = await cli(['-S', '--dir', missing]);
    assert.equal(result.exitCode, 9);
    assert.equal(result.stdout, '');
    assert.equal(result.stderr, programError(`--dir ${missing}: no such file or directory`));
  });

  test('--crt-list that does not exist', async () => {
    const missing = path.join(workDir, 'no-such-list');
    const result = await cli(['-S', '--crt-list', missing]);
    assert.equal(result.exitCode, 9);
    assert.equal(result.stderr, programError(`--crt-list ${missing}: no such file or directory`));
  });

  const syntaxErrors: [string, string, string][] = [
    ['an unclosed [', 'site.pem [ocsp-update on', "unclosed '['"],
    ['a bad ocsp-update value', 'site.pem [ocsp-update yes]', "ocsp-update expects 'on' or 'off', got yes"],
  ];
  for (const [what, line, reason] of syntaxErrors) {
    test(`a crt-list with ${what}: file and line named`, async () => {
      const dir = await caseDir();
      const good = await place('good', dir, 'good.pem');
      const list = path.join(dir, 'list');
      await writeFile(list, `# certificates\ngood.pem\n${line}\n`);
      const result = await cli(['-S', '--cert', good, '--crt-list', list]);
      assert.equal(result.exitCode, 9);
      assert.equal(result.stdout, '');
      assert.equal(result.stderr, programError(`crt-list ${list}, line 3: ${reason}`));
      assert.equal(existsSync(`${good}.ocsp`), false, 'no certificate is processed');
    });
  }

  test('a --dir without certificates', async () => {
    const dir = await caseDir();
    await writeFile(path.join(dir, 'README'), 'nothing here yet\n');
    await copyFile(pki.leaves.good.key, path.join(dir, 'site.pem.key'));
    await copyFile(pki.intermediate, path.join(dir, 'site.pem.issuer'));
    const result = await cli(['-S', '--dir', dir]);
    assert.equal(result.exitCode, 9);
    assert.equal(result.stderr, programError('no certificate found in the given --dir and --crt-list'));
  });
});

describe('-d in a batch', () => {
  test("each certificate's debug lines come together under its --- header; nothing is written", async () => {
    const dir = await caseDir();
    const leaves = ['good', 'goodEc', 'revoked'] as const;
    const certs = await Promise.all(leaves.map((leaf) => place(leaf, dir, `${leaf}.pem`)));
    const before = await listing(dir);
    const result = await cli(['-d', '--jobs', '3', ...certArgs(certs)]);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.deepEqual(await listing(dir), before);

    const lines = result.stdout.split('\n');
    const tempDir = /^Temporary directory: (.+)$/.exec(lines[0]!)?.[1];
    assert.ok(tempDir, lines[0]);
    const tableStart = lines.findIndex((line) => summaryHeader.test(line));
    assert.ok(tableStart > 0, result.stdout);
    const headers = lines.flatMap((line, index) => (line.startsWith('--- ') ? [index] : []));
    assert.equal(headers[0], 1, 'the groups follow the temporary directory line');
    assert.deepEqual(
      headers.map((index) => lines[index]!.slice(4)).sort(),
      [...certs].sort(),
      'one header per certificate',
    );
    for (const [position, start] of headers.entries()) {
      const cert = lines[start]!.slice(4);
      const leaf = leaves[certs.indexOf(cert)]!;
      const group = lines.slice(start + 1, headers[position + 1] ?? tableStart);
      const fingerprint = await run('openssl', ['x509', '-noout', '-fingerprint', '-in', pki.leaves[leaf].cert]);
      assert.deepEqual(
        group.filter((line) => line.startsWith("EE certificate's fingerprint: ")),
        [`EE certificate's fingerprint: ${fingerprint.stdout.trim()}`],
        cert,
      );
      assert.deepEqual(
        group.filter((line) => line.startsWith('OCSP server URL found: ')),
        [`OCSP server URL found: ${pki.leaves[leaf].ocspUrl}`],
        cert,
      );
      const status = group.filter((line) => line.startsWith('OCSP response: '));
      assert.equal(status.length, 1, cert);
      assert.match(
        status[0]!,
        new RegExp(
          `^OCSP response: ${escapeRegExp(tempDir)}/\\d+/ee\\.pem: ${leaf === 'revoked' ? 'revoked' : 'good'}$`,
        ),
      );
      assert.equal(group.at(-1), 'Debug mode: haproxy update skipped.', cert);
      assert.equal(group.filter((line) => line.startsWith('Debug mode:')).length, 1, cert);
    }
    assert.deepEqual(
      lines.slice(tableStart + 1, tableStart + 4).map((line) => line.split(/ +/)[0]),
      ['checked', 'checked', 'checked'],
    );
    assert.equal(lines[tableStart + 4], '3 certificates: 3 checked');
  });
});
