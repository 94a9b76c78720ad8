// The flow every packaging of the CLI is run through (the single executable,
// the Debian package): a plain update with -S against the test responder,
// and one pushed to a real HAProxy.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from '../../lib/process/run.ts';
import { runCli } from '../helpers/cli.ts';
import { fetchStapledResponse, startHaproxy, type RunningHaproxy } from '../helpers/haproxy.ts';
import { createTestPki, type TestPki } from '../helpers/pki.ts';

interface Packaged {
  /** What runs the packaged command, its arguments then appended. */
  readonly command: readonly [string, ...string[]];
  /** The environment it runs in, from the test PKI's (which names its trust store). */
  readonly env: (pki: TestPki) => NodeJS.ProcessEnv;
}

export function describeEndToEnd(packaged: Packaged): void {
  describe('end to end', () => {
    let pki: TestPki;
    let workDir: string;
    let haproxy: RunningHaproxy | undefined;

    before(async () => {
      pki = await createTestPki();
      workDir = await mkdtemp(path.join(tmpdir(), 'hapos-upd-packaged-'));
    });

    after(async () => {
      await haproxy?.stop();
      await pki?.close();
      if (workDir) await rm(workDir, { recursive: true, force: true });
    });

    const cli = (args: string[]) => runCli(args, { command: packaged.command, env: packaged.env(pki) });

    async function site(name: string): Promise<string> {
      const cert = path.join(workDir, `${name}.pem`);
      await copyFile(pki.leaves.good.bundleWithKey, cert);
      return cert;
    }

    test("-S --cert: the response written is the responder's good one for the certificate", async () => {
      const cert = await site('plain');
      const result = await cli(['-S', '--cert', cert]);
      assert.deepEqual([result.exitCode, result.stderr], [0, '']);
      const text = await run('openssl', ['ocsp', '-respin', `${cert}.ocsp`, '-noverify', '-resp_text']);
      assert.equal(text.exitCode, 0, text.stderr);
      assert.match(text.stdout, /Cert Status: good/);
    });

    test('--socket: HAProxy staples the new response', async () => {
      const cert = await site('served');
      assert.equal((await cli(['-S', '--cert', cert])).exitCode, 0);
      haproxy = await startHaproxy({ certificates: [cert] });
      const serverName = pki.leaves.good.commonName;
      const before = await fetchStapledResponse(haproxy.tlsPort, serverName);
      assert.equal(before.stapled, true);
      // A response produced within the same second would not tell old from new.
      await sleep(1100);
      const result = await cli(['--socket', haproxy.socketPath, '--cert', cert]);
      assert.deepEqual([result.exitCode, result.stderr], [0, '']);
      const stapled = await fetchStapledResponse(haproxy.tlsPort, serverName);
      assert.equal(stapled.certStatus, 'good');
      assert.notEqual(stapled.producedAt, before.producedAt, 'a new response is stapled');
    });
  });
}
