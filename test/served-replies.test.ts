// The replies `--status` reads, as HAProxy 2.6.12 and 3.4.7 gave them.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  isCertificateLockBusy,
  parseCertificateDetails,
  parseOcspResponseText,
} from '../lib/haproxy/served-replies.ts';

const certId =
  '3041300906052b0e03021a050004143639044eed420c98f7f14de48a6b80ddad7324270414fa73fd24815ea69e7f345c1447bc078a5597de0e020851b722e1c85ef91d';

describe('show ssl cert NAME', () => {
  test('HAProxy 2.6.12: the OCSP Response Key, or an empty one for a certificate without a response slot', () => {
    const reply = (key: string, status = 'Used') =>
      [
        'Filename: /etc/haproxy/site.pem',
        `Status: ${status}`,
        'Serial: 51B722E1C85EF91D',
        'notBefore: Dec  2 22:38:17 2026 GMT',
        'notAfter: Jan  2 22:38:17 2027 GMT',
        'Subject Alternative Name: DNS:good.hapos-upd.test',
        'Algorithm: RSA2048',
        'SHA1 FingerPrint: EC73088E21536922FC8C8C922CDD4268E9F9D3AA',
        'Subject: /CN=good.hapos-upd.test',
        'Issuer: /CN=hapos-upd Test Intermediate CA',
        'Chain Subject: /CN=hapos-upd Test Intermediate CA',
        'Chain Issuer: /CN=hapos-upd Test Root CA',
        `OCSP Response Key: ${key}`,
        '',
        '',
      ].join('\n');
    assert.deepEqual(parseCertificateDetails(reply(certId.toUpperCase())), { unused: false, ocspResponseKey: certId });
    assert.deepEqual(parseCertificateDetails(reply('')), { unused: false });
    assert.deepEqual(parseCertificateDetails(reply('', 'Unused')), { unused: true }, 'loaded, served by no bind line');
  });

  test('HAProxy 3.4.7: file names and options before the same fields', () => {
    const reply = [
      'Filename: /etc/haproxy/site.pem',
      'Crt filename: /etc/haproxy/site.pem',
      'Key filename: /etc/haproxy/site.pem',
      'OCSP filename: /etc/haproxy/site.pem.ocsp',
      'OCSP Issuer filename: /etc/haproxy/site.pem.issuer',
      'SCTL filename: /etc/haproxy/site.pem.sctl',
      'Option: ocsp-update off',
      'Option: jwt off',
      'Status: Used',
      'Serial: 51B722E1C85EF91D',
      `OCSP Response Key: ${certId}`,
      '',
    ].join('\n');
    assert.deepEqual(parseCertificateDetails(reply), { unused: false, ocspResponseKey: certId });
  });

  test('anything else is not a reply to it', () => {
    assert.equal(
      parseCertificateDetails("Can't display the certificate: Not found or the certificate is a bundle!\n"),
      undefined,
    );
    assert.equal(parseCertificateDetails(`Status: Used\nOCSP Response Key: ${certId}\n`), undefined);
  });

  test('a busy certificate lock is told apart', () => {
    assert.equal(isCertificateLockBusy("Can't show!\nOperations on certificates are currently locked!\n"), true);
    assert.equal(isCertificateLockBusy('# filename\n/etc/haproxy/site.pem\n'), false);
  });
});

/** HAProxy 2.6.12's `show ssl ocsp-response ID`, the responder's certificate left out. */
const textReply = (statusLines: readonly string[], nextUpdate = 'Next Update: Dec 10 22:38:20 2026 GMT') =>
  [
    'OCSP Response Data:',
    '    OCSP Response Status: successful (0x0)',
    '    Response Type: Basic OCSP Response',
    '    Version: 1 (0x0)',
    '    Responder Id: CN = hapos-upd Test OCSP Signer',
    '    Produced At: Dec  3 22:38:20 2026 GMT',
    '    Responses:',
    '    Certificate ID:',
    '      Hash Algorithm: sha1',
    '      Issuer Name Hash: 3639044EED420C98F7F14DE48A6B80DDAD732427',
    '      Issuer Key Hash: FA73FD24815EA69E7F345C1447BC078A5597DE0E',
    '      Serial Number: 51B722E1C85EF91D',
    ...statusLines.map((line) => `    ${line}`),
    '    This Update: Dec  3 22:38:20 2026 GMT',
    ...(nextUpdate === '' ? [] : [`    ${nextUpdate}`]),
    ' ',
    '    Signature Algorithm: ecdsa-with-SHA256',
    '    Signature Value:',
    '        30:46:02:21:00:a3:86:fb:9a:49:d4:7a:76:2f:66:d7:8f:bf:',
    '',
  ].join('\n');

describe('show ssl ocsp-response ID, the text form (HAProxy 2.6)', () => {
  test('status and dates, in GMT; a revoked one', () => {
    assert.deepEqual(parseOcspResponseText(textReply(['Cert Status: good'])), {
      certStatus: 'good',
      thisUpdate: new Date('2026-12-03T22:38:20Z'),
      nextUpdate: new Date('2026-12-10T22:38:20Z'),
    });
    const revoked = textReply([
      'Cert Status: revoked',
      'Revocation Time: Dec  2 22:38:46 2026 GMT',
      'Revocation Reason: keyCompromise (0x1)',
    ]);
    assert.equal((parseOcspResponseText(revoked) as { certStatus: string }).certStatus, 'revoked');
  });

  test('no Next Update; fractions of a second', () => {
    assert.deepEqual(parseOcspResponseText(textReply(['Cert Status: unknown'], '')), {
      certStatus: 'unknown',
      thisUpdate: new Date('2026-12-03T22:38:20Z'),
    });
    const precise = parseOcspResponseText(
      textReply(['Cert Status: good'], 'Next Update: Jan  1 00:00:00.25 2027 GMT'),
    ) as { nextUpdate: Date };
    assert.deepEqual(precise.nextUpdate, new Date('2027-01-01T00:00:00.250Z'));
  });

  test('no response: an empty slot, or an ID HAProxy does not know', () => {
    assert.equal(parseOcspResponseText('\n'), 'none');
    assert.equal(parseOcspResponseText('Certificate ID does not match any certificate.\n'), 'none');
  });

  test('anything else is not a response: another reply, a status or a date it cannot read', () => {
    assert.equal(parseOcspResponseText('Permission denied\n'), undefined);
    assert.equal(parseOcspResponseText(textReply(['Cert Status: maybe'])), undefined);
    assert.equal(parseOcspResponseText(textReply([])), undefined, 'no Cert Status');
    assert.equal(parseOcspResponseText(textReply(['Cert Status: good'], 'Next Update: soon')), undefined);
    assert.equal(
      parseOcspResponseText(textReply(['Cert Status: good']).replace('This Update: Dec', 'This Update: Dez')),
      undefined,
    );
  });
});
