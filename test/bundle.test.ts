import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { parseCertificate, splitPemCertificates } from '../lib/bundle.ts';

const leafPem = await readFile(new URL('../fixtures/ocsp/leaf.pem', import.meta.url), 'latin1');
const caPem = await readFile(new URL('../fixtures/ocsp/ca.pem', import.meta.url), 'latin1');

test('a bundle splits into its PEM certificate blocks, CRLF and surrounding text dropped', () => {
  const blocks = splitPemCertificates(
    `junk\r\n${leafPem.replace(/\n/g, '\r\n')}# comment\n${caPem}-----BEGIN PRIVATE KEY-----\n`,
  );
  assert.equal(blocks.length, 2);
  assert.equal(blocks[0], leafPem.trimEnd() + '\n');
  assert.ok(!blocks[0]!.includes('\r'));
});

test('a block parses with the fingerprint openssl x509 -fingerprint prints', () => {
  const parsed = parseCertificate(splitPemCertificates(leafPem)[0]!);
  assert.ok(parsed);
  assert.match(parsed.fingerprint, /^SHA1 Fingerprint=([0-9A-F]{2}:){19}[0-9A-F]{2}$/);
  assert.equal(parseCertificate('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'), undefined);
});

test('a block seen again (the shared intermediate of a batch) is decoded once', () => {
  const [ca] = splitPemCertificates(caPem);
  const first = parseCertificate(ca!);
  for (let other = 0; other < 100; other++) {
    parseCertificate(`-----BEGIN CERTIFICATE-----\n${String(other)}\n-----END CERTIFICATE-----\n`);
    assert.equal(parseCertificate(ca!), first, 'kept while in use');
  }
  assert.equal(parseCertificate(ca!)?.x509, first?.x509);
});

test('blocks not used for a while are dropped: the memory stays bounded', () => {
  const [leaf] = splitPemCertificates(leafPem);
  const first = parseCertificate(leaf!);
  for (let other = 0; other < 100; other++) {
    parseCertificate(`-----BEGIN CERTIFICATE-----\nB${String(other)}\n-----END CERTIFICATE-----\n`);
  }
  const again = parseCertificate(leaf!);
  assert.notEqual(again, first, 'decoded anew after 100 other blocks');
  assert.equal(again?.fingerprint, first?.fingerprint);
});
