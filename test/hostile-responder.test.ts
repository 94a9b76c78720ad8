// End-to-end runs of the built CLI against responders that answer badly on
// purpose, and against nothing at all, through every HTTP client. OCSP goes
// over plain HTTP, so whatever sits on the path can answer in the
// responder's place: each run must end soon with one error line and its exit
// code, write nothing large anywhere, leave no program running, and leave
// the certificate's directory as it was.
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from '../lib/process/run.ts';
import { OCSP_RESPONSE_MAX_BYTES } from '../lib/fs/caps.ts';
import { parseOcspResponse, type SingleResponse } from '../lib/pki/ocsp-response.ts';
import { createTestPki, fetchOcspResponse, responseSignedAt, type TestPki } from './helpers/pki.ts';
import { runCli, type CliRun, httpClients } from './helpers/cli.ts';
import {
  assertTempDirRemoved,
  certError,
  leftoversIn,
  privateTempDir,
  programsMentioning,
  snapshot,
  timed,
} from './helpers/aftermath.ts';
import { startFakeHttpServer, type FakeHandler, type FakeHttpServer } from './helpers/responder.ts';

let pki: TestPki;
let workDir: string;
/** A valid response for the `good` leaf, standing for the one a previous run left in place. */
let goodResponseInPlace: Buffer;

before(async () => {
  pki = await createTestPki();
  workDir = await mkdtemp(path.join(tmpdir(), 'hapos-upd-hostile-'));
  goodResponseInPlace = await fetchOcspResponse(pki, 'good');
});

after(async () => {
  await pki?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

const clients = httpClients;

/** A fake responder for one test, closed when the test ends. */
async function fakeResponder(t: TestContext, handler: FakeHandler): Promise<FakeHttpServer> {
  const server = await startFakeHttpServer(handler);
  t.after(() => server.close());
  return server;
}

/** The `good` leaf's bundle with what a previous successful run left beside it, in a directory of its own. */
async function placeCertificate(): Promise<string> {
  const cert = path.join(await mkdtemp(path.join(workDir, 'case-')), 'site.pem');
  await copyFile(pki.leaves.good.bundle, cert);
  await writeFile(`${cert}.ocsp`, goodResponseInPlace);
  await copyFile(pki.intermediate, `${cert}.issuer`);
  return cert;
}

/** How much the files under DIR hold, sampled until stop(): the most seen at once. */
function watchDiskUse(dir: string): { stop(): Promise<number> } {
  let peak = 0;
  let watching = true;
  const sampleEveryMs = 10;
  const maxSamples = 10_000;
  const sampling = (async () => {
    for (let samples = 0; watching && samples < maxSamples; samples++) {
      const names = await readdir(dir, { recursive: true }).catch(() => []);
      const sizes = await Promise.all(
        names.map((name) =>
          stat(path.join(dir, name)).then(
            (stats) => (stats.isFile() ? stats.size : 0),
            () => 0,
          ),
        ),
      );
      peak = Math.max(
        peak,
        sizes.reduce((sum, size) => sum + size, 0),
      );
      await sleep(sampleEveryMs);
    }
  })();
  return {
    async stop() {
      watching = false;
      await sampling;
      return peak;
    },
  };
}

interface HostileRun extends CliRun {
  readonly cert: string;
  readonly elapsedMs: number;
  /** The most the run's temporary directory held at once, in bytes. */
  readonly peakTempBytes: number;
}

/**
 * Runs the CLI (`-S`, HAProxy left alone) on a `good` bundle with a previous
 * run's `.ocsp` and `.issuer` in place, and checks what every failed run must
 * leave: those two byte for byte, no lock or temporary file, no temporary
 * directory, no openssl or curl still running.
 */
async function failedRun(args: readonly string[]): Promise<HostileRun> {
  const cert = await placeCertificate();
  const dir = path.dirname(cert);
  const before = await snapshot(dir);
  const tempDir = await privateTempDir(workDir);
  const disk = watchDiskUse(tempDir);
  const result = await timed(runCli(['-S', ...args, '--cert', cert], { env: { ...pki.env, TMPDIR: tempDir } }));
  const peakTempBytes = await disk.stop();
  assert.deepEqual(await snapshot(dir), before, 'the .ocsp and .issuer in place are untouched');
  assert.deepEqual(await leftoversIn(dir), []);
  await assertTempDirRemoved(tempDir);
  assert.deepEqual(await programsMentioning(tempDir), [], 'no openssl or curl left running');
  return { ...result, cert, peakTempBytes };
}

const notReceived = (cert: string, why: string) => certError(cert, `can't receive the OCSP server response: ${why}`);

const oversized = `a response over the ${OCSP_RESPONSE_MAX_BYTES}-byte limit`;

/** The start of a DER SEQUENCE claiming 2 GiB: what an endless body looks like to a client that reads ASN.1. */
const hugeSequenceHeader = Buffer.from([0x30, 0x84, 0x7f, 0xff, 0xff, 0xff]);

describe('bodies past the size limit', { concurrency: 2 }, () => {
  for (const { client, args } of clients) {
    test(`an endless body through ${client}: exit 1 at once, nothing large on disk`, async (t) => {
      const endless = { start: hugeSequenceHeader, bytes: 256 * 1024 ** 2, maxMs: 20_000 };
      const server = await fakeResponder(t, () => ({ streamed: endless }));
      const result = await failedRun([...args, '--retries', '0', '--ocsp-url', server.url]);
      assert.equal(result.stderr, notReceived(result.cert, oversized));
      assert.equal(result.exitCode, 1);
      assert.ok(result.elapsedMs < 5000, `took ${result.elapsedMs} ms`);
      assert.ok(
        result.peakTempBytes < OCSP_RESPONSE_MAX_BYTES,
        `the temporary directory held ${result.peakTempBytes} bytes`,
      );
      // What the kernel's socket buffers took in before the client hung up, no more.
      assert.ok(server.streamedBytes < 64 * 1024 ** 2, `the responder sent ${server.streamedBytes} bytes`);
    });

    test(`a body one byte over the limit, its length announced, through ${client}: exit 1`, async (t) => {
      const body = Buffer.alloc(OCSP_RESPONSE_MAX_BYTES + 1);
      hugeSequenceHeader.copy(body);
      const server = await fakeResponder(t, () => ({ body }));
      const result = await failedRun([...args, '--retries', '0', '--ocsp-url', server.url]);
      assert.equal(result.stderr, notReceived(result.cert, oversized));
      assert.equal(result.exitCode, 1);
      assert.ok(
        result.peakTempBytes < OCSP_RESPONSE_MAX_BYTES,
        `the temporary directory held ${result.peakTempBytes} bytes`,
      );
    });

    test(`a body one byte over the limit, its length unannounced, through ${client}: exit 1`, async (t) => {
      const server = await fakeResponder(t, () => ({
        streamed: { start: hugeSequenceHeader, bytes: OCSP_RESPONSE_MAX_BYTES + 1, maxMs: 10_000 },
      }));
      const result = await failedRun([...args, '--retries', '0', '--ocsp-url', server.url]);
      assert.equal(result.stderr, notReceived(result.cert, oversized));
      assert.equal(result.exitCode, 1);
      assert.ok(
        result.peakTempBytes < OCSP_RESPONSE_MAX_BYTES,
        `the temporary directory held ${result.peakTempBytes} bytes`,
      );
    });

    test(`a valid response of exactly the limit through ${client}: stapled`, async (t) => {
      const response = await validResponseOfSize(OCSP_RESPONSE_MAX_BYTES);
      const server = await fakeResponder(t, () => ({ body: response }));
      const cert = await placeCertificate();
      const result = await runCli([...args, '-S', '--retries', '0', '--ocsp-url', server.url, '--cert', cert], {
        env: pki.env,
      });
      assert.equal(result.stderr, '');
      assert.equal(result.exitCode, 0);
      assert.deepEqual(await readFile(`${cert}.ocsp`), response);
    });
  }
});

/**
 * A response for the `good` leaf of exactly BYTES: one filler certificate
 * with a comment of the right length rides in its certs field, which the
 * signature does not cover. RSA keys sign both, so that every signature has
 * the same length; DER length fields grow by steps, so the comment may need
 * adjusting more than once.
 */
async function validResponseOfSize(bytes: number): Promise<Buffer> {
  const dir = await mkdtemp(path.join(workDir, 'sized-'));
  const file = (name: string) => path.join(dir, name);
  const checked = async (args: string[]) => {
    const result = await run('openssl', args, { env: pki.env });
    assert.equal(result.exitCode, 0, result.stderr);
  };
  await checked([
    'ocsp',
    '-issuer',
    pki.intermediate,
    '-cert',
    pki.leaves.good.cert,
    '-no_nonce',
    '-reqout',
    file('req'),
  ]);
  let commentLength = bytes - 2000;
  for (let attempt = 0; attempt < 8; attempt++) {
    await checked([
      'req',
      '-x509',
      '-key',
      pki.leaves.good.key,
      '-subj',
      '/CN=filler',
      '-addext',
      `nsComment=${'x'.repeat(commentLength)}`,
      '-out',
      file('filler.pem'),
      '-days',
      '1',
    ]);
    await checked([
      'ocsp',
      '-index',
      pki.index,
      '-CA',
      pki.intermediate,
      '-rsigner',
      pki.intermediate,
      '-rkey',
      pki.keys.intermediate,
      '-rother',
      file('filler.pem'),
      '-reqin',
      file('req'),
      '-respout',
      file('resp'),
      '-ndays',
      '7',
    ]);
    const response = await readFile(file('resp'));
    if (response.length === bytes) return response;
    commentLength += bytes - response.length;
  }
  throw new Error(`no response of exactly ${bytes} bytes after 8 attempts`);
}

describe('foreign text in the HTTP answer', { concurrency: 3 }, () => {
  const escapes = 'Oops \u001b[31mred\u0007bell';
  const rawAnswer = (statusLine: string, contentType = 'text/plain') =>
    `${statusLine}\r\nContent-Type: ${contentType}\r\nContent-Length: 1\r\n\r\nx`;

  const cases: {
    what: string;
    raw: string;
    /** What each client's run says; a client left out adds nothing to another case. */
    reasons: Partial<Record<(typeof clients)[number]['client'], string>>;
  }[] = [
    {
      what: 'a reason phrase with ANSI escapes and BEL',
      raw: rawAnswer(`HTTP/1.0 404 ${escapes}`),
      reasons: {
        openssl: 'HTTP 404 Oops \\u001B[31mred\\u0007bell',
        curl: 'HTTP 404',
        builtin: 'HTTP 404 Oops \\u001B[31mred\\u0007bell',
      },
    },
    {
      what: 'a reason phrase of 1,000 characters',
      raw: rawAnswer(`HTTP/1.0 404 ${'R'.repeat(1000)}`),
      reasons: {
        openssl: `HTTP 404 ${'R'.repeat(76)}… (924 more characters)`,
        builtin: `HTTP 404 ${'R'.repeat(76)}… (924 more characters)`,
      },
    },
    {
      what: 'a status line of 10,000 characters',
      raw: rawAnswer(`HTTP/1.0 404 ${'L'.repeat(10_000 - 'HTTP/1.0 404 '.length)}`),
      reasons: {
        openssl: 'a malformed HTTP answer',
        curl: 'HTTP 404',
        builtin: `HTTP 404 ${'L'.repeat(76)}… (9911 more characters)`,
      },
    },
    {
      what: 'a content type of 3,000 characters with escapes',
      raw: rawAnswer('HTTP/1.0 200 OK', `text/\u001b[31m${'C'.repeat(3000)}`),
      reasons: {
        openssl: 'a body of another content type instead of an OCSP response',
        curl: `a text/\\u001B[31m${'C'.repeat(66)}… (2934 more characters) body instead of an OCSP response`,
        builtin: 'a malformed HTTP answer',
      },
    },
    {
      what: 'an answer that is not HTTP',
      raw: `\u001b[2J${escapes}\r\n\r\n`,
      reasons: {
        openssl: 'a malformed HTTP answer',
        curl: 'Received HTTP/0.9 when not allowed',
        builtin: 'a malformed HTTP answer',
      },
    },
  ];
  for (const { what, raw, reasons } of cases) {
    for (const { client, args } of clients) {
      const reason = reasons[client];
      if (reason === undefined) continue;
      test(`${what} through ${client}: exit 1, one escaped line, cut short`, async (t) => {
        const server = await fakeResponder(t, () => ({ raw }));
        const result = await failedRun([...args, '--retries', '0', '--ocsp-url', server.url]);
        assert.equal(result.stderr, notReceived(result.cert, reason));
        assert.equal(result.exitCode, 1);
        assert.ok(result.elapsedMs < 5000, `took ${result.elapsedMs} ms`);
      });
    }
  }
});

/** A port on HOST where nothing listens (it did a moment ago). */
async function closedPort(host: '127.0.0.1' | '::1'): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('refused connections', { concurrency: 2 }, () => {
  const targets = [
    { what: 'nothing listening on 127.0.0.1', url: async () => `http://127.0.0.1:${await closedPort('127.0.0.1')}/` },
    { what: 'nothing listening on [::1]', url: async () => `http://[::1]:${await closedPort('::1')}/` },
    { what: 'nothing listening on localhost', url: async () => `http://localhost:${await closedPort('127.0.0.1')}/` },
  ];
  for (const { client, args } of clients) {
    for (const { what, url } of targets) {
      test(`${what}, through ${client}: exit 1 at once, 'connection refused'`, async () => {
        // openssl's own -timeout kept retrying the connect until it expired.
        const result = await failedRun([...args, '--retries', '0', '--timeout', '10', '--ocsp-url', await url()]);
        assert.equal(result.stderr, notReceived(result.cert, 'connection refused'));
        assert.equal(result.exitCode, 1);
        assert.ok(result.elapsedMs < 5000, `took ${result.elapsedMs} ms`);
      });
    }

    test(`a proxy that refuses, through ${client}: exit 1 at once, naming the proxy`, async () => {
      const proxy = `http://127.0.0.1:${await closedPort('127.0.0.1')}`;
      const result = await failedRun([
        ...args,
        '--retries',
        '0',
        '--timeout',
        '10',
        '--ocsp-proxy',
        proxy,
        '--ocsp-url',
        `http://127.0.0.1:${await closedPort('127.0.0.1')}/`,
      ]);
      assert.equal(result.stderr, notReceived(result.cert, `connection refused (--ocsp-proxy ${proxy})`));
      assert.equal(result.exitCode, 1);
      assert.ok(result.elapsedMs < 5000, `took ${result.elapsedMs} ms`);
    });

    test(`nothing listening, through ${client} with the default retries and timeout: three quick attempts`, async () => {
      const result = await failedRun([
        ...args,
        '-d',
        '--ocsp-url',
        `http://127.0.0.1:${await closedPort('127.0.0.1')}/`,
      ]);
      assert.equal(result.stderr, notReceived(result.cert, 'connection refused'));
      assert.equal(result.exitCode, 1);
      const pauses = [
        ...result.stdout.matchAll(/^OCSP request failed \(connection refused\); retrying in (\d+\.\d) s$/gm),
      ];
      assert.equal(pauses.length, 2, result.stdout);
      // The pauses between attempts (1 s and 2 s, give or take half) are nearly all of the run.
      const pausedMs = pauses.reduce((sum, [, seconds]) => sum + Number(seconds) * 1000, 0);
      assert.ok(result.elapsedMs - pausedMs < 4000, `took ${result.elapsedMs} ms, ${pausedMs} ms of it paused`);
    });
  }

  test('a DNS name that resolves to loopback still reaches the responder, through every client', async (t) => {
    const server = await fakeResponder(t, () => ({ body: goodResponseInPlace }));
    for (const { args } of clients) {
      const cert = await placeCertificate();
      await rm(`${cert}.ocsp`);
      const result = await runCli(
        [...args, '-S', '--retries', '0', '--ocsp-url', `http://localhost:${server.port}/`, '--cert', cert],
        { env: pki.env },
      );
      assert.equal(result.stderr, '');
      assert.equal(result.exitCode, 0);
      assert.deepEqual(await readFile(`${cert}.ocsp`), goodResponseInPlace);
    }
    assert.equal(server.requests.length, clients.length);
  });
});

describe('responses outside their validity', { concurrency: 4 }, () => {
  const now = '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z';
  const iso = (date: Date | undefined) => escapeRegExp(date!.toISOString());
  const validities = [
    {
      what: 'expired (Next Update a day ago)',
      offset: '-8d',
      rule: (single: SingleResponse) =>
        `OCSP response has expired: Next Update ${iso(single.nextUpdate)} is not after now \\(${now}\\)`,
    },
    {
      what: 'not valid yet (This Update an hour ahead)',
      offset: '+1h',
      rule: (single: SingleResponse) =>
        `OCSP response is not valid yet: This Update ${iso(single.thisUpdate)} is more than 300 s after now \\(${now}\\)`,
    },
  ];
  for (const { what, offset, rule } of validities) {
    for (const { client, args } of clients) {
      for (const goodOnly of [[], ['-g']]) {
        test(`${what} through ${client}${goodOnly.length > 0 ? ' with -g' : ''}: exit 4 naming the rule`, async (t) => {
          const response = await responseSignedAt(pki, 'good', offset);
          const parsed = parseOcspResponse(response);
          assert.ok(parsed.responseStatus === 'successful' && parsed.responses[0] !== undefined);
          const server = await fakeResponder(t, () => ({ body: response }));
          const result = await failedRun([...args, ...goodOnly, '--retries', '0', '--ocsp-url', server.url]);
          const [before, after] = certError(result.cert, 'RULE').split('RULE').map(escapeRegExp);
          assert.match(result.stderr, new RegExp(`^${before}${rule(parsed.responses[0])}${after}$`));
          assert.equal(result.exitCode, 4);
        });
      }
    }
  }
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
