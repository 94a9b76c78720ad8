import { test } from 'node:test';
import assert from 'node:assert/strict';
import { explicitTrustOnlyArgs, hostHeaderArgs, Openssl, sendsOwnHostHeader } from '../lib/openssl/openssl.ts';

const v = (major: number, minor: number) => ({ major, minor });

test('the Host header takes the syntax of each OpenSSL generation', () => {
  assert.deepEqual(hostHeaderArgs(v(0, 9), 'ocsp.example'), ['-header', 'Host=ocsp.example']);
  assert.deepEqual(hostHeaderArgs(v(1, 0), 'ocsp.example'), ['-header', 'Host', 'ocsp.example']);
  assert.deepEqual(hostHeaderArgs(v(1, 1), 'ocsp.example'), ['-header', 'Host=ocsp.example']);
  assert.deepEqual(hostHeaderArgs(v(3, 0), 'ocsp.example:8080'), ['-header', 'Host=ocsp.example:8080']);
});

test('only OpenSSL before 1.1 needs the Host header spelled out', () => {
  assert.deepEqual([v(0, 9), v(1, 0), v(1, 1), v(3, 0), v(3, 5)].map(sendsOwnHostHeader), [
    false,
    false,
    true,
    true,
    true,
  ]);
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
