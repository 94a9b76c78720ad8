import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  describeFetchFailure,
  formatOpensslDate,
  parseOpensslVersion,
  parseVerificationOutcome,
  parseVerifyError,
  reportsCertificateStatus,
} from '../lib/openssl/output.ts';

const captured = (name: string) => readFileSync(new URL(`../fixtures/openssl-output/${name}`, import.meta.url), 'utf8');

test('OpenSSL versions of every generation are recognised', () => {
  assert.deepEqual(parseOpensslVersion(captured('version-3.0.txt')), {
    major: 3,
    minor: 0,
    patch: 19,
    text: 'OpenSSL 3.0.19 27 Jan 2026 (Library: OpenSSL 3.0.19 27 Jan 2026)',
  });
  assert.equal(parseOpensslVersion(captured('version-1.1.1.txt'))?.minor, 1);
  assert.deepEqual(
    [captured('version-1.0.2.txt'), captured('version-0.9.8.txt')].map((text) => {
      const version = parseOpensslVersion(text);
      return version && [version.major, version.minor, version.patch];
    }),
    [
      [1, 0, 2],
      [0, 9, 8],
    ],
  );
});

test('a binary that is not OpenSSL is refused, as the original greps for it', () => {
  assert.equal(parseOpensslVersion(captured('version-libressl.txt')), undefined);
  assert.equal(parseOpensslVersion(''), undefined);
  assert.equal(parseOpensslVersion('bash: openssl: command not found'), undefined);
});

test('dates format as OpenSSL prints them: GMT, with one-digit days padded by a space', () => {
  assert.equal(formatOpensslDate(new Date('2015-04-17T12:29:00Z')), 'Apr 17 12:29:00 2015 GMT');
  assert.equal(formatOpensslDate(new Date('2026-12-01T09:05:07Z')), 'Dec  1 09:05:07 2026 GMT');
  assert.equal(formatOpensslDate(new Date('2030-02-28T23:59:59.750Z')), 'Feb 28 23:59:59 2030 GMT');
});

test('a status for the certificate is recognised, whichever it is', () => {
  for (const name of ['status-good-3.0.txt', 'status-revoked-3.0.txt', 'status-unknown-3.0.txt']) {
    assert.equal(reportsCertificateStatus(captured(name)), true, name);
  }
  assert.equal(reportsCertificateStatus('/tmp/x/ee.pem: good\n\tThis Update: Apr 17 12:29:00 2015 GMT\n'), true);
});

test("a status after OpenSSL's warning that its times are invalid is still a status", () => {
  assert.equal(reportsCertificateStatus(captured('status-expired-3.0.txt')), true);
  assert.equal(reportsCertificateStatus(captured('status-not-yet-valid-3.0.txt')), true);
  assert.equal(reportsCertificateStatus(captured('status-expired-3.0.txt').replace(/^good$/m, 'revoked')), true);
});

test('after the warning, only error lines may come before the status', () => {
  const forged = captured('status-expired-3.0.txt').replace(/^good$/m, 'not an error line\ngood');
  assert.equal(reportsCertificateStatus(forged), false);
});

test('text with no status is not a status report', () => {
  assert.equal(reportsCertificateStatus(''), false);
  assert.equal(reportsCertificateStatus('Responder Error: trylater (3)\n'), false);
});

test('verification verdicts of OpenSSL 1.0, 1.1 and 3.0', () => {
  assert.equal(parseVerificationOutcome(captured('verify-ok-3.0.txt')), 'verified');
  assert.equal(parseVerificationOutcome(captured('verify-ok-1.0.txt')), 'verified');
  for (const name of [
    'verify-signer-not-found-3.0.txt',
    'verify-signer-not-found-1.1.txt',
    'verify-signer-not-found-1.0.txt',
  ]) {
    assert.equal(parseVerificationOutcome(captured(name)), 'signer-not-found', name);
  }
  assert.equal(parseVerificationOutcome(captured('verify-failure-3.0.txt')), 'failed');
  assert.equal(parseVerificationOutcome('Error opening file resp.der\n'), 'absent');
});

test('why openssl got no OCSP response, from its error queue', () => {
  const expectations: Record<string, { reason: string; transient: boolean; connecting: boolean }> = {
    'fetch-http-404-3.0.txt': { reason: 'HTTP 404 Not Found', transient: false, connecting: false },
    'fetch-http-500-3.0.txt': { reason: 'HTTP 500 Internal Server Error', transient: true, connecting: false },
    'fetch-html-3.0.txt': {
      reason: 'a text/html body instead of an OCSP response',
      transient: false,
      connecting: false,
    },
    'fetch-empty-3.0.txt': {
      reason: 'an empty or truncated body instead of an OCSP response',
      transient: false,
      connecting: false,
    },
    'fetch-oversized-3.0.txt': { reason: 'a response over the 102400-byte limit', transient: false, connecting: false },
    'fetch-not-asn1-3.0.txt': {
      reason: 'a body that is not ASN.1 instead of an OCSP response',
      transient: false,
      connecting: false,
    },
    'fetch-not-http-3.0.txt': { reason: 'a malformed HTTP answer', transient: false, connecting: false },
    'fetch-long-status-line-3.0.txt': { reason: 'a malformed HTTP answer', transient: false, connecting: false },
    'fetch-http-error-long-reason-3.0.txt': { reason: 'an HTTP error status', transient: true, connecting: false },
    'fetch-long-content-type-3.0.txt': {
      reason: 'a body of another content type instead of an OCSP response',
      transient: false,
      connecting: false,
    },
    'fetch-refused-3.0.txt': { reason: 'connection refused', transient: true, connecting: true },
    'fetch-network-unreachable-3.0.txt': { reason: 'network is unreachable', transient: true, connecting: true },
    'fetch-no-route-3.0.txt': { reason: 'no route to host', transient: true, connecting: true },
    'fetch-unknown-host-3.0.txt': { reason: 'could not resolve the host name', transient: true, connecting: true },
    'fetch-http-404-3.6.txt': { reason: 'HTTP 404 Not Found', transient: false, connecting: false },
    'fetch-http-500-3.6.txt': { reason: 'HTTP 500', transient: true, connecting: false },
    'fetch-long-content-type-3.6.txt': {
      reason: 'a body of another content type instead of an OCSP response',
      transient: false,
      connecting: false,
    },
    'fetch-html-3.6.txt': {
      reason: 'a text/html body instead of an OCSP response',
      transient: false,
      connecting: false,
    },
  };
  for (const [name, expected] of Object.entries(expectations)) {
    assert.deepEqual(describeFetchFailure(captured(name)), expected, name);
  }
  assert.deepEqual(describeFetchFailure(''), { reason: 'no output from openssl', transient: true, connecting: false });
});

test("a responder's reason phrase keeps its bytes for the run log to escape, cut to 100 characters", () => {
  assert.equal(
    describeFetchFailure(captured('fetch-http-500-escapes-3.0.txt')).reason,
    'HTTP 500 Oops \u001b[31mred\u0007bell',
  );
  const longReason = captured('fetch-http-404-3.0.txt').replace('reason=Not Found', `reason=${'x'.repeat(900)}`);
  const { reason } = describeFetchFailure(longReason);
  assert.match(reason, /^HTTP 404 x+… \(\d+ more characters\)$/);
  assert.ok(reason.length <= 'HTTP 404 '.length + 100, reason);
});

test('a content type is cut to 100 characters', () => {
  const html = captured('fetch-html-3.0.txt').replace('actual=text/html', `actual=text/${'y'.repeat(500)}`);
  const { reason } = describeFetchFailure(html);
  assert.match(reason, /^a text\/y+… \(\d+ more characters\) body instead of an OCSP response$/);
  assert.ok(reason.length < 160, reason);
});

test('the reason openssl verify refuses a certificate', () => {
  assert.equal(
    parseVerifyError(
      'CN = expired.hapos-upd.test\nerror 10 at 0 depth lookup: certificate has expired\nerror /tmp/x/ee.pem: verification failed\n',
    ),
    'certificate has expired',
  );
  assert.equal(
    parseVerifyError('CN = x\nerror 20 at 0 depth lookup: unable to get local issuer certificate\n'),
    'unable to get local issuer certificate',
  );
  assert.equal(parseVerifyError('/tmp/x/ee.pem: OK\n'), undefined);
});
