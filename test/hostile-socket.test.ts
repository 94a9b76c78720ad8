// End-to-end runs of the built CLI against an admin socket that misbehaves
// as no real HAProxy would: floods, a reply of 64 MB, binary bytes, a list
// of 200,000 certificates, silence. Each must end in bounded time and memory
// with exit 5 and one escaped error line, the lock released, the temporary
// directory removed, and the certificate's files either as they were or
// holding the new response whole (they are written before HAProxy is told).
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseOcspResponse } from '../lib/pki/ocsp-response.ts';
import { assertTempDirRemoved, certError, leftoversIn, privateTempDir } from './helpers/aftermath.ts';
import { CLI_PATH, type CliRun } from './helpers/cli.ts';
import {
  startFakeHaproxy,
  text,
  unknownCommand,
  type FakeHaproxy,
  type FakeReply,
  type FakeScript,
} from './helpers/fake-haproxy.ts';
import { createTestPki, fetchOcspResponse, type TestPki } from './helpers/pki.ts';

let pki: TestPki;
let workDir: string;
/** A valid response for the `good` leaf, standing for the one a previous run left in place. */
let responseInPlace: Buffer;
/** How `show ssl cert NAME` identifies the `good` leaf. */
let sha1Fingerprint: string;

before(async () => {
  pki = await createTestPki();
  workDir = await mkdtemp(path.join(tmpdir(), 'hapos-upd-hostile-socket-'));
  responseInPlace = await fetchOcspResponse(pki, 'good');
  sha1Fingerprint = new X509Certificate(await readFile(pki.leaves.good.cert)).fingerprint.replace(/:/g, '');
});

after(async () => {
  await pki?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

const MiB = 1024 * 1024;
const mismatch = 'OCSP single response: Certificate ID does not match any certificate or issuer.\n';

/** A worker's admin socket that answers `set ssl ocsp-response` with REPLY. */
const answeringUpdatesWith =
  (reply: FakeReply): FakeScript =>
  (command) =>
    command.startsWith('set ssl ocsp-response') ? reply : unknownCommand;

/** Several hundred MB, unless the client hangs up first. */
const flood: FakeReply = { kind: 'flood', chunk: Buffer.alloc(64 * 1024, 'A'), totalBytes: 768 * MiB };

async function fakeHaproxy(t: TestContext, script: FakeScript): Promise<FakeHaproxy> {
  const fake = await startFakeHaproxy(script);
  t.after(() => fake.close());
  return fake;
}

/** The `good` leaf as a crt file in a directory of its own, with what a previous run left beside it. */
async function placeSite(): Promise<string> {
  const cert = path.join(await mkdtemp(path.join(workDir, 'site-')), 'site.pem');
  await copyFile(pki.leaves.good.bundleWithKey, cert);
  await writeFile(`${cert}.ocsp`, responseInPlace);
  await copyFile(pki.intermediate, `${cert}.issuer`);
  return cert;
}

interface WatchedRun extends CliRun {
  readonly elapsedMs: number;
  /** The CLI's peak resident memory (VmHWM), in MiB. */
  readonly peakMiB: number;
}

/** Runs the built CLI with a private TMPDIR, which must be empty afterwards, and watches its peak memory. */
async function runWatched(args: string[], env: NodeJS.ProcessEnv = {}): Promise<WatchedRun> {
  const privateTmp = await privateTempDir(workDir);
  const startedAt = Date.now();
  const child = spawn(process.execPath, [CLI_PATH, '--retries', '0', ...args], {
    env: { ...pki.env, TMPDIR: privateTmp, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let peakKiB = 0;
  const watch = setInterval(() => {
    try {
      const hwm = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1];
      peakKiB = Math.max(peakKiB, Number(hwm ?? 0));
    } catch {
      // The CLI has just exited.
    }
  }, 20);
  // Whatever happens, the CLI does not outlive the test by much.
  const killer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const [exitCode, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, killedBy) => resolve([code, killedBy]));
  });
  clearInterval(watch);
  clearTimeout(killer);
  await assertTempDirRemoved(privateTmp);
  return { exitCode, signal, stdout, stderr, elapsedMs: Date.now() - startedAt, peakMiB: Math.round(peakKiB / 1024) };
}

/** What every hostile reply must come to: exit 5, exactly this one line, in time, and the site intact. */
async function assertFailedCleanly(
  t: TestContext,
  result: WatchedRun,
  cert: string,
  expected: { socket: string; reason: string; withinMs: number },
): Promise<void> {
  t.diagnostic(`${result.elapsedMs} ms, peak memory ${result.peakMiB} MiB`);
  assert.equal(
    result.stderr,
    certError(cert, `can't update haproxy ssl ocsp-response using ${expected.socket} socket (${expected.reason})`),
  );
  assert.equal(result.exitCode, 5);
  assert.ok(result.elapsedMs < expected.withinMs, `${result.elapsedMs} ms`);
  assert.ok(result.peakMiB < 1024, `peak memory ${result.peakMiB} MiB`);
  await assertSiteIntact(cert);
}

/** `.issuer` as it was; `.ocsp` as it was or a whole `good` response for the leaf; no lock or temporary file. */
async function assertSiteIntact(cert: string): Promise<void> {
  assert.deepEqual(await leftoversIn(path.dirname(cert)), []);
  assert.deepEqual(await readFile(`${cert}.issuer`), await readFile(pki.intermediate));
  const written = await readFile(`${cert}.ocsp`);
  if (written.equals(responseInPlace)) return;
  const response = parseOcspResponse(written);
  assert.equal(response.responseStatus, 'successful');
  const single = response.responseStatus === 'successful' ? response.responses : [];
  assert.deepEqual(
    single.map((entry) => [entry.certStatus, entry.certId.serialNumber]),
    [['good', pki.leaves.good.serialHex]],
  );
}

const tooLarge = (socket: string) =>
  `HAProxy socket ${socket} replied more than 64 MiB to 'set ssl ocsp-response', the most a reply may hold; stopped reading`;

describe('an admin socket that misbehaves: exit 5, one escaped line, nothing left behind', { concurrency: 2 }, () => {
  test('a flood of several hundred MB is cut off at 64 MiB', async (t) => {
    const fake = await fakeHaproxy(t, answeringUpdatesWith(flood));
    const cert = await placeSite();
    const result = await runWatched(['--socket', fake.socketPath, '--cert', cert]);
    await assertFailedCleanly(t, result, cert, {
      socket: fake.socketPath,
      reason: tooLarge(fake.socketPath),
      withinMs: 30_000,
    });
    assert.ok(fake.sentBytes() < 96 * MiB, `the fake sent ${fake.sentBytes()} bytes: the CLI read on`);
  });

  test('a reply of 64 MB is read, and quoted by its first 1000 characters', async (t) => {
    const fake = await fakeHaproxy(t, answeringUpdatesWith(text('A'.repeat(64_000_000))));
    const cert = await placeSite();
    const result = await runWatched(['--socket', fake.socketPath, '--cert', cert]);
    await assertFailedCleanly(t, result, cert, {
      socket: fake.socketPath,
      reason: `HAProxy socket ${fake.socketPath} rejected the OCSP response: ${'A'.repeat(1000)}… (64000000 characters in all)`,
      withinMs: 30_000,
    });
  });

  test('binary bytes and terminal escapes are shown escaped, on one line', async (t) => {
    const reply = Buffer.concat([
      Buffer.from("\u001b[2J\u001b[31mOCSP Response updated!\u0007\r\nError processing 'x': forged\u0000"),
      Buffer.from([0xff, 0x9b, 0xc2, 0x9b]),
      Buffer.from('\u001b]0;title\u0007\n'),
    ]);
    const fake = await fakeHaproxy(t, answeringUpdatesWith(text(reply)));
    const cert = await placeSite();
    const result = await runWatched(['--socket', fake.socketPath, '--cert', cert]);
    await assertFailedCleanly(t, result, cert, {
      socket: fake.socketPath,
      reason:
        `HAProxy socket ${fake.socketPath} rejected the OCSP response: ` +
        "\\u001B[2J\\u001B[31mOCSP Response updated!\\u0007 Error processing 'x': forged\\u0000\ufffd\ufffd\\u009B\\u001B]0;title\\u0007",
      withinMs: 30_000,
    });
  });

  test('a show ssl cert of 200,000 certificates, on the first-staple path', async (t) => {
    const cert = await placeSite();
    const sameFileName = Array.from({ length: 200_000 }, (_, index) => `/srv/haproxy/sites/${index}/site.pem`);
    const list = `# filename\n${[...sameFileName.slice(0, 100_000), cert, ...sameFileName.slice(100_000)].join('\n')}\n`;
    const fake = await fakeHaproxy(t, (command) => {
      if (command.startsWith('set ssl ocsp-response')) return text(mismatch);
      if (command === 'show ssl cert\n') return text(list);
      if (command.startsWith('show ssl cert '))
        return text(`Filename: ${cert}\nSHA1 FingerPrint: ${sha1Fingerprint}\n`);
      if (command.startsWith('set ssl cert ')) return text('Transactions are disabled on this worker.\n');
      if (command.startsWith('abort ssl cert ')) return text(`Transaction aborted for certificate '${cert}'!\n`);
      return unknownCommand;
    });
    const result = await runWatched(['--socket', fake.socketPath, '--cert', cert]);
    await assertFailedCleanly(t, result, cert, {
      socket: fake.socketPath,
      reason: `can't staple ${cert} through a transaction on HAProxy socket ${fake.socketPath}: 'set ssl cert ${cert}.ocsp' answered Transactions are disabled on this worker.`,
      withinMs: 60_000,
    });
    assert.deepEqual(fake.commands.slice(-3), [
      'show ssl cert',
      `set ssl cert ${cert}.ocsp <<`,
      `abort ssl cert ${cert}`,
    ]);
  });

  test('a socket that accepts and never answers: given up after the 10 s reply timeout', async (t) => {
    const fake = await fakeHaproxy(t, answeringUpdatesWith({ kind: 'silence' }));
    const cert = await placeSite();
    const result = await runWatched(['--socket', fake.socketPath, '--cert', cert]);
    await assertFailedCleanly(t, result, cert, {
      socket: fake.socketPath,
      reason: `HAProxy socket ${fake.socketPath} did not finish replying within 10000 ms`,
      withinMs: 40_000,
    });
    assert.ok(result.elapsedMs >= 10_000, `${result.elapsedMs} ms`);
  });

  test('a socket that never answers, with --deadline 3: given up when the deadline passes, before the reply timeout', async (t) => {
    const fake = await fakeHaproxy(t, answeringUpdatesWith({ kind: 'silence' }));
    const cert = await placeSite();
    const result = await runWatched(['--deadline', '3', '--socket', fake.socketPath, '--cert', cert]);
    await assertFailedCleanly(t, result, cert, {
      socket: fake.socketPath,
      reason: `the certificate's deadline passed before HAProxy socket ${fake.socketPath} answered 'set ssl ocsp-response'`,
      withinMs: 8_000,
    });
  });

  describe('through socat', () => {
    test('a flood of several hundred MB stops socat at 64 MiB', async (t) => {
      const fake = await fakeHaproxy(t, answeringUpdatesWith(flood));
      const cert = await placeSite();
      const result = await runWatched(['--socat', '--socket', fake.socketPath, '--cert', cert]);
      await assertFailedCleanly(t, result, cert, {
        socket: fake.socketPath,
        reason: tooLarge(fake.socketPath),
        withinMs: 30_000,
      });
      assert.ok(fake.sentBytes() < 96 * MiB, `the fake sent ${fake.sentBytes()} bytes: socat read on`);
    });

    test('with -l, logger is handed the same short line', async (t) => {
      const fake = await fakeHaproxy(t, answeringUpdatesWith(flood));
      const cert = await placeSite();
      // A logger that records its message and echoes it as `logger -s` does: there may be no syslog here.
      const bin = await mkdtemp(path.join(workDir, 'bin-'));
      const calls = path.join(bin, 'logger.calls');
      await writeFile(
        path.join(bin, 'logger'),
        `#!/bin/sh\nfor last; do :; done\nprintf '%s\\n' "$last" >> '${calls}'\nprintf '%s\\n' "$last" >&2\n`,
        { mode: 0o755 },
      );
      const result = await runWatched(['-l', 'user.err', '--socat', '--socket', fake.socketPath, '--cert', cert], {
        PATH: `${bin}${path.delimiter}${process.env.PATH ?? ''}`,
      });
      const line = certError(
        cert,
        `can't update haproxy ssl ocsp-response using ${fake.socketPath} socket (${tooLarge(fake.socketPath)})`,
      );
      assert.equal(await readFile(calls, 'utf8'), `hapos-upd - ${line}`);
      assert.equal(result.stderr, `hapos-upd - ${line}`);
      assert.equal(result.exitCode, 5);
      assert.ok(result.elapsedMs < 30_000, `${result.elapsedMs} ms`);
      await assertSiteIntact(cert);
    });
  });
});
