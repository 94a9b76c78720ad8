import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { keyTypes, openssl, OfflinePki, type ExchangeOptions } from './helpers/pki.ts';
import {
  AUTHORITY_INFO_ACCESS,
  TLS_FEATURE,
  extension,
  extensionId,
  ocspAia,
  oidWithHugeArc,
  withEmptySubject,
  withExtensions,
} from './helpers/certificate-surgery.ts';
import { UniversalTag, parseDer } from '../lib/pki/der.ts';
import {
  SequenceReader,
  formatOid,
  readExplicit,
  readOctetString,
  readOid,
  readSequence,
} from '../lib/pki/der-readers.ts';
import { encodeOctetString, encodeSequence } from '../lib/pki/der-encode.ts';
import { encodeElement } from './helpers/der-encode.ts';
import { certIdHex, certIdMatches, computeCertId, type CertId, type HashAlgorithmName } from '../lib/pki/cert-id.ts';
import { CertificateParseError, parseCertificateDetails } from '../lib/pki/certificate.ts';
import {
  OcspParseError,
  parseOcspResponse,
  type BasicOcspResponse,
  type OcspResponse,
} from '../lib/pki/ocsp-response.ts';
import { encodeOcspRequest, newRequestNonce, readRequestNonce } from '../lib/pki/ocsp-request.ts';
import { answersForIssuer, findSigner, signatureVerifies } from '../lib/pki/ocsp-signature.ts';
import { DerError } from '../lib/pki/der.ts';

/*
 * fixtures/ocsp was made once with OpenSSL 3.0 (P-256 CA "O=hapos-upd, CN=Fixture CA", leaf serial 1001 with
 * AIA OCSP and Must-Staple, index: 1001 valid, 80AB revoked keyCompromise at 2026-11-20 10:15:00Z):
 *   good.der: `openssl ocsp -issuer ca.pem -cert leaf.pem -reqout good-req.der` answered by
 *     `openssl ocsp -index index.txt -CA ca.pem -rsigner ca.pem -rkey ca.key -reqin good-req.der -ndays 7`;
 *   revoked-by-key-no-certs.der: serial 80AB, -no_nonce, answered with -resp_key_id -resp_no_certs, no -ndays;
 *   good-cert-id-without-null.der: good.der re-encoded without the CertID's NULL parameters (bad signature);
 *   truncated.der: the first 120 bytes of good.der; try-later.der `30 03 0a 01 03`; unauthorized.der `30 03 0a 01 06`.
 */
const fixture = (name: string) => readFileSync(new URL(`../fixtures/ocsp/${name}`, import.meta.url));
const fixtureCertificate = (name: string) => new X509Certificate(fixture(name));

function assertBasic(response: OcspResponse): BasicOcspResponse {
  assert.equal(response.responseStatus, 'successful');
  assert.ok('responses' in response);
  return response;
}

function assertParseError(der: Buffer, message: RegExp): void {
  assert.throws(
    () => parseOcspResponse(der),
    (error: unknown) => error instanceof OcspParseError && message.test(error.message),
  );
}

/** The CertID DER of each Request in a DER OCSPRequest, plus the request nonce's extnValue. */
function readRequest(der: Buffer): { certIds: Buffer[]; nonce?: Buffer } {
  const tbsRequest = readSequence(readSequence(parseDer(der), 'OCSPRequest')[0]!, 'TBSRequest');
  const requestList = tbsRequest.find((field) => field.tagClass === 'universal')!;
  const certIds = readSequence(requestList, 'requestList').map((request) => readSequence(request, 'Request')[0]!.der);
  const extensions = tbsRequest.find((field) => field.tagClass === 'context' && field.tagNumber === 2);
  if (!extensions) return { certIds };
  const [nonceExtension] = readSequence(readExplicit(extensions, 2, 'requestExtensions'), 'Extensions');
  const fields = new SequenceReader(nonceExtension!, 'Extension');
  assert.equal(formatOid(readOid(fields.next('extnID'), 'extnID')), '1.3.6.1.5.5.7.48.1.2');
  return { certIds, nonce: readOctetString(fields.next('extnValue'), 'extnValue') };
}

/** The DER of a certificate's subject Name: the sixth field of tbsCertificate when a version is present. */
function subjectNameDer(certificate: X509Certificate): Buffer {
  const tbs = readSequence(readSequence(parseDer(certificate.raw), 'Certificate')[0]!, 'TBSCertificate');
  return tbs[5]!.der;
}

describe('parseOcspResponse on committed fixtures', () => {
  const ca = fixtureCertificate('ca.pem');
  const leaf = fixtureCertificate('leaf.pem');

  it('decodes a good response with nextUpdate, nonce and the signer certificate', () => {
    const response = assertBasic(parseOcspResponse(fixture('good.der')));
    assert.equal(response.producedAt.toISOString(), '2026-11-24T14:39:07.000Z');
    assert.deepEqual(response.responderId, { byName: subjectNameDer(ca) });
    assert.equal(response.responses.length, 1);
    const [single] = response.responses;
    const {
      certId: { der, ...certIdFields },
      certIdDer,
      ...statusFields
    } = single!;
    assert.deepEqual(certIdFields, {
      hashAlgorithm: 'sha1',
      issuerNameHash: Buffer.from('6246C9A960C88CBD9C26DE8712261E9F1090A685', 'hex'),
      issuerKeyHash: Buffer.from('5C7C9DAD10B225F757AC7DE3CAD721239E0FCEF9', 'hex'),
      serialNumber: '1001',
    });
    assert.deepEqual(certIdDer, der);
    assert.deepEqual(statusFields, {
      certStatus: 'good',
      thisUpdate: new Date('2026-11-24T14:39:07Z'),
      nextUpdate: new Date('2026-12-01T14:39:07Z'),
    });
    assert.deepEqual(response.certificates, [ca.raw]);
    assert.deepEqual(response.nonce, readRequest(fixture('good-req.der')).nonce);
    assert.equal(response.nonce?.toString('hex'), '041074c5a7cc1b3775fde49eb02ef1139926');
  });

  it('keeps the CertID DER exactly as OpenSSL encodes it', () => {
    const [single] = assertBasic(parseOcspResponse(fixture('good.der'))).responses;
    assert.equal(
      certIdHex(single!.certId),
      '303b' +
        '3009' +
        '06052b0e03021a' + // sha1
        '0500' + // NULL parameters
        '0414' +
        '6246c9a960c88cbd9c26de8712261e9f1090a685' +
        '0414' +
        '5c7c9dad10b225f757ac7de3cad721239e0fcef9' +
        '02021001',
    );
    assert.deepEqual(single!.certId.der, readRequest(fixture('good-req.der')).certIds[0]);
  });

  it('decodes a revoked response identified by key hash, without certificates', () => {
    const response = assertBasic(parseOcspResponse(fixture('revoked-by-key-no-certs.der')));
    assert.deepEqual(response.responderId, {
      byKeyHash: Buffer.from('5C7C9DAD10B225F757AC7DE3CAD721239E0FCEF9', 'hex'),
    });
    assert.deepEqual(response.certificates, []);
    assert.equal(response.nonce, undefined);
    const [single] = response.responses;
    assert.equal(single!.certId.serialNumber, '80AB');
    assert.equal(single!.certStatus, 'revoked');
    assert.equal(single!.revocationTime?.toISOString(), '2026-11-20T10:15:00.000Z');
    assert.equal(single!.revocationReason, 'keyCompromise');
    assert.equal(single!.nextUpdate, undefined);
    assert.ok(!('nextUpdate' in single!));
  });

  it('returns unsuccessful statuses without a body', () => {
    assert.deepEqual(parseOcspResponse(fixture('try-later.der')), { responseStatus: 'tryLater' });
    assert.deepEqual(parseOcspResponse(fixture('unauthorized.der')), { responseStatus: 'unauthorized' });
    const statuses: [number, string][] = [
      [1, 'malformedRequest'],
      [2, 'internalError'],
      [5, 'sigRequired'],
    ];
    for (const [value, responseStatus] of statuses) {
      assert.deepEqual(parseOcspResponse(Buffer.from([0x30, 0x03, 0x0a, 0x01, value])), { responseStatus });
    }
  });

  it('rejects a truncated response', () => {
    assertParseError(fixture('truncated.der'), /^malformed OCSP response: truncated: element needs 754 content bytes/);
  });

  it('rejects what a misbehaving server or proxy sends instead', () => {
    assertParseError(Buffer.alloc(0), /^not an OCSP response: empty$/);
    assertParseError(
      Buffer.from('<!DOCTYPE html><html><body>502 Bad Gateway</body></html>'),
      /^not an OCSP response: text starting with "<!DOCTYPE html><html><bo"$/,
    );
    assertParseError(
      Buffer.from('ff00112233445566778899', 'hex'),
      /^not an OCSP response: bytes starting with ff00112233445566$/,
    );
    assertParseError(Buffer.from('3080 0a0103 0000', 'hex'), /indefinite length is not DER/);
    assertParseError(Buffer.concat([fixture('good.der'), Buffer.from([0])]), /1 unexpected bytes after the end/);
  });

  it('rejects structurally wrong responses with a reason', () => {
    const cases: [string, RegExp][] = [
      ['3003 0a0104', /unknown responseStatus 4/],
      ['3003 0a0100', /successful response without responseBytes/],
      ['3007 0a0103 a0023000', /responseBytes present with status tryLater/],
      ['3003 020100', /responseStatus: expected ENUMERATED, found INTEGER/],
      ['3000', /OCSPResponse: missing responseStatus/],
      ['3011 0a0100 a00c 300a 0606 2b0601050507 0400', /unsupported response type 1\.3\.6\.1\.5\.5\.7/],
      ['3014 0a0100 a00f 300d 0609 2b0601050507300101 0400', /empty input/],
      ['3015 0a0100 a010 300e 0609 2b0601050507300101 040130', /truncated length/],
      ['3016 0a0100 a011 300f 0609 2b0601050507300101 04023000', /BasicOCSPResponse: missing tbsResponseData/],
    ];
    for (const [bytes, message] of cases) {
      assertParseError(Buffer.from(bytes.replace(/\s+/g, ''), 'hex'), message);
    }
  });

  it('throws only OcspParseError for every truncation and every corrupted byte', () => {
    const good = fixture('good.der');
    for (let length = 0; length < good.length; length++) {
      assert.throws(() => parseOcspResponse(good.subarray(0, length)), OcspParseError, `prefix of ${length} bytes`);
    }
    for (let index = 0; index < good.length; index++) {
      for (const mask of [0x01, 0x80, 0xff]) {
        const corrupted = Buffer.from(good);
        corrupted[index]! ^= mask;
        try {
          parseOcspResponse(corrupted);
        } catch (error) {
          assert.ok(error instanceof OcspParseError, `byte ${index} ^ ${mask}: ${String(error)}`);
        }
      }
    }
    for (let attempt = 0; attempt < 200; attempt++) {
      const noise = Buffer.concat([Buffer.from([0x30]), randomBytes(attempt)]);
      assert.throws(() => parseOcspResponse(noise), OcspParseError);
    }
  });

  it('computes the CertID of the fixture leaf byte for byte', () => {
    const [single] = assertBasic(parseOcspResponse(fixture('good.der'))).responses;
    const computed = computeCertId(leaf, ca);
    assert.deepEqual(computed.der, single!.certId.der);
    assert.equal(certIdHex(computed), certIdHex(single!.certId));
    assert.equal(computed.serialNumber, leaf.serialNumber);
    assert.ok(certIdMatches(computed, single!.certId));
  });

  it('matches a CertID without NULL parameters, whose DER (and so HAProxy key) differs', () => {
    // Same response re-encoded without the NULL (signature no longer valid).
    const [single] = assertBasic(parseOcspResponse(fixture('good-cert-id-without-null.der'))).responses;
    const computed = computeCertId(leaf, ca);
    assert.ok(certIdMatches(computed, single!.certId));
    assert.notEqual(certIdHex(computed), certIdHex(single!.certId));
    assert.ok(certIdHex(single!.certId).startsWith('3039300706052b0e03021a0414'));
  });

  it('tells CertIDs of other certificates or digests apart', () => {
    const sha1 = computeCertId(leaf, ca);
    const sha256 = computeCertId(leaf, ca, 'sha256');
    assert.equal(certIdMatches(sha1, sha256), false);
    assert.equal(certIdMatches(sha1, { ...sha1, serialNumber: '1002' }), false);
    assert.equal(certIdMatches(sha1, { ...sha1, issuerKeyHash: Buffer.alloc(20) }), false);
    assert.equal(certIdMatches(sha1, { ...sha1, issuerNameHash: Buffer.alloc(20) }), false);
    assert.equal(certIdMatches(sha1, { ...sha1, der: Buffer.alloc(0) }), true);
  });

  it('refuses an issuer whose subject is not the leaf issuer', () => {
    assert.throws(
      () => computeCertId(leaf, leaf),
      (error: unknown) =>
        error instanceof CertificateParseError &&
        /^the issuer certificate's subject \(CN=leaf.test\) differs from the leaf's issuer \(O=hapos-upd, CN=Fixture CA\)$/.test(
          error.message,
        ),
    );
  });

  it('reads OCSP URLs and Must-Staple from certificates', () => {
    assert.deepEqual(parseCertificateDetails(leaf), {
      serialNumber: '1001',
      ocspUrls: ['http://127.0.0.1:8888/ocsp'],
      mustStaple: true,
    });
    assert.deepEqual(parseCertificateDetails(ca), {
      serialNumber: ca.serialNumber,
      ocspUrls: [],
      mustStaple: false,
    });
  });
});

describe('readRequestNonce on committed fixtures', () => {
  it("reads the nonce of the request good.der answers, the response's nonce byte for byte", () => {
    const nonce = readRequestNonce(fixture('good-req.der'));
    assert.equal(nonce?.toString('hex'), '041074c5a7cc1b3775fde49eb02ef1139926');
    assert.deepEqual(nonce, assertBasic(parseOcspResponse(fixture('good.der'))).nonce);
  });

  it('throws DerError for what is not an OCSPRequest: a response, a truncated request', () => {
    const request = fixture('good-req.der');
    for (const bytes of [fixture('good.der'), request.subarray(0, request.length - 1), Buffer.alloc(0)]) {
      assert.throws(() => readRequestNonce(bytes), DerError);
    }
  });
});

describe('the in-process signature check', () => {
  const [leaf, ca] = [fixtureCertificate('leaf.pem'), fixtureCertificate('ca.pem')];
  const good = () => assertBasic(parseOcspResponse(Buffer.from(fixture('good.der'))));

  it('finds the signer good.der names, and its ECDSA signature verifies', () => {
    const response = good();
    const signer = findSigner(response, [leaf, ca]);
    assert.equal(signer, ca);
    assert.equal(signatureVerifies(response, ca), true);
    assert.equal(findSigner(response, [leaf]), undefined);
  });

  it('a signature changed by one bit, or checked with another key, does not verify', () => {
    const changed = good();
    changed.signed.signature.bytes[8]! ^= 0x01;
    assert.equal(signatureVerifies(changed, ca), false);
    assert.equal(signatureVerifies(good(), leaf), false);
  });

  it('an algorithm not checked here (SHA-1) is not called good, whatever the bytes', () => {
    const response = good();
    const sha1 = { ...response, signed: { ...response.signed, algorithm: Buffer.from('2a8648ce3d040301', 'hex') } };
    assert.equal(signatureVerifies(sha1, ca), false);
  });

  it('the issuer answers for itself; a certificate it issued without id-kp-OCSPSigning does not', () => {
    assert.equal(answersForIssuer(ca, ca), true);
    assert.equal(answersForIssuer(leaf, ca), false);
  });
});

describe('encodeOcspRequest: the built-in client sends what openssl would', () => {
  const certIdDer = computeCertId(fixtureCertificate('leaf.pem'), fixtureCertificate('ca.pem')).der;

  it('with a nonce, byte for byte the request OpenSSL 3.0 wrote for good.der', () => {
    const request = fixture('good-req.der');
    assert.deepEqual(encodeOcspRequest(certIdDer, readRequestNonce(request)), request);
  });

  it('without a nonce, byte for byte what openssl ocsp -no_nonce -reqout writes', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'hapos-upd-request-'));
    try {
      const written = path.join(dir, 'no-nonce.der');
      const fixturePath = (name: string) => fileURLToPath(new URL(`../fixtures/ocsp/${name}`, import.meta.url));
      await openssl([
        'ocsp',
        '-issuer',
        fixturePath('ca.pem'),
        '-cert',
        fixturePath('leaf.pem'),
        '-no_nonce',
        '-reqout',
        written,
      ]);
      assert.deepEqual(encodeOcspRequest(certIdDer), await readFile(written));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a new nonce each time, an OCTET STRING of 16 bytes, read back from the request', () => {
    const [first, second] = [newRequestNonce(), newRequestNonce()];
    assert.equal(first.length, 18);
    assert.deepEqual([...first.subarray(0, 2)], [0x04, 0x10]);
    assert.notDeepEqual(first, second);
    assert.deepEqual(readRequestNonce(encodeOcspRequest(certIdDer, first)), first);
  });
});

describe('hostile responses and certificates', () => {
  const leaf = fixtureCertificate('leaf.pem');
  const ca = fixtureCertificate('ca.pem');
  // Node parses a certificate without checking its signature: any key will do.
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const leafWith = (edit: (extensions: Buffer[]) => Buffer[]) =>
    new X509Certificate(withExtensions(leaf.raw, privateKey, edit));
  const replacing = (id: string, replacement: Buffer) => (extensions: Buffer[]) =>
    extensions.map((der) => (extensionId(der) === id ? replacement : der));
  const responseOfType = (oidContent: Buffer) =>
    encodeSequence([
      Buffer.from('0a0100', 'hex'),
      encodeElement(
        'context',
        true,
        0,
        encodeSequence([
          encodeElement('universal', false, UniversalTag.objectIdentifier, oidContent),
          encodeOctetString(Buffer.from('3000', 'hex')),
        ]),
      ),
    ]);
  /** A generous bound: the quadratic decoder took minutes on these. */
  const assertQuick = (startedAt: number) => {
    const elapsedMs = performance.now() - startedAt;
    assert.ok(elapsedMs < 1000, `took ${elapsedMs} ms`);
  };

  it('refuses a response type of a megabyte at once, in a short message', () => {
    const startedAt = performance.now();
    assertParseError(
      responseOfType(oidWithHugeArc(1024 * 1024)),
      /^malformed OCSP response: responseType: OBJECT IDENTIFIER of 1048576 bytes, over the limit of 586 \(at byte 18\)$/,
    );
    assertQuick(startedAt);
  });

  it('names an unsupported response type by its dotted OID, cut short', () => {
    assertParseError(
      responseOfType(oidWithHugeArc(500)),
      /^malformed OCSP response: unsupported response type 1\.3\.\d{72}… \(\d+ more characters\) \(at byte 15\)$/,
    );
  });

  it('names a CertID digest it does not know by its OID', () => {
    const sha1 = '06052b0e03021a';
    const good = fixture('good.der').toString('hex');
    assert.equal(good.split(sha1).length, 2, 'one sha1 OID in good.der');
    const response = assertBasic(parseOcspResponse(Buffer.from(good.replace(sha1, '06052b0e03021b'), 'hex')));
    assert.equal(response.responses[0]!.certId.hashAlgorithm, '1.3.14.3.2.27');
  });

  it('ignores a certificate extension with an OID of 300 KB: the run needs only two extensions', () => {
    const startedAt = performance.now();
    const hostile = leafWith((extensions) => [
      ...extensions,
      extension(oidWithHugeArc(300 * 1024), Buffer.from('0500', 'hex')),
    ]);
    assert.deepEqual(parseCertificateDetails(hostile), parseCertificateDetails(leaf));
    assert.deepEqual(computeCertId(hostile, ca).der, computeCertId(leaf, ca).der);
    assertQuick(startedAt);
  });

  it('reports an Authority Information Access it cannot decode, and reads the rest', () => {
    const uri = Buffer.from('http://127.0.0.1:8888/\xe9', 'latin1');
    const hostile = leafWith(replacing(AUTHORITY_INFO_ACCESS, extension(AUTHORITY_INFO_ACCESS, ocspAia(uri))));
    const uriOffset = hostile.raw.indexOf(uri) - 2;
    assert.deepEqual(parseCertificateDetails(hostile), {
      serialNumber: '1001',
      ocspUrls: [],
      unreadableAia: `can't decode the EE certificate's Authority Information Access extension: URI: non-ASCII IA5String (at byte ${uriOffset})`,
      mustStaple: true,
    });
  });

  it('reports a TLS Feature it cannot decode: Must-Staple is not claimed then', () => {
    const features = Buffer.from('3003040105', 'hex');
    const hostile = leafWith(replacing(TLS_FEATURE, extension(TLS_FEATURE, features)));
    const featureOffset = hostile.raw.indexOf(features) + 2;
    assert.deepEqual(parseCertificateDetails(hostile), {
      serialNumber: '1001',
      ocspUrls: ['http://127.0.0.1:8888/ocsp'],
      mustStaple: false,
      unreadableTlsFeature: `can't decode the EE certificate's TLS Feature extension: TLS feature: expected INTEGER, found OCTET STRING (at byte ${featureOffset})`,
    });
  });

  it('names an empty subject as such when the issuer does not match (node gives no subject for it)', () => {
    const emptySubject = new X509Certificate(withEmptySubject(leaf.raw, privateKey));
    assert.throws(
      () => computeCertId(leaf, emptySubject),
      (error: unknown) =>
        error instanceof CertificateParseError &&
        error.message ===
          "the issuer certificate's subject (empty name) differs from the leaf's issuer (O=hapos-upd, CN=Fixture CA)",
    );
  });

  it('throws CertificateParseError for a certificate node takes but whose DER is not strict', () => {
    // The first extension's length in long form: BER, which OpenSSL reads.
    const hostile = leafWith(([first, ...rest]) => [
      Buffer.concat([first!.subarray(0, 1), Buffer.from([0x81]), first!.subarray(1)]),
      ...rest,
    ]);
    for (const decode of [() => parseCertificateDetails(hostile), () => computeCertId(hostile, ca)]) {
      assert.throws(
        decode,
        (error: unknown) =>
          error instanceof CertificateParseError &&
          /^can't decode the (EE|leaf) certificate: non-minimal length \(at byte \d+\)$/.test(error.message),
      );
    }
  });
});

interface OpensslSingleResponse {
  hashAlgorithm: string;
  issuerNameHash: string;
  issuerKeyHash: string;
  serialNumber: string;
  certStatus: string;
  revocationTime?: Date;
  revocationReason?: string;
  thisUpdate: Date;
  nextUpdate?: Date;
}

/** Reads `openssl ocsp -resp_text` (or the request's `-req_text`) output. */
function parseOpensslText(text: string): { producedAt?: Date; responses: OpensslSingleResponse[]; nonce?: string } {
  const field = (block: string, name: string) => new RegExp(`^\\s*${name}: (.*)$`, 'm').exec(block)?.[1]?.trim();
  const date = (value: string | undefined) => (value === undefined ? undefined : new Date(value));
  const blocks = text.split(/^\s*Certificate ID:$/m).slice(1);
  const responses = blocks.map((block) => ({
    hashAlgorithm: field(block, 'Hash Algorithm')!,
    issuerNameHash: field(block, 'Issuer Name Hash')!,
    issuerKeyHash: field(block, 'Issuer Key Hash')!,
    serialNumber: field(block, 'Serial Number')!,
    certStatus: field(block, 'Cert Status') ?? '',
    revocationTime: date(field(block, 'Revocation Time')),
    revocationReason: field(block, 'Revocation Reason')?.split(' ')[0],
    thisUpdate: new Date(field(block, 'This Update') ?? ''),
    nextUpdate: date(field(block, 'Next Update')),
  }));
  return {
    producedAt: date(field(text, 'Produced At')),
    responses,
    nonce: /OCSP Nonce: \n\s*([0-9A-F]+)/.exec(text)?.[1],
  };
}

function assertSameAsOpenssl(response: BasicOcspResponse, text: string): void {
  const expected = parseOpensslText(text);
  assert.deepEqual(response.producedAt, expected.producedAt);
  assert.equal(response.nonce?.toString('hex').toUpperCase(), expected.nonce);
  assert.deepEqual(
    response.responses.map((single) => ({
      hashAlgorithm: single.certId.hashAlgorithm,
      issuerNameHash: single.certId.issuerNameHash.toString('hex').toUpperCase(),
      issuerKeyHash: single.certId.issuerKeyHash.toString('hex').toUpperCase(),
      serialNumber: single.certId.serialNumber,
      certStatus: single.certStatus,
      revocationTime: single.revocationTime,
      revocationReason: single.revocationReason,
      thisUpdate: single.thisUpdate,
      nextUpdate: single.nextUpdate,
    })),
    expected.responses,
  );
}

describe('parseOcspResponse and computeCertId against openssl', () => {
  let pki: OfflinePki;
  const certificate = (name: string) => pki.certificate(name);

  /** Exchanges with openssl's responder, and reads the request and response back as openssl prints them. */
  async function exchange(ca: string, leaves: string[], options?: ExchangeOptions) {
    const { requestPath, responsePath, responseDer } = await pki.exchange(ca, leaves, options);
    return {
      request: readRequest(await readFile(requestPath)),
      requestText: await openssl(['ocsp', '-reqin', requestPath, '-req_text'], { cwd: pki.dir }),
      response: assertBasic(parseOcspResponse(responseDer)),
      responseText: await openssl(['ocsp', '-respin', responsePath, '-resp_text', '-noverify'], { cwd: pki.dir }),
    };
  }

  const issue = (ca: string, leaf: string, serial: string, section?: string) =>
    pki.issue(ca, leaf, serial, section ? { file: 'leaf.cnf', section } : undefined);

  before(async () => {
    pki = await OfflinePki.create('hapos-ocsp-response-');
    await writeFile(
      pki.path('leaf.cnf'),
      [
        '[must_staple]',
        'authorityInfoAccess = caIssuers;URI:http://127.0.0.1:9/ca.crt, OCSP;URI:http://127.0.0.1:8080/a, OCSP;URI:https://[::1]:8443/b?x=1',
        'tlsfeature = status_request',
        '[other_feature]',
        'tlsfeature = status_request_v2',
        '',
      ].join('\n'),
    );
    await Promise.all(
      Object.entries(keyTypes).map(([ca, keyArgs]) =>
        pki.createCa(ca, keyArgs, `/C=FR/O=hapos-upd tests/CN=${ca.toUpperCase()} CA`),
      ),
    );
    await Promise.all([
      issue('ec', 'ec-good', '0x1001', 'must_staple'),
      issue('ec', 'ec-revoked', '0x80AB'),
      issue('ec', 'ec-unknown', '0x0777', 'other_feature'),
      issue('rsa', 'rsa-good', '0xE1F2A3B4C5D6E7F8091A2B3C4D5E6F7081920304'),
    ]);
    await Promise.all([
      pki.writeIndex('ec', [{ serial: '1001' }, { serial: '80AB', revoked: '240102030405Z,keyCompromise' }]),
      pki.writeIndex('rsa', [{ serial: 'E1F2A3B4C5D6E7F8091A2B3C4D5E6F7081920304' }]),
    ]);
  });

  after(async () => {
    await pki?.remove();
  });

  it('decodes a good response like openssl, with its nonce and signer certificate', async () => {
    const { request, response, responseText } = await exchange('ec', ['ec-good']);
    assertSameAsOpenssl(response, responseText);
    assert.equal(response.responses[0]!.certStatus, 'good');
    assert.ok(response.responses[0]!.nextUpdate);
    assert.deepEqual(response.nonce, request.nonce);
    assert.deepEqual(response.certificates, [(await certificate('ec')).raw]);
    assert.deepEqual(response.responderId, { byName: subjectNameDer(await certificate('ec')) });
  });

  it('reads the nonce of a request as openssl prints it, signed or not, and none with -no_nonce', async () => {
    const signed = ['-signer', pki.path('ec.pem'), '-signkey', pki.path('ec.key')];
    for (const requestArgs of [[], signed]) {
      const { requestPath } = await pki.exchange('ec', ['ec-good'], { requestArgs });
      const requestText = await openssl(['ocsp', '-reqin', requestPath, '-req_text']);
      const nonce = readRequestNonce(await readFile(requestPath));
      assert.equal(nonce?.length, 18, 'an OCTET STRING of 16 random bytes');
      assert.equal(nonce.toString('hex').toUpperCase(), /OCSP Nonce: \n\s*([0-9A-F]+)\n/.exec(requestText)?.[1]);
    }
    const { requestPath } = await pki.exchange('ec', ['ec-good'], { requestArgs: ['-no_nonce'] });
    assert.equal(readRequestNonce(await readFile(requestPath)), undefined);
  });

  it('has no nextUpdate when the responder sets none', async () => {
    const { response, responseText } = await exchange('ec', ['ec-good'], { responderArgs: [] });
    assertSameAsOpenssl(response, responseText);
    assert.equal(response.responses[0]!.nextUpdate, undefined);
  });

  it('decodes revoked with time and reason, and unknown', async () => {
    const { response, responseText } = await exchange('ec', ['ec-revoked', 'ec-unknown']);
    assertSameAsOpenssl(response, responseText);
    const [revoked, unknown] = response.responses;
    assert.equal(revoked!.certStatus, 'revoked');
    assert.equal(revoked!.revocationTime?.toISOString(), '2024-01-02T03:04:05.000Z');
    assert.equal(revoked!.revocationReason, 'keyCompromise');
    assert.equal(unknown!.certStatus, 'unknown');
    assert.equal(unknown!.certId.serialNumber, '0777');
  });

  it('keeps one SingleResponse per requested certificate, in request order', async () => {
    const { request, response, responseText } = await exchange('ec', ['ec-good', 'ec-revoked'], {
      requestArgs: ['-no_nonce'],
    });
    assertSameAsOpenssl(response, responseText);
    assert.deepEqual(
      response.responses.map((single) => single.certId.der),
      request.certIds,
    );
    assert.equal(response.nonce, undefined);
  });

  it('decodes -resp_no_certs and -resp_key_id responses, RSASSA-PSS signed', async () => {
    const { response, responseText } = await exchange('rsa', ['rsa-good'], {
      responderArgs: ['-ndays', '1', '-resp_no_certs', '-resp_key_id', '-rsigopt', 'rsa_padding_mode:pss'],
    });
    assertSameAsOpenssl(response, responseText);
    assert.deepEqual(response.certificates, []);
    const ownCertId = computeCertId(await certificate('rsa-good'), await certificate('rsa'));
    assert.deepEqual(response.responderId, { byKeyHash: ownCertId.issuerKeyHash });
    assert.equal(response.responses[0]!.certId.serialNumber, 'E1F2A3B4C5D6E7F8091A2B3C4D5E6F7081920304');
  });

  for (const ca of ['ec', 'rsa']) {
    for (const hash of ['sha1', 'sha256'] satisfies HashAlgorithmName[]) {
      it(`computes the CertID openssl puts in requests and responses (${ca.toUpperCase()} issuer, ${hash})`, async () => {
        const leafName = `${ca}-good`;
        const { request, requestText, response, responseText } = await exchange(ca, [leafName], {
          requestArgs: [`-${hash}`],
        });
        const leaf = await certificate(leafName);
        const computed: CertId = computeCertId(leaf, await certificate(ca), hash);
        assert.deepEqual(computed.der, request.certIds[0]);
        assert.deepEqual(computed.der, response.responses[0]!.certId.der);
        assert.ok(certIdMatches(computed, response.responses[0]!.certId));
        assert.equal(computed.serialNumber, leaf.serialNumber);
        const [fromRequestText] = parseOpensslText(requestText).responses;
        assert.deepEqual(
          {
            hashAlgorithm: computed.hashAlgorithm,
            issuerNameHash: computed.issuerNameHash.toString('hex').toUpperCase(),
            issuerKeyHash: computed.issuerKeyHash.toString('hex').toUpperCase(),
            serialNumber: computed.serialNumber,
          },
          {
            hashAlgorithm: fromRequestText!.hashAlgorithm,
            issuerNameHash: fromRequestText!.issuerNameHash,
            issuerKeyHash: fromRequestText!.issuerKeyHash,
            serialNumber: fromRequestText!.serialNumber,
          },
        );
        assertSameAsOpenssl(response, responseText);
      });
    }
  }

  it('refuses an issuer that did not issue the leaf', async () => {
    await assert.rejects(
      async () => computeCertId(await certificate('rsa-good'), await certificate('ec')),
      CertificateParseError,
    );
  });

  it('reads certificate details like node and openssl', async () => {
    const mustStaple = await certificate('ec-good');
    const details = parseCertificateDetails(mustStaple);
    assert.deepEqual(details, {
      serialNumber: '1001',
      ocspUrls: ['http://127.0.0.1:8080/a', 'https://[::1]:8443/b?x=1'],
      mustStaple: true,
    });
    const nodeOcspUrls = [...(mustStaple.infoAccess ?? '').matchAll(/^OCSP - URI:(.*)$/gm)].map((match) => match[1]);
    assert.deepEqual(details.ocspUrls, nodeOcspUrls);

    assert.deepEqual(parseCertificateDetails(await certificate('ec-unknown')), {
      serialNumber: '0777',
      ocspUrls: [],
      mustStaple: false,
    });
    assert.deepEqual(parseCertificateDetails(await certificate('rsa-good')), {
      serialNumber: 'E1F2A3B4C5D6E7F8091A2B3C4D5E6F7081920304',
      ocspUrls: [],
      mustStaple: false,
    });
  });
});
