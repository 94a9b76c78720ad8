import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { findPemBlocks, parseBundle } from '../lib/pki/bundle.ts';

const leafPem = await readFile(new URL('../fixtures/ocsp/leaf.pem', import.meta.url), 'latin1');
const caPem = await readFile(new URL('../fixtures/ocsp/ca.pem', import.meta.url), 'latin1');

/** The PEM certificate blocks of a bundle, as the bundle model splits it. */
const pemBlocksOf = (text: string) => parseBundle(text).blocks.map((block) => block.pem);

/** The certificate of a one-block PEM text, as the bundle model parses it; undefined when it is not valid. */
function certificateOf(pem: string) {
  const [block, ...others] = parseBundle(pem).blocks;
  assert.ok(block && others.length === 0, 'one PEM block');
  return block.certificate;
}

test('a bundle splits into its PEM certificate blocks, CRLF and surrounding text dropped', () => {
  const blocks = pemBlocksOf(
    `junk\r\n${leafPem.replace(/\n/g, '\r\n')}# comment\n${caPem}-----BEGIN PRIVATE KEY-----\n`,
  );
  assert.equal(blocks.length, 2);
  assert.equal(blocks[0], leafPem.trimEnd() + '\n');
  assert.ok(!blocks[0]!.includes('\r'));
});

test('a block parses with the fingerprint openssl x509 -fingerprint prints', () => {
  const parsed = certificateOf(leafPem);
  assert.ok(parsed);
  assert.match(parsed.fingerprint, /^SHA1 Fingerprint=([0-9A-F]{2}:){19}[0-9A-F]{2}$/);
  assert.equal(certificateOf('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'), undefined);
});

test('a block seen again (the shared intermediate of a batch) is decoded once', () => {
  const first = certificateOf(caPem);
  for (let other = 0; other < 100; other++) {
    certificateOf(`-----BEGIN CERTIFICATE-----\n${String(other)}\n-----END CERTIFICATE-----\n`);
    assert.equal(certificateOf(caPem), first, 'kept while in use');
  }
  assert.equal(certificateOf(caPem)?.x509, first?.x509);
});

test('blocks not used for a while are dropped: the memory stays bounded', () => {
  const first = certificateOf(leafPem);
  for (let other = 0; other < 100; other++) {
    certificateOf(`-----BEGIN CERTIFICATE-----\nB${String(other)}\n-----END CERTIFICATE-----\n`);
  }
  const again = certificateOf(leafPem);
  assert.notEqual(again, first, 'decoded anew after 100 other blocks');
  assert.equal(again?.fingerprint, first?.fingerprint);
});

/** The lazy regular expression bundles were split with before: the reference for what the bundle model finds. */
const referenceSplit = (text: string) =>
  (text.match(/-----BEGIN CERTIFICATE-----\r?\n[\s\S]*?-----END CERTIFICATE-----/g) ?? []).map(
    (block) => `${block.replace(/\r\n/g, '\n')}\n`,
  );

test('untidy bundles split as the lazy regular expression split them', () => {
  const [leaf, ca] = [leafPem.trimEnd(), caPem.trimEnd()];
  const begin = '-----BEGIN CERTIFICATE-----';
  const texts = [
    `${begin} no line break\n${leaf}\n`,
    `${begin}\n${begin}\nAAAA\n-----END CERTIFICATE-----\n${ca}\n`,
    `-----END CERTIFICATE-----\n${leaf}\n-----END CERTIFICATE-----\n${ca}`,
    `${begin}\r\r\n${leaf}\r\n${ca}\r\n`,
    `-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n${leaf}\n`,
    `-----BEGIN -----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----`,
    `${begin}\n-----END CERTIFICATE----- ${begin}\n-----END CERTIFICATE-----`,
    `${`${begin}\n`.repeat(50)}${leaf}\n`,
    `${leaf}\n${`${begin}\n`.repeat(50)}`,
    `${begin}\n-----END CERTIFICATE`,
  ];
  for (const text of texts) assert.deepEqual(pemBlocksOf(text), referenceSplit(text), JSON.stringify(text));
});

test('megabytes of BEGIN lines without an END are scanned in linear time', () => {
  // The lazy regular expression rescanned the rest of the file from each one: 1 MB took 9 s, 20 MB hours.
  const text = '-----BEGIN CERTIFICATE-----\n'.repeat(750_000) + leafPem;
  const startedAt = performance.now();
  const blocks = pemBlocksOf(text);
  const elapsedMs = performance.now() - startedAt;
  assert.equal(blocks.length, 1);
  assert.ok(blocks[0]!.startsWith('-----BEGIN CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\n'));
  assert.ok(blocks[0]!.endsWith(leafPem.trimEnd().slice(-100) + '\n'));
  assert.deepEqual(pemBlocksOf(text.slice(0, 20_000_000)), []);
  assert.ok(elapsedMs < 5000, `took ${elapsedMs} ms`);
});

test('findPemBlocks pairs each BEGIN with the END of the same label', () => {
  const key = (label: string, body: string) => `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----`;
  const text = [
    '-----BEGIN RSA PRIVATE KEY-----\nno END for this one',
    key('CERTIFICATE', 'C'),
    key('EC PRIVATE KEY', 'E'),
    key('PRIVATE KEY', 'P'),
  ].join('\n');
  assert.deepEqual(
    findPemBlocks(text, (label) => label.endsWith('PRIVATE KEY')),
    [key('EC PRIVATE KEY', 'E'), key('PRIVATE KEY', 'P')],
  );
  assert.deepEqual(
    findPemBlocks(`${key('A', '-----END B-----')}`, () => true),
    [key('A', '-----END B-----')],
  );
});
