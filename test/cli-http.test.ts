// The HTTP side of the flow: OpenSSL's client, curl and the built-in client
// (its kept-alive connections), the Host header, a real HTTP proxy, GET
// requests, and aborting a run that waits on the network.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createTestPki, openssl, type TestPki } from './helpers/pki.ts';
import { KeptAliveConnections } from '../lib/responder/http-client.ts';
import { parseOcspResponse } from '../lib/pki/ocsp-response.ts';
import {
  answerOf,
  startFakeHttpServer,
  startKeepAliveFront,
  startRecordingProxy,
  type FakeHttpServer,
  type OcspResponder,
} from './helpers/responder.ts';
import { runCli, tempDirOf, httpClients } from './helpers/cli.ts';

let pki: TestPki;
let workDir: string;
/** Forwards every request to the real delegated responder, recording what the client sent. */
let forwarder: FakeHttpServer;

before(async () => {
  pki = await createTestPki();
  workDir = await mkdtemp(path.join(tmpdir(), 'hapos-upd-http-'));
  forwarder = await startFakeHttpServer((request) => answerOf(pki.responders.delegated.url, request));
});

after(async () => {
  await forwarder?.close();
  await pki?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

let copies = 0;
async function goodBundle(): Promise<string> {
  const target = path.join(workDir, `good-${++copies}.pem`);
  await copyFile(pki.leaves.good.bundle, target);
  return target;
}

const cli = (args: string[]) => runCli(args, { env: pki.env });

/** The Host headers of the forwarder's last request, as received (duplicates would show). */
function lastHostHeaders(): string[] {
  const raw = forwarder.requests.at(-1)?.rawHeaders ?? [];
  return raw.flatMap((value, index) => (index % 2 === 0 && value.toLowerCase() === 'host' ? [raw[index + 1]!] : []));
}

for (const { client, args: clientArgs } of httpClients) {
  describe(`with the ${client} HTTP client (${clientArgs.join(' ') || 'the default for one --cert'})`, () => {
    test('a plain update', async () => {
      const cert = await goodBundle();
      const result = await cli([...clientArgs, '-S', '--cert', cert]);
      assert.equal(result.exitCode, 0, result.stderr);
      assert.ok(existsSync(`${cert}.ocsp`));
    });

    test('--ocsp-url and --ocsp-host: one Host header, the one asked for', async () => {
      const cert = await goodBundle();
      const result = await cli([
        ...clientArgs,
        '-d',
        '--ocsp-url',
        `${forwarder.url}ocsp`,
        '--ocsp-host',
        'ocsp.hapos-upd.test',
        '--cert',
        cert,
      ]);
      assert.equal(result.exitCode, 0, result.stderr);
      assert.match(result.stdout, new RegExp(`^Using OCSP server URL from command line: ${forwarder.url}ocsp$`, 'm'));
      assert.match(result.stdout, /^Using OCSP server hostname from command line: ocsp\.hapos-upd\.test$/m);
      assert.deepEqual(lastHostHeaders(), ['ocsp.hapos-upd.test']);
      assert.equal(forwarder.requests.at(-1)?.url, '/ocsp');
      assert.equal(forwarder.requests.at(-1)?.headers['content-type'], 'application/ocsp-request');
    });

    test('without --ocsp-host the URL host is sent', async () => {
      const cert = await goodBundle();
      const result = await cli([...clientArgs, '-d', '--ocsp-url', forwarder.url, '--cert', cert]);
      assert.equal(result.exitCode, 0, result.stderr);
      assert.match(result.stdout, new RegExp(`^OCSP server hostname: 127\\.0\\.0\\.1:${forwarder.port}$`, 'm'));
      const [host, ...others] = lastHostHeaders();
      assert.deepEqual(others, []);
      assert.match(host!, /^127\.0\.0\.1(:\d+)?$/);
    });

    test('--ocsp-proxy sends an absolute-URI request to the proxy', async () => {
      const proxy = await startRecordingProxy();
      try {
        const cert = await goodBundle();
        const result = await cli([...clientArgs, '-S', '--ocsp-proxy', proxy.url, '--cert', cert]);
        assert.equal(result.exitCode, 0, result.stderr);
        assert.equal(proxy.requests.length, 1);
        const [request] = proxy.requests;
        assert.match(request!.requestLine, new RegExp(`^POST ${escape(pki.leaves.good.ocspUrl!)} HTTP/1\\.[01]$`));
        assert.equal(request!.forwarded, true);
        assert.ok(existsSync(`${cert}.ocsp`));
      } finally {
        await proxy.close();
      }
    });
  });
}

describe('the built-in client', () => {
  const batchOf = async (count: number) => Promise.all(Array.from({ length: count }, () => goodBundle()));
  const certArgs = (certs: readonly string[]) => certs.flatMap((cert) => ['--cert', cert]);

  test('a batch uses it by default and keeps its connections alive: 8 requests over at most 4 connections', async () => {
    const certs = await batchOf(8);
    const [requestsBefore, connectionsBefore] = [forwarder.requests.length, forwarder.connections];
    const result = await cli(['-S', '-q', '--ocsp-url', forwarder.url, ...certArgs(certs)]);
    assert.equal(result.exitCode, 0, result.stderr);
    for (const cert of certs) assert.ok(existsSync(`${cert}.ocsp`));
    assert.equal(forwarder.requests.length - requestsBefore, 8);
    const connections = forwarder.connections - connectionsBefore;
    assert.ok(connections >= 1 && connections <= 4, `${connections} connections`);
    assert.deepEqual(
      new Set(forwarder.requests.slice(requestsBefore).map((request) => request.method)),
      new Set(['GET']),
      'a batch asks by GET first (RFC 5019)',
    );
  });

  test('--post: a batch asks by POST only', async () => {
    const certs = await batchOf(3);
    const requestsBefore = forwarder.requests.length;
    const result = await cli(['-S', '-q', '--post', '--ocsp-url', forwarder.url, ...certArgs(certs)]);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.deepEqual(
      forwarder.requests.slice(requestsBefore).map((request) => request.method),
      ['POST', 'POST', 'POST'],
    );
  });

  test('a host that refused a GET is asked by POST for the rest of the batch: 12 certificates, at most 4 GETs', async (t) => {
    const postOnly = await startFakeHttpServer(async (request) =>
      request.method === 'POST'
        ? answerOf(pki.responders.delegated.url, request)
        : { status: 405, headers: { 'Content-Type': 'text/plain' }, body: 'POST only' },
    );
    t.after(() => postOnly.close());
    const certs = await batchOf(12);
    const result = await cli(['-S', '-q', '--ocsp-url', postOnly.url, ...certArgs(certs)]);
    assert.equal(result.exitCode, 0, result.stderr);
    const methods = postOnly.requests.map((request) => request.method);
    const gets = methods.filter((method) => method === 'GET').length;
    assert.equal(methods.filter((method) => method === 'POST').length, 12);
    // Up to 4 GETs may be in flight before the first refusal comes back.
    assert.ok(gets >= 1 && gets <= 4, `${gets} GETs`);
  });

  test("OpenSSL's client, chosen for a batch, opens one connection per request and asks by POST", async () => {
    const certs = await batchOf(3);
    const connectionsBefore = forwarder.connections;
    const result = await cli(['-S', '-q', '--http-client', 'openssl', '--ocsp-url', forwarder.url, ...certArgs(certs)]);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.equal(forwarder.connections - connectionsBefore, 3);
  });

  test("a single --cert still uses OpenSSL's client, as the original did: HTTP/1.0, no kept-alive connection", async () => {
    const cert = await goodBundle();
    const result = await cli(['-S', '--ocsp-url', forwarder.url, '--cert', cert]);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.equal(forwarder.requests.at(-1)?.httpVersion, '1.0');
  });

  test('the request is the one openssl would send, over HTTP/1.1 with the OCSP media type', async () => {
    const cert = await goodBundle();
    const result = await cli(['-S', '--http-client', 'builtin', '--ocsp-url', forwarder.url, '--cert', cert]);
    assert.equal(result.exitCode, 0, result.stderr);
    const sent = forwarder.requests.at(-1)!;
    assert.equal(sent.httpVersion, '1.1');
    assert.equal(sent.method, 'POST');
    assert.equal(sent.headers['content-type'], 'application/ocsp-request');
    assert.deepEqual(sent.body, await opensslRequestFor(cert));
  });
});

test("the built-in client's connection, kept alive through a CDN-like front, carries a POST, a GET and a POST to the real responder", async () => {
  const responder = pki.responders.delegated;
  const front = await startKeepAliveFront([{ host: '127.0.0.1', port: responder.port }]);
  const connections = new KeptAliveConnections(1);
  try {
    const request = await opensslRequestFor(await goodBundle());
    // RFC 6960 appendix A.1: the base64 of the DER, URL-encoded, after the URL.
    const getUrl = `${front.url}${encodeURIComponent(request.toString('base64'))}`;
    const exchanges = [
      { url: front.url, method: 'POST', body: request },
      { url: getUrl, method: 'GET' },
      { url: front.url, method: 'POST', body: request },
    ] as const;
    for (const exchange of exchanges) {
      const body = await connections.exchange({ ...exchange, timeoutMs: 5000 });
      assert.equal(parseOcspResponse(body).responseStatus, 'successful');
    }
    assert.deepEqual([front.requests, front.connections], [3, 1], 'three requests, one connection');
  } finally {
    connections.close();
    await front.close();
  }
});

/** What `openssl ocsp -no_nonce -reqout` writes for CERT's EE under the test intermediate. */
async function opensslRequestFor(cert: string): Promise<Buffer> {
  const written = path.join(await mkdtemp(path.join(workDir, 'request-')), 'request.der');
  await openssl(['ocsp', '-issuer', pki.intermediate, '-cert', cert, '-no_nonce', '-reqout', written]);
  return readFile(written);
}

/** The requests RESPONDER (the real openssl one) logged, once COUNT of them are in: its log comes on a pipe. */
async function requestLinesOf(responder: OcspResponder, count: number): Promise<readonly string[]> {
  for (let waited = 0; responder.requests.length < count && waited < 2000; waited += 20) await sleep(20);
  return responder.requests;
}

describe('--get (RFC 5019)', () => {
  for (const { client, args: clientArgs } of httpClients.filter(({ client }) => client !== 'openssl')) {
    test(`through ${client}: the real responder is asked by GET, the request base64- and URL-encoded after its URL`, async () => {
      const responder = pki.responders.delegated;
      const cert = await goodBundle();
      const before = responder.requests.length;
      const result = await cli([...clientArgs, '--get', '-S', '--ocsp-url', responder.url, '--cert', cert]);
      assert.equal(result.exitCode, 0, result.stderr);
      assert.ok(existsSync(`${cert}.ocsp`));
      const lines = (await requestLinesOf(responder, before + 1)).slice(before);
      assert.equal(lines.length, 1, lines.join('\n'));
      const get = /^GET \/(\S+) HTTP\/1\.1$/.exec(lines[0]!);
      assert.ok(get, lines[0]);
      assert.match(get[1]!, /^[A-Za-z0-9%]+$/, 'base64 with +, / and = URL-encoded');
      assert.deepEqual(Buffer.from(decodeURIComponent(get[1]!), 'base64'), await opensslRequestFor(cert));
    });

    test(`through ${client}: a GET answered 405 is asked again by POST, whose answer is taken`, async (t) => {
      const postOnly = await startFakeHttpServer(async (request) => {
        if (request.method !== 'POST')
          return { status: 405, headers: { 'Content-Type': 'text/plain' }, body: 'POST only' };
        return answerOf(pki.responders.delegated.url, request);
      });
      t.after(() => postOnly.close());
      const cert = await goodBundle();
      const result = await cli([...clientArgs, '--get', '-d', '--ocsp-url', postOnly.url, '--cert', cert]);
      assert.equal(result.exitCode, 0, result.stderr);
      assert.deepEqual(
        postOnly.requests.map((request) => request.method),
        ['GET', 'POST'],
      );
      const said = client === 'curl' ? 'HTTP 405' : 'HTTP 405 Method Not Allowed';
      assert.match(result.stdout, new RegExp(`^OCSP request with GET answered ${said}; asking again with POST$`, 'm'));
      assert.match(result.stdout, /^OCSP response: .*: good$/m);
    });

    test(`through ${client}: a GET answered malformedRequest is asked again by POST`, async (t) => {
      const malformedRequest = Buffer.from([0x30, 0x03, 0x0a, 0x01, 0x01]);
      const postOnly = await startFakeHttpServer(async (request) =>
        request.method === 'POST' ? answerOf(pki.responders.delegated.url, request) : { body: malformedRequest },
      );
      t.after(() => postOnly.close());
      const result = await cli([
        ...clientArgs,
        '--get',
        '-d',
        '--ocsp-url',
        postOnly.url,
        '--cert',
        await goodBundle(),
      ]);
      assert.equal(result.exitCode, 0, result.stderr);
      assert.deepEqual(
        postOnly.requests.map((request) => request.method),
        ['GET', 'POST'],
      );
      assert.match(result.stdout, /^OCSP request with GET answered malformedRequest; asking again with POST$/m);
    });

    test(`through ${client}: a GET that gets no answer at all is not asked again by POST`, async (t) => {
      const hanging = await startFakeHttpServer(() => 'hang');
      t.after(() => hanging.close());
      const cert = await goodBundle();
      const started = performance.now();
      const result = await cli([
        ...clientArgs,
        '--get',
        '-S',
        '--timeout',
        '1',
        '--retries',
        '0',
        '--ocsp-url',
        hanging.url,
        '--cert',
        cert,
      ]);
      assert.equal(result.exitCode, 1);
      assert.equal(
        result.stderr,
        `Error processing '${cert}': can't receive the OCSP server response: no answer before the timeout\n`,
      );
      assert.deepEqual(
        hanging.requests.map((request) => request.method),
        ['GET'],
      );
      assert.ok(performance.now() - started < 5000);
    });

    test(`through ${client}: a request whose GET URL would pass 255 bytes goes by POST`, async () => {
      const longPath = `${forwarder.url}${'p'.repeat(200)}`;
      const before = forwarder.requests.length;
      const result = await cli([...clientArgs, '--get', '-d', '--ocsp-url', longPath, '--cert', await goodBundle()]);
      assert.equal(result.exitCode, 0, result.stderr);
      assert.deepEqual(
        forwarder.requests.slice(before).map((request) => [request.method, request.url]),
        [['POST', `/${'p'.repeat(200)}`]],
      );
      assert.match(result.stdout, /^OCSP request too long for a GET \(over 255 bytes\): sent with POST$/m);
    });
  }

  test("with OpenSSL's client, which sends POST only: exit 9, one line", async () => {
    const result = await cli(['--get', '--http-client', 'openssl', '--cert', await goodBundle()]);
    assert.equal(result.exitCode, 9);
    assert.equal(
      result.stderr,
      "Error: --get cannot be combined with --http-client openssl: OpenSSL's client sends POST only\nRun hapos-upd -h for help\n",
    );
  });
});

describe('aborting', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    test(`${signal} prints Aborting, removes the temporary directory and exits 9`, async () => {
      const hanging = await startFakeHttpServer(() => 'hang');
      try {
        const cert = await goodBundle();
        let signalled = false;
        const result = await runCli(['-d', '--timeout', '30', '--ocsp-url', hanging.url, '--cert', cert], {
          env: pki.env,
          onStdout: (stdout, child) => {
            if (!signalled && stdout.includes('Extracting chain from certificates bundle')) {
              signalled = true;
              // Give the run time to reach the OCSP request, which hangs.
              setTimeout(() => child.kill(signal), 300);
            }
          },
        });
        assert.ok(signalled, result.stdout);
        assert.equal(result.exitCode, 9, result.stderr);
        assert.ok(result.stdout.endsWith('Aborting\n'), result.stdout);
        const tempDir = tempDirOf(result.stdout)!;
        assert.equal(existsSync(tempDir), false);
        assert.deepEqual(
          (await readdir(workDir)).filter((name) => name.startsWith(path.basename(cert))),
          [path.basename(cert)],
        );
      } finally {
        await hanging.close();
      }
    });
  }
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
