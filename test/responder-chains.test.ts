import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ResponderChains } from '../lib/openssl/responder-chains.ts';
import { FakeOpenssl } from './helpers/in-process.ts';

test('a responder found trusted is verified once per run; one that was not is asked about again', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'hapos-upd-responders-'));
  try {
    const verdicts = [1, 0];
    const openssl = new FakeOpenssl({
      verifyWith: (args) => {
        const signerFile = args.at(-1)!;
        return verdicts.shift() === 0
          ? { exitCode: 0, stdout: `${signerFile}: OK\n`, stderr: '' }
          : { exitCode: 2, stdout: '', stderr: `error ${signerFile}: verification failed\n` };
      },
    });
    const chains = new ResponderChains(openssl, dir);
    const trust = path.join(dir, 'trust.pem');
    await writeFile(trust, 'TRUST PEM\n');
    const ask = () => chains.trusts('SIGNER PEM\n', '', trust);
    assert.equal(await ask(), false, 'the first run fails');
    assert.equal(await ask(), true, 'asked again');
    assert.equal(await ask(), true, 'remembered');
    assert.equal(openssl.callsOf('verifyWith').length, 2);
    const [args] = openssl.callsOf('verifyWith').map((call) => call.args);
    assert.deepEqual(args!.slice(0, 4), ['-purpose', 'ocsphelper', '-CAfile', trust]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
