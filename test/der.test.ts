import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DerError, UniversalTag, describeTag, parseDer, readChildren } from '../lib/pki/der.ts';
import {
  SequenceReader,
  formatOid,
  isContextTag,
  isOid,
  oidFromDotted,
  readBitString,
  readBoolean,
  readEnumerated,
  readExplicit,
  readGeneralizedTime,
  readIa5String,
  readImplicit,
  readInteger,
  readIntegerHex,
  readNull,
  readOctetString,
  readOid,
  readSequence,
} from '../lib/pki/der-readers.ts';
import { encodeNull, encodeOctetString, encodeOid, encodeSequence } from '../lib/pki/der-encode.ts';
import { encodeElement } from './helpers/der-encode.ts';

const hex = (text: string) => Buffer.from(text.replace(/\s+/g, ''), 'hex');
const parseHex = (text: string) => parseDer(hex(text));

function assertDerError(action: () => unknown, message: RegExp): void {
  assert.throws(action, (error: unknown) => {
    assert.ok(error instanceof DerError, `expected a DerError, got ${String(error)}`);
    assert.match(error.message, message);
    return true;
  });
}

describe('parseDer', () => {
  it('reads tag class, constructed bit, tag number, value and whole encoding', () => {
    const element = parseHex('a0 03 02 01 05');
    assert.equal(element.tagClass, 'context');
    assert.equal(element.constructed, true);
    assert.equal(element.tagNumber, 0);
    assert.deepEqual(element.value, hex('02 01 05'));
    assert.deepEqual(element.der, hex('a0 03 02 01 05'));
    assert.equal(element.offset, 0);
  });

  it('reads one- and two-byte long-form lengths', () => {
    const content200 = Buffer.alloc(200, 0x41);
    const element200 = parseDer(Buffer.concat([hex('04 81 c8'), content200]));
    assert.equal(element200.value.length, 200);
    const content300 = Buffer.alloc(300, 0x42);
    const element300 = parseDer(Buffer.concat([hex('04 82 01 2c'), content300]));
    assert.deepEqual(element300.value, content300);
  });

  it('reads high tag numbers', () => {
    const element = parseHex('9f 81 00 00');
    assert.equal(element.tagClass, 'context');
    assert.equal(element.tagNumber, 128);
  });

  it('rejects empty input', () => {
    assertDerError(() => parseDer(Buffer.alloc(0)), /^empty input/);
  });

  it('rejects indefinite lengths', () => {
    assertDerError(() => parseHex('30 80 02 01 01 00 00'), /indefinite length is not DER/);
  });

  it('rejects truncated input: tag, length and value', () => {
    assertDerError(() => parseHex('1f'), /truncated tag/);
    assertDerError(() => parseHex('30'), /truncated length/);
    assertDerError(() => parseHex('30 82 01'), /truncated length/);
    assertDerError(() => parseHex('30 05 02 01'), /truncated: element needs 5 content bytes, 2 left/);
  });

  it('rejects non-minimal lengths and tags', () => {
    assertDerError(() => parseHex('04 81 05 0102030405'), /non-minimal length/);
    assertDerError(() => parseHex(`04 82 00 80 ${'00'.repeat(128)}`), /non-minimal length/);
    assertDerError(() => parseHex('9f 05 00'), /non-minimal tag number/);
    assertDerError(() => parseHex('9f 80 20 00'), /non-minimal tag number/);
  });

  it('rejects absurd length fields', () => {
    assertDerError(() => parseHex('04 85 0100000000'), /length field of 5 bytes is too long/);
  });

  it('rejects bytes after the element', () => {
    assertDerError(() => parseHex('05 00 00'), /1 unexpected bytes after the end \(at byte 2\)/);
  });

  it('reports offsets relative to the outermost buffer', () => {
    const sequence = parseHex('30 06 02 01 01 04 03 aa');
    assertDerError(() => readSequence(sequence, 'test'), /truncated: .* \(at byte 5\)/);
    assertDerError(() => parseDer(hex('04 05 00'), 40), /at byte 40/);
  });
});

describe('constructed elements', () => {
  it('lists SEQUENCE children with their offsets', () => {
    const children = readSequence(parseHex('30 05 02 01 01 05 00'), 'test');
    assert.deepEqual(
      children.map((child) => [describeTag(child), child.offset]),
      [
        ['INTEGER', 2],
        ['NULL', 5],
      ],
    );
  });

  it('rejects a SEQUENCE where another type is expected, naming both', () => {
    assertDerError(() => readSequence(parseHex('31 00'), 'names'), /^names: expected SEQUENCE, found SET/);
    assertDerError(() => readChildren(parseHex('04 00'), 'x'), /expected a constructed element/);
  });

  it('unwraps explicit tags holding exactly one element', () => {
    assert.equal(readInteger(readExplicit(parseHex('a0 03 02 01 05'), 0, 'version'), 'version'), 5n);
    assertDerError(() => readExplicit(parseHex('a1 03 02 01 05'), 0, 'version'), /expected \[0\], found \[1\]/);
    assertDerError(() => readExplicit(parseHex('a0 06 02 01 05 02 01 06'), 0, 'v'), /exactly one element, found 2/);
    assertDerError(() => readExplicit(parseHex('a0 00'), 0, 'v'), /exactly one element, found 0/);
  });

  it('reinterprets implicit tags as the universal type', () => {
    assert.equal(readNull(readImplicit(parseHex('80 00'), 0, UniversalTag.null, 'good'), 'good'), null);
    const revoked = readImplicit(parseHex('a1 03 02 01 07'), 1, UniversalTag.sequence, 'revoked');
    assert.equal(readInteger(readSequence(revoked, 'revoked')[0]!, 'n'), 7n);
    assertDerError(
      () => readImplicit(parseHex('a0 00'), 0, UniversalTag.null, 'good'),
      /NULL has the wrong constructed bit/,
    );
  });

  it('recognises context tags', () => {
    assert.equal(isContextTag(parseHex('82 00'), 2), true);
    assert.equal(isContextTag(parseHex('82 00'), 1), false);
    assert.equal(isContextTag(parseHex('02 01 02'), 2), false);
  });

  it('walks sequences with optional fields', () => {
    const reader = new SequenceReader(parseHex('30 08 a0 03 02 01 01 02 01 09'), 'S');
    assert.ok(reader.optional(0));
    assert.equal(reader.optional(1), undefined);
    assert.equal(reader.optional(UniversalTag.boolean, 'universal'), undefined);
    assert.equal(readInteger(reader.next('n'), 'n'), 9n);
    reader.end();
    assertDerError(() => reader.next('extra'), /^S: missing extra/);

    const withLeftover = new SequenceReader(parseHex('30 03 02 01 01'), 'T');
    assertDerError(() => withLeftover.end(), /^T: unexpected INTEGER/);
  });
});

describe('primitive readers', () => {
  it('reads INTEGERs as bigint and as openssl-style hex', () => {
    const cases: [string, bigint, string][] = [
      ['02 01 00', 0n, '00'],
      ['02 01 05', 5n, '05'],
      ['02 02 10 01', 0x1001n, '1001'],
      ['02 03 00 80 ab', 0x80abn, '80AB'],
      ['02 01 ff', -1n, '-01'],
      ['02 02 ff 7f', -129n, '-81'],
      [`02 14 ${'7f'.repeat(20)}`, BigInt(`0x${'7f'.repeat(20)}`), '7F'.repeat(20)],
    ];
    for (const [encoding, value, valueHex] of cases) {
      assert.equal(readInteger(parseHex(encoding), 'n'), value, encoding);
      assert.equal(readIntegerHex(parseHex(encoding), 'n'), valueHex, encoding);
    }
  });

  it('rejects empty and non-minimal INTEGERs', () => {
    assertDerError(() => readInteger(parseHex('02 00'), 'serial'), /^serial: empty integer/);
    assertDerError(() => readInteger(parseHex('02 02 00 05'), 'serial'), /non-minimal integer/);
    assertDerError(() => readInteger(parseHex('02 02 ff 80'), 'serial'), /non-minimal integer/);
  });

  it('checks the tag before decoding', () => {
    assertDerError(() => readInteger(parseHex('04 01 05'), 'serial'), /^serial: expected INTEGER, found OCTET STRING/);
    assertDerError(() => readOctetString(parseHex('24 03 04 01 05'), 'os'), /wrong constructed bit/);
  });

  it('reads ENUMERATED', () => {
    assert.equal(readEnumerated(parseHex('0a 01 03'), 'status'), 3);
    assertDerError(() => readEnumerated(parseHex('0a 01 ff'), 'status'), /out of range/);
    assertDerError(() => readEnumerated(parseHex('02 01 03'), 'status'), /expected ENUMERATED, found INTEGER/);
  });

  it('reads BOOLEAN, NULL, OCTET STRING and IA5String', () => {
    assert.equal(readBoolean(parseHex('01 01 ff'), 'b'), true);
    assert.equal(readBoolean(parseHex('01 01 00'), 'b'), false);
    assertDerError(() => readBoolean(parseHex('01 01 01'), 'b'), /00 or FF/);
    assert.equal(readNull(parseHex('05 00'), 'n'), null);
    assertDerError(() => readNull(parseHex('05 01 00'), 'n'), /NULL must be empty/);
    assert.deepEqual(readOctetString(parseHex('04 02 ca fe'), 'os'), hex('cafe'));
    assert.equal(readIa5String(parseHex('16 03 61 62 63'), 's'), 'abc');
    assertDerError(() => readIa5String(parseHex('16 01 e9'), 's'), /non-ASCII/);
  });

  it('reads BIT STRINGs without the unused-bits byte', () => {
    assert.deepEqual(readBitString(parseHex('03 03 00 ab cd'), 'key'), { unusedBits: 0, bytes: hex('abcd') });
    assert.deepEqual(readBitString(parseHex('03 02 07 80'), 'flags'), { unusedBits: 7, bytes: hex('80') });
    assert.deepEqual(readBitString(parseHex('03 01 00'), 'empty'), { unusedBits: 0, bytes: Buffer.alloc(0) });
    assertDerError(() => readBitString(parseHex('03 00'), 'b'), /empty BIT STRING/);
    assertDerError(() => readBitString(parseHex('03 02 08 00'), 'b'), /invalid unused-bits count 8/);
    assertDerError(() => readBitString(parseHex('03 01 03'), 'b'), /invalid unused-bits count 3/);
    assertDerError(() => readBitString(parseHex('03 02 01 81'), 'b'), /unused bits must be zero/);
  });

  it('reads OBJECT IDENTIFIERs as their content octets, and formats them in dotted form', () => {
    const dotted = (encoding: string) => formatOid(readOid(parseHex(encoding), 'oid'));
    assert.deepEqual(readOid(parseHex('06 05 2b 0e 03 02 1a'), 'oid'), hex('2b 0e 03 02 1a'));
    assert.equal(dotted('06 05 2b 0e 03 02 1a'), '1.3.14.3.2.26');
    assert.equal(dotted('06 08 2b 06 01 05 05 07 30 01'), '1.3.6.1.5.5.7.48.1');
    assert.equal(dotted('06 09 60 86 48 01 65 03 04 02 01'), '2.16.840.1.101.3.4.2.1');
    assert.equal(dotted('06 01 00'), '0.0');
    assert.equal(dotted('06 02 88 37'), '2.999');
    assertDerError(() => readOid(parseHex('06 00'), 'oid'), /empty OBJECT IDENTIFIER/);
    assertDerError(() => readOid(parseHex('06 02 2b 86'), 'oid'), /truncated OBJECT IDENTIFIER/);
    assertDerError(() => readOid(parseHex('06 03 2b 80 01'), 'oid'), /non-minimal OID arc/);
    assertDerError(() => readOid(parseHex('04 01 2b'), 'oid'), /expected OBJECT IDENTIFIER, found OCTET STRING/);
  });

  /** The most OpenSSL translates to text, and so the most readOid takes. */
  const maxOidBytes = 586;

  it(`accepts OIDs up to ${maxOidBytes} content bytes, as OpenSSL translates them, and no longer`, () => {
    const arc = (bytes: number) => Buffer.concat([Buffer.alloc(bytes - 1, 0xff), Buffer.from([0x7f])]);
    const longest = Buffer.concat([hex('2b'), arc(maxOidBytes - 1)]);
    const element = parseDer(encodeElement('universal', false, UniversalTag.objectIdentifier, longest));
    assert.deepEqual(readOid(element, 'oid'), longest);
    // The arc is 2^(7 * 585) - 1: 1233 decimal digits.
    assert.match(formatOid(longest), /^1\.3\.\d{1233}$/);
    assert.equal(formatOid(longest).split('.')[2], ((1n << (7n * 585n)) - 1n).toString());
    const tooLong = Buffer.concat([longest, hex('01')]);
    assertDerError(
      () => readOid(parseDer(encodeElement('universal', false, UniversalTag.objectIdentifier, tooLong)), 'extnID'),
      new RegExp(
        `^extnID: OBJECT IDENTIFIER of ${maxOidBytes + 1} bytes, over the limit of ${maxOidBytes} \\(at byte 0\\)$`,
      ),
    );
  });

  it('rejects an OID of megabytes in linear time, its message short', () => {
    const huge = Buffer.concat([hex('2b'), Buffer.alloc(4 * 1024 * 1024, 0x81), hex('01')]);
    const element = parseDer(encodeElement('universal', false, UniversalTag.objectIdentifier, huge));
    const started = performance.now();
    assert.throws(
      () => readOid(element, 'responseType'),
      (error: unknown) => error instanceof DerError && error.message.length < 100,
    );
    assert.ok(performance.now() - started < 1000, 'a generous bound: a quadratic reader takes hours');
  });

  it('tells an OID by its content octets, whatever else the element holds', () => {
    const sha1 = oidFromDotted('1.3.14.3.2.26');
    assert.deepEqual(sha1, hex('2b 0e 03 02 1a'));
    assert.equal(isOid(parseHex('06 05 2b 0e 03 02 1a'), sha1), true);
    assert.equal(isOid(parseHex('06 05 2b 0e 03 02 1b'), sha1), false);
    assert.equal(isOid(parseHex('04 05 2b 0e 03 02 1a'), sha1), false);
    assert.equal(isOid(parseHex('06 03 2b 80 01'), sha1), false);
  });

  it('round-trips OIDs through encodeOid, arcs beyond 2^53 included', () => {
    const oids = [
      '1.3.6.1.5.5.7.48.1.1',
      '2.16.840.1.101.3.4.2.3',
      '2.999.3',
      '2.25.329800735698586629295641978511506172918',
    ];
    for (const oid of oids) assert.equal(formatOid(readOid(parseDer(encodeOid(oid)), 'oid')), oid);
    assert.deepEqual(encodeOid('1.3.14.3.2.26'), hex('06 05 2b 0e 03 02 1a'));
    assert.throws(() => encodeOid('1.40'), RangeError);
    assert.throws(() => encodeOid('3.1'), RangeError);
  });
});

describe('readGeneralizedTime', () => {
  const time = (text: string) =>
    readGeneralizedTime(parseDer(encodeElement('universal', false, 24, Buffer.from(text))), 't');

  it('reads whole seconds as UTC', () => {
    assert.equal(time('20261124143346Z').toISOString(), '2026-11-24T14:33:46.000Z');
    assert.equal(time('20240229235959Z').toISOString(), '2024-02-29T23:59:59.000Z');
  });

  it('reads fractional seconds, dropping sub-millisecond digits', () => {
    assert.equal(time('20261124143346.5Z').toISOString(), '2026-11-24T14:33:46.500Z');
    assert.equal(time('20261124143346.123456Z').toISOString(), '2026-11-24T14:33:46.123Z');
    assert.equal(time('20261124143346.007Z').toISOString(), '2026-11-24T14:33:46.007Z');
  });

  it('rejects forms DER does not allow', () => {
    for (const text of [
      '20261124143346',
      '202611241433Z',
      '20261124143346.50Z',
      '20261124143346.Z',
      '20261124143346+0100',
      '261124143346Z',
    ]) {
      assert.throws(() => time(text), /malformed GeneralizedTime/, text);
    }
  });

  it('rejects impossible dates', () => {
    for (const text of ['20261301000000Z', '20260230000000Z', '20261124250000Z', '20261124236000Z']) {
      assert.throws(() => time(text), /invalid date/, text);
    }
  });

  it('quotes a malformed time cut short, its control characters escaped', () => {
    assertDerError(
      () => time(`2026\u001b[2J${'9'.repeat(100_000)}`),
      /^t: malformed GeneralizedTime '2026\\u001B\[2J9+… \(\d+ more characters\)' \(at byte 0\)$/,
    );
    assertDerError(
      () => time(`20260230000000.${'1'.repeat(100_000)}Z`),
      /^t: invalid date '20260230000000\.1+… \(\d+ more characters\)'/,
    );
  });

  it('rejects a UTCTime', () => {
    assertDerError(() => readGeneralizedTime(parseHex('17 0d 3236313132343134333334325a'), 't'), /found universal 23/);
  });
});

describe('encoders', () => {
  it('encode short and long lengths, classes and constructed bits', () => {
    assert.deepEqual(encodeNull(), hex('05 00'));
    assert.deepEqual(encodeOctetString(hex('cafe')), hex('04 02 ca fe'));
    assert.deepEqual(encodeSequence([encodeNull(), encodeNull()]), hex('30 04 05 00 05 00'));
    assert.deepEqual(encodeElement('context', true, 1, hex('0500')), hex('a1 02 05 00'));
    assert.deepEqual(encodeOctetString(Buffer.alloc(200)).subarray(0, 3), hex('04 81 c8'));
    assert.deepEqual(encodeOctetString(Buffer.alloc(300)).subarray(0, 4), hex('04 82 01 2c'));
    assert.deepEqual(encodeOctetString(Buffer.alloc(70000)).subarray(0, 5), hex('04 83 01 11 70'));
    assert.throws(() => encodeElement('context', false, 31, Buffer.alloc(0)), RangeError);
  });

  it('produce what parseDer reads back', () => {
    const content = Buffer.alloc(1000, 7);
    assert.deepEqual(parseDer(encodeOctetString(content)).value, content);
  });
});
