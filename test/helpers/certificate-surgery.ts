// Certificates no CA tool would issue, for the hostile-input tests: a real
// certificate with its extensions replaced, signed again by the same issuer
// key, so that it keeps its serial, subject and key (a responder still knows
// it) and openssl still verifies it.
import { X509Certificate, createPrivateKey, sign, type KeyObject } from 'node:crypto';
import { UniversalTag, parseDer } from '../../lib/pki/der.ts';
import {
  SequenceReader,
  formatOid,
  oidFromDotted,
  readExplicit,
  readOid,
  readSequence,
} from '../../lib/pki/der-readers.ts';
import { encodeOctetString, encodeSequence } from '../../lib/pki/der-encode.ts';
import { encodeElement } from './der-encode.ts';

/** Signature algorithms of the test PKI, all with SHA-256. */
const sha256Signatures = new Set(['1.2.840.113549.1.1.11', '1.2.840.10045.4.3.2']);

/** One Extension: the identifier as content octets (any length) or dotted, and the DER of its value. */
export function extension(id: string | Buffer, value: Buffer, critical = false): Buffer {
  const idContent = typeof id === 'string' ? oidFromDotted(id) : id;
  return encodeSequence([
    encodeElement('universal', false, UniversalTag.objectIdentifier, idContent),
    ...(critical ? [Buffer.from([0x01, 0x01, 0xff])] : []),
    encodeOctetString(value),
  ]);
}

/** An OID of SIZE content bytes whose last arc takes them all: the slowest kind to put in decimal. */
export function oidWithHugeArc(size: number): Buffer {
  return Buffer.concat([Buffer.from([0x2b]), Buffer.alloc(size - 2, 0x81), Buffer.from([0x01])]);
}

/** The Authority Information Access value naming one OCSP responder URI, given as raw bytes. */
export function ocspAia(uri: Buffer): Buffer {
  const accessMethodOcsp = encodeElement(
    'universal',
    false,
    UniversalTag.objectIdentifier,
    oidFromDotted('1.3.6.1.5.5.7.48.1'),
  );
  return encodeSequence([encodeSequence([accessMethodOcsp, encodeElement('context', false, 6, uri)])]);
}

export const AUTHORITY_INFO_ACCESS = '1.3.6.1.5.5.7.1.1';
export const TLS_FEATURE = '1.3.6.1.5.5.7.1.24';

/** The extensions of CERTIFICATE (DER), each as its whole Extension DER. */
export function extensionsOf(certificate: Buffer): Buffer[] {
  const tbs = readSequence(readSequence(parseDer(certificate), 'Certificate')[0]!, 'TBSCertificate');
  const field = tbs.find((element) => element.tagClass === 'context' && element.tagNumber === 3);
  return field ? readSequence(readExplicit(field, 3, 'extensions'), 'Extensions').map((element) => element.der) : [];
}

/** The dotted identifier of an Extension DER, as extensionsOf returns them. */
export function extensionId(extensionDer: Buffer): string {
  return formatOid(readOid(new SequenceReader(parseDer(extensionDer), 'Extension').next('extnID'), 'extnID'));
}

/**
 * CERTIFICATE (PEM or DER) with the fields of its TBSCertificate (each as its
 * DER, the version first) replaced by what EDIT returns for them, signed
 * again with ISSUER_KEY (PEM): a PEM certificate.
 */
export function resigned(
  certificate: string | Buffer,
  issuerKey: string | KeyObject,
  edit: (fields: Buffer[]) => Buffer[],
): string {
  const der = new X509Certificate(certificate).raw;
  const [tbs, signatureAlgorithm] = readSequence(parseDer(der), 'Certificate');
  const algorithm = formatOid(readOid(readSequence(signatureAlgorithm!, 'signatureAlgorithm')[0]!, 'algorithm'));
  if (!sha256Signatures.has(algorithm)) throw new Error(`unexpected signature algorithm ${algorithm}`);
  const newTbs = encodeSequence(edit(readSequence(tbs!, 'TBSCertificate').map((field) => field.der)));
  const key = typeof issuerKey === 'string' ? createPrivateKey(issuerKey) : issuerKey;
  const signature = sign('sha256', newTbs, key);
  const signed = encodeSequence([
    newTbs,
    signatureAlgorithm!.der,
    encodeElement('universal', false, UniversalTag.bitString, Buffer.concat([Buffer.from([0]), signature])),
  ]);
  const base64 = signed.toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN CERTIFICATE-----\n${base64}${base64.endsWith('\n') ? '' : '\n'}-----END CERTIFICATE-----\n`;
}

/** CERTIFICATE with its extensions replaced by what EDIT returns for them, signed again with ISSUER_KEY. */
export function withExtensions(
  certificate: string | Buffer,
  issuerKey: string | KeyObject,
  edit: (extensions: Buffer[]) => Buffer[],
): string {
  const extensions = edit(extensionsOf(new X509Certificate(certificate).raw));
  return resigned(certificate, issuerKey, (fields) => [
    ...fields.filter((field) => field[0] !== 0xa3),
    ...(extensions.length === 0 ? [] : [encodeElement('context', true, 3, encodeSequence(extensions))]),
  ]);
}

/** The subject Name is the sixth field of a TBSCertificate that has a version. */
const SUBJECT_FIELD = 5;

/** CERTIFICATE with an empty subject Name (an empty SEQUENCE), signed again with ISSUER_KEY: node gives undefined for it. */
export function withEmptySubject(certificate: string | Buffer, issuerKey: string | KeyObject): string {
  return resigned(certificate, issuerKey, (fields) =>
    fields.map((field, index) => (index === SUBJECT_FIELD ? Buffer.from('3000', 'hex') : field)),
  );
}
