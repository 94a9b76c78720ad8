import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { explicitTrustOnlyArgs, Openssl } from '../lib/openssl/openssl.ts';

const v = (major: number, minor: number) => ({ major, minor });

/**
 * An `openssl` that says it is VERSION and writes the arguments of any other
 * call to `args`, one a line: what the flow asks of each OpenSSL generation.
 */
async function withFakeOpenssl(
  version: string,
  use: (openssl: Openssl, lastArgs: () => Promise<string[]>) => Promise<void>,
): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'hapos-fake-openssl-'));
  try {
    const binary = path.join(dir, 'openssl');
    const argsFile = path.join(dir, 'args');
    await writeFile(
      binary,
      `#!/bin/sh\n[ "$1" = version ] && { echo 'OpenSSL ${version}  1 Jan 2020'; exit 0; }\nprintf '%s\\n' "$@" > '${argsFile}'\n`,
      { mode: 0o755 },
    );
    const openssl = await Openssl.detect(binary);
    assert.ok(openssl, `a fake OpenSSL ${version}`);
    await use(openssl, async () => (await readFile(argsFile, 'utf8')).split('\n').slice(0, -1));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The arguments `openssl ocsp` gets between the URL and the trust settings: the Host header's, if any. */
async function hostHeaderArgsOf(version: string, hostHeader: string | undefined): Promise<string[]> {
  let header: string[] = [];
  await withFakeOpenssl(version, async (openssl, lastArgs) => {
    await openssl.fetchResponse({
      issuer: 'chain.pem',
      cert: 'ee.pem',
      partialChain: false,
      nonce: false,
      url: 'http://ocsp.example/',
      ...(hostHeader !== undefined && { hostHeader }),
      responseOut: 'response.der',
      timeoutSeconds: 10,
      verification: { caFile: 'chain.pem', verify: true },
    });
    const args = await lastArgs();
    header = args.slice(args.indexOf('-url') + 2, args.indexOf('-CAfile'));
  });
  return header;
}

test('the Host header takes the syntax of each OpenSSL generation', async () => {
  assert.deepEqual(await hostHeaderArgsOf('0.9.8zh', 'ocsp.example'), ['-header', 'Host=ocsp.example']);
  assert.deepEqual(await hostHeaderArgsOf('1.0.2k', 'ocsp.example'), ['-header', 'Host', 'ocsp.example']);
  assert.deepEqual(await hostHeaderArgsOf('1.1.1w', 'ocsp.example'), ['-header', 'Host=ocsp.example']);
  assert.deepEqual(await hostHeaderArgsOf('3.0.13', 'ocsp.example:8080'), ['-header', 'Host=ocsp.example:8080']);
  assert.deepEqual(await hostHeaderArgsOf('3.0.13', undefined), []);
});

test('a nonce only with --nonce, the request then written where its nonce can be read; never in the separate check', async () => {
  await withFakeOpenssl('3.0.13', async (openssl, lastArgs) => {
    const chain = { issuer: 'chain.pem', cert: 'ee.pem', partialChain: false };
    const fetchArgs = {
      ...chain,
      url: 'http://ocsp.example/',
      responseOut: 'response.der',
      timeoutSeconds: 10,
      verification: { caFile: 'chain.pem', verify: true },
    };
    const requestPart = async () => {
      const args = await lastArgs();
      return args.slice(
        args.indexOf('-issuer'),
        args.findIndex((arg) => arg === '-respout' || arg === '-respin'),
      );
    };
    await openssl.fetchResponse({ ...fetchArgs, nonce: false });
    assert.deepEqual(await requestPart(), ['-issuer', 'chain.pem', '-cert', 'ee.pem', '-no_nonce']);
    await openssl.fetchResponse({ ...fetchArgs, nonce: true, requestOut: 'request.der' });
    assert.deepEqual(await requestPart(), ['-issuer', 'chain.pem', '-cert', 'ee.pem', '-reqout', 'request.der']);
    await openssl.writeRequest({ ...chain, nonce: true, requestOut: 'request.der' });
    assert.deepEqual(await lastArgs(), ['ocsp', '-issuer', 'chain.pem', '-cert', 'ee.pem', '-reqout', 'request.der']);
    await openssl.writeRequest({ ...chain, nonce: false, requestOut: 'request.der' });
    assert.deepEqual(await lastArgs(), [
      'ocsp', '-issuer', 'chain.pem', '-cert', 'ee.pem', '-no_nonce', '-reqout', 'request.der',
    ]); // prettier-ignore
    await openssl.checkResponse({ ...chain, responseIn: 'response.der', verification: fetchArgs.verification });
    assert.deepEqual(await requestPart(), ['-issuer', 'chain.pem', '-cert', 'ee.pem', '-no_nonce']);
  });
});

test('only OpenSSL before 1.1 needs the Host header spelled out', async () => {
  const needsExplicitHost: boolean[] = [];
  for (const version of ['0.9.8zh', '1.0.2k', '1.1.1w', '3.0.13', '3.5.0']) {
    await withFakeOpenssl(version, async (openssl) => {
      needsExplicitHost.push(openssl.needsExplicitHost);
    });
  }
  assert.deepEqual(needsExplicitHost, [true, true, false, false, false]);
});

test('the default CA directory and store are turned off as each OpenSSL generation allows', () => {
  assert.deepEqual([v(1, 0), v(1, 1), v(3, 0)].map(explicitTrustOnlyArgs), [
    [],
    ['-no-CApath'],
    ['-no-CApath', '-no-CAstore'],
  ]);
});

test('the openssl binary is detected with its version', async () => {
  const openssl = await Openssl.detect('openssl');
  assert.ok(openssl);
  assert.ok(openssl.version.major >= 1);
  assert.equal(openssl.needsExplicitHost, false);
  assert.equal(await Openssl.detect('/nonexistent/openssl'), undefined);
  assert.equal(await Openssl.detect('true'), undefined, 'a program that prints no OpenSSL version');
});
