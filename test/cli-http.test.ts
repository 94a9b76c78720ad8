// The HTTP side of the flow: OpenSSL's client and curl, the Host header, a
// real HTTP proxy, and aborting a run that waits on the network.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createTestPki, type TestPki } from './helpers/pki.ts';
import { startFakeHttpServer, startRecordingProxy, type FakeHttpServer } from './helpers/responder.ts';
import { runCli, tempDirOf } from './helpers/cli.ts';

let pki: TestPki;
let workDir: string;
/** Forwards every request to the real delegated responder, recording what the client sent. */
let forwarder: FakeHttpServer;

before(async () => {
  pki = await createTestPki();
  workDir = await mkdtemp(path.join(tmpdir(), 'hapos-upd-http-'));
  forwarder = await startFakeHttpServer(async (request) => {
    const answer = await fetch(pki.responders.delegated.url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/ocsp-request' },
      body: new Uint8Array(request.body),
    });
    return { body: Buffer.from(await answer.arrayBuffer()) };
  });
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

for (const client of ['openssl', 'curl'] as const) {
  const clientArgs = client === 'curl' ? ['--use-curl'] : [];

  describe(`with ${client === 'curl' ? 'curl (--use-curl)' : "OpenSSL's HTTP client"}`, () => {
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
