/**
 * What the updater reads from a certificate's DER that node's X509Certificate
 * does not give as data: the fields a CertID hashes, the OCSP URLs of the
 * Authority Information Access and Must-Staple.
 */
import type { X509Certificate } from 'node:crypto';
import { DerError, UniversalTag, contentOffset, parseDer, type DerElement } from './der.ts';
import {
  SequenceReader,
  isContextTag,
  isOid,
  oidFromDotted,
  readBitString,
  readExplicit,
  readIa5String,
  readImplicit,
  readInteger,
  readIntegerHex,
  readSequence,
} from './der-readers.ts';
import { findExtension, parseExtensions, type Extension } from './extensions.ts';

/** A certificate whose DER we cannot walk, or an issuer that is not the leaf's issuer. */
export class CertificateParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CertificateParseError';
  }
}

/** Content octets, compared with what the DER holds. */
const Oid = {
  accessMethodOcsp: oidFromDotted('1.3.6.1.5.5.7.48.1'),
  authorityInfoAccess: oidFromDotted('1.3.6.1.5.5.7.1.1'),
  tlsFeature: oidFromDotted('1.3.6.1.5.5.7.1.24'),
} as const;

/** TLS extension number of status_request, the feature that makes a certificate Must-Staple. */
const statusRequestFeature = 5n;

/** GeneralName uniformResourceIdentifier: [6] IMPLICIT IA5String. */
const generalNameUri = 6;

export interface CertificateFields {
  readonly serialNumber: DerElement;
  readonly issuerDer: Buffer;
  readonly subjectDer: Buffer;
  /** The subjectPublicKey BIT STRING's bits, without the unused-bits byte. */
  readonly publicKeyBits: Buffer;
  readonly extensions: readonly Extension[];
}

function decodeCertificate(raw: Buffer): CertificateFields {
  const certificate = new SequenceReader(parseDer(raw), 'Certificate');
  const tbs = new SequenceReader(certificate.next('tbsCertificate'), 'TBSCertificate');
  tbs.optional(0);
  const serialNumber = tbs.next('serialNumber');
  readInteger(serialNumber, 'serialNumber');
  tbs.next('signature');
  const issuer = tbs.next('issuer');
  readSequence(issuer, 'issuer');
  tbs.next('validity');
  const subject = tbs.next('subject');
  readSequence(subject, 'subject');
  const keyInfo = new SequenceReader(tbs.next('subjectPublicKeyInfo'), 'SubjectPublicKeyInfo');
  keyInfo.next('algorithm');
  const publicKeyBits = readBitString(keyInfo.next('subjectPublicKey'), 'subjectPublicKey').bytes;
  keyInfo.end();
  tbs.optional(1);
  tbs.optional(2);
  const extensionsField = tbs.optional(3);
  tbs.end();
  return {
    serialNumber,
    issuerDer: issuer.der,
    subjectDer: subject.der,
    publicKeyBits,
    extensions: extensionsField ? parseExtensions(readExplicit(extensionsField, 3, 'extensions')) : [],
  };
}

/**
 * What the decoders need of X509's DER; a CertificateParseError naming the
 * certificate by ROLE (leaf, issuer, EE) when that DER can't be walked.
 */
export function readCertificate(x509: X509Certificate, role: string): CertificateFields {
  try {
    return decodeCertificate(x509.raw);
  } catch (error) {
    if (error instanceof DerError) {
      throw new CertificateParseError(`can't decode the ${role} certificate: ${error.message}`);
    }
    throw error;
  }
}

export interface CertificateDetails {
  /** Same format as CertId.serialNumber. */
  readonly serialNumber: string;
  /** The Authority Information Access OCSP URIs, in certificate order. */
  readonly ocspUrls: readonly string[];
  /**
   * Why the Authority Information Access extension can't be decoded, when it
   * can't (ocspUrls is empty then). OpenSSL accepts such a certificate, and
   * a run given --ocsp-url never needs the extension.
   */
  readonly unreadableAia?: string;
  /** Whether the TLS Feature extension requires status_request (OCSP Must-Staple). */
  readonly mustStaple: boolean;
  /** Why the TLS Feature extension can't be decoded, when it can't (mustStaple is false then). */
  readonly unreadableTlsFeature?: string;
}

function readOcspUrls(aia: DerElement): string[] {
  return readSequence(parseDer(aia.value, contentOffset(aia)), 'AuthorityInfoAccess').flatMap((description) => {
    const fields = new SequenceReader(description, 'AccessDescription');
    const method = fields.next('accessMethod');
    const location = fields.next('accessLocation');
    fields.end();
    if (!isOid(method, Oid.accessMethodOcsp) || !isContextTag(location, generalNameUri)) return [];
    return [readIa5String(readImplicit(location, generalNameUri, UniversalTag.ia5String, 'URI'), 'URI')];
  });
}

function requiresStatusRequest(tlsFeature: DerElement): boolean {
  return readSequence(parseDer(tlsFeature.value, contentOffset(tlsFeature)), 'TLSFeature').some(
    (feature) => readInteger(feature, 'TLS feature') === statusRequestFeature,
  );
}

/**
 * An extension's meaning (FALLBACK when the certificate has none), or why its
 * DER can't be decoded: one odd extension must not sink the others.
 */
function decodeExtension<T>(
  name: string,
  extension: DerElement | undefined,
  decode: (extension: DerElement) => T,
  fallback: T,
): { readonly value: T; readonly failure?: string } {
  if (extension === undefined) return { value: fallback };
  try {
    return { value: decode(extension) };
  } catch (error) {
    if (!(error instanceof DerError)) throw error;
    return { value: fallback, failure: `can't decode the EE certificate's ${name} extension: ${error.message}` };
  }
}

/**
 * Facts about a certificate the updater needs that node's X509Certificate
 * does not expose as data. Throws CertificateParseError only when the
 * certificate itself can't be walked; an extension that can't be decoded is
 * reported in the result, for the caller to judge whether it needs it.
 */
export function parseCertificateDetails(x509: X509Certificate): CertificateDetails {
  const fields = readCertificate(x509, 'EE');
  const extension = (oid: Buffer) => findExtension(fields.extensions, oid);
  const aia = decodeExtension('Authority Information Access', extension(Oid.authorityInfoAccess), readOcspUrls, []);
  const tlsFeature = decodeExtension('TLS Feature', extension(Oid.tlsFeature), requiresStatusRequest, false);
  return {
    serialNumber: readIntegerHex(fields.serialNumber, 'serialNumber'),
    ocspUrls: aia.value,
    ...(aia.failure !== undefined && { unreadableAia: aia.failure }),
    mustStaple: tlsFeature.value,
    ...(tlsFeature.failure !== undefined && { unreadableTlsFeature: tlsFeature.failure }),
  };
}
