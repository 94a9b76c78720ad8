/**
 * Decodes OCSP responses (RFC 6960) and computes CertIDs in-process, so that
 * a thousand certificates can be checked without a thousand openssl runs.
 * Nothing here verifies signatures: openssl does that.
 */
import { createHash, type X509Certificate } from 'node:crypto';
import { LruCache } from '../util/lru-cache.ts';
import { describeName } from './bundle.ts';
import { DerError, UniversalTag, contentOffset, parseDer, type DerElement } from './der.ts';
import {
  SequenceReader,
  formatOid,
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
  isContextTag,
} from './der-readers.ts';
import { encodeNull, encodeOctetString, encodeOid, encodeSequence } from './der-encode.ts';
import { shorten } from '../util/printable.ts';

/** Bytes that are not a well-formed OCSP response (HTML error page, empty body, truncation...). */
export class OcspParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OcspParseError';
  }
}

/** A certificate whose DER we cannot walk, or an issuer that is not the leaf's issuer. */
export class CertificateParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CertificateParseError';
  }
}

/** RFC 6960 OCSPResponseStatus, indexed by its ENUMERATED value (4 is unused). */
const responseStatuses = [
  'successful',
  'malformedRequest',
  'internalError',
  'tryLater',
  undefined,
  'sigRequired',
  'unauthorized',
] as const;

type OcspResponseStatus = Exclude<(typeof responseStatuses)[number], undefined>;

/** RFC 5280 CRLReason, indexed by its ENUMERATED value (7 is unused). */
const crlReasons = [
  'unspecified',
  'keyCompromise',
  'cACompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'certificateHold',
  undefined,
  'removeFromCRL',
  'privilegeWithdrawn',
  'aACompromise',
] as const;

export type CrlReason = Exclude<(typeof crlReasons)[number], undefined>;

const hashAlgorithmOids = {
  sha1: '1.3.14.3.2.26',
  sha224: '2.16.840.1.101.3.4.2.4',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',
} as const;

export type HashAlgorithmName = keyof typeof hashAlgorithmOids;

/** Keyed by the hex of the OID's content octets. */
const hashAlgorithmNames: ReadonlyMap<string, HashAlgorithmName> = new Map(
  Object.entries(hashAlgorithmOids).map(([name, oid]) => [
    oidFromDotted(oid).toString('hex'),
    name as HashAlgorithmName,
  ]),
);

/** Content octets, compared with what the DER holds. */
const Oid = {
  ocspBasic: oidFromDotted('1.3.6.1.5.5.7.48.1.1'),
  ocspNonce: oidFromDotted('1.3.6.1.5.5.7.48.1.2'),
  accessMethodOcsp: oidFromDotted('1.3.6.1.5.5.7.48.1'),
  authorityInfoAccess: oidFromDotted('1.3.6.1.5.5.7.1.1'),
  tlsFeature: oidFromDotted('1.3.6.1.5.5.7.1.24'),
} as const;

/** A foreign OID in a message or a name: the start of its dotted form is enough to recognise it. */
const describeOid = (content: Buffer) => shorten(formatOid(content), 100);

/** TLS extension number of status_request, the feature that makes a certificate Must-Staple. */
const statusRequestFeature = 5n;

/** GeneralName uniformResourceIdentifier: [6] IMPLICIT IA5String. */
const generalNameUri = 6;

export interface CertId {
  /** A known digest name, or the dotted OID of any other digest (cut short past 100 characters). */
  readonly hashAlgorithm: HashAlgorithmName | (string & {});
  readonly issuerNameHash: Buffer;
  readonly issuerKeyHash: Buffer;
  /**
   * Uppercase hex, an even number of digits, no sign padding: `1001`, `80AB`,
   * as `openssl ocsp -resp_text` and node's `x509.serialNumber` print it.
   */
  readonly serialNumber: string;
  /** The DER of the CertID SEQUENCE; HAProxy keys its OCSP responses on these bytes. */
  readonly der: Buffer;
}

export type CertStatus = 'good' | 'revoked' | 'unknown';

export interface SingleResponse {
  readonly certId: CertId;
  /** Same bytes as `certId.der`. */
  readonly certIdDer: Buffer;
  readonly certStatus: CertStatus;
  /** Only when revoked. */
  readonly revocationTime?: Date;
  /** Only when revoked and the responder gave a reason. */
  readonly revocationReason?: CrlReason;
  readonly thisUpdate: Date;
  /** Absent when the responder always has newer information (e.g. `openssl ocsp` without -ndays). */
  readonly nextUpdate?: Date;
}

/** byName holds the DER of the responder's Name. */
type ResponderId = { readonly byName: Buffer } | { readonly byKeyHash: Buffer };

/** A successful response of type id-pkix-ocsp-basic. Buffers are views into the parsed bytes. */
export interface BasicOcspResponse {
  readonly responseStatus: 'successful';
  readonly producedAt: Date;
  readonly responderId: ResponderId;
  readonly responses: readonly SingleResponse[];
  /** DER of each certificate the responder included (usually its signing certificate). */
  readonly certificates: readonly Buffer[];
  /** The nonce extension's extnValue octets, as `openssl ocsp -resp_text` prints them. */
  readonly nonce?: Buffer;
}

export interface UnsuccessfulOcspResponse {
  readonly responseStatus: Exclude<OcspResponseStatus, 'successful'>;
}

export type OcspResponse = BasicOcspResponse | UnsuccessfulOcspResponse;

interface Extension {
  /**
   * Not decoded: it is only compared with the few OIDs looked for here, and
   * any other, however long or odd, belongs to an extension nobody needs.
   */
  readonly id: DerElement;
  readonly value: DerElement;
}

function parseExtensions(element: DerElement): Extension[] {
  return readSequence(element, 'Extensions').map((child) => {
    const fields = new SequenceReader(child, 'Extension');
    const id = fields.next('extnID');
    const criticalField = fields.optional(UniversalTag.boolean, 'universal');
    if (criticalField) readBoolean(criticalField, 'critical');
    const value = fields.next('extnValue');
    readOctetString(value, 'extnValue');
    fields.end();
    return { id, value };
  });
}

/** The extnValue OCTET STRING of the extension OID. */
function findExtension(extensions: readonly Extension[], oid: Buffer): DerElement | undefined {
  return extensions.find((extension) => isOid(extension.id, oid))?.value;
}

/** The OID of an AlgorithmIdentifier; its parameters (NULL, absent, RSASSA-PSS's SEQUENCE) are not needed. */
function readAlgorithmOid(element: DerElement, what: string): Buffer {
  const [algorithm, , ...extra] = readSequence(element, what);
  if (!algorithm) throw new DerError(`${what}: missing algorithm`, element.offset);
  if (extra.length > 0) throw new DerError(`${what}: unexpected fields after the parameters`, element.offset);
  return readOid(algorithm, what);
}

function parseCertId(element: DerElement): CertId {
  const fields = new SequenceReader(element, 'CertID');
  const hashOid = readAlgorithmOid(fields.next('hashAlgorithm'), 'CertID hashAlgorithm');
  const issuerNameHash = readOctetString(fields.next('issuerNameHash'), 'issuerNameHash');
  const issuerKeyHash = readOctetString(fields.next('issuerKeyHash'), 'issuerKeyHash');
  const serialNumber = readIntegerHex(fields.next('serialNumber'), 'serialNumber');
  fields.end();
  return {
    hashAlgorithm: hashAlgorithmNames.get(hashOid.toString('hex')) ?? describeOid(hashOid),
    issuerNameHash,
    issuerKeyHash,
    serialNumber,
    der: element.der,
  };
}

function crlReasonName(element: DerElement): CrlReason {
  const value = readEnumerated(readExplicit(element, 0, 'revocationReason'), 'revocationReason');
  const reason = crlReasons[value];
  if (!reason) throw new DerError(`unknown revocation reason ${value}`, element.offset);
  return reason;
}

type StatusFields = Pick<SingleResponse, 'certStatus' | 'revocationTime' | 'revocationReason'>;

function parseCertStatus(element: DerElement): StatusFields {
  if (isContextTag(element, 0)) {
    readNull(readImplicit(element, 0, UniversalTag.null, 'good'), 'good');
    return { certStatus: 'good' };
  }
  if (isContextTag(element, 2)) {
    readNull(readImplicit(element, 2, UniversalTag.null, 'unknown'), 'unknown');
    return { certStatus: 'unknown' };
  }
  const fields = new SequenceReader(readImplicit(element, 1, UniversalTag.sequence, 'certStatus'), 'RevokedInfo');
  const revocationTime = readGeneralizedTime(fields.next('revocationTime'), 'revocationTime');
  const reasonField = fields.optional(0);
  fields.end();
  return {
    certStatus: 'revoked',
    revocationTime,
    ...(reasonField && { revocationReason: crlReasonName(reasonField) }),
  };
}

function parseSingleResponse(element: DerElement): SingleResponse {
  const fields = new SequenceReader(element, 'SingleResponse');
  const certId = parseCertId(fields.next('certID'));
  const status = parseCertStatus(fields.next('certStatus'));
  const thisUpdate = readGeneralizedTime(fields.next('thisUpdate'), 'thisUpdate');
  const nextUpdateField = fields.optional(0);
  const extensionsField = fields.optional(1);
  fields.end();
  if (extensionsField) parseExtensions(readExplicit(extensionsField, 1, 'singleExtensions'));
  return {
    certId,
    certIdDer: certId.der,
    ...status,
    thisUpdate,
    ...(nextUpdateField && {
      nextUpdate: readGeneralizedTime(readExplicit(nextUpdateField, 0, 'nextUpdate'), 'nextUpdate'),
    }),
  };
}

function parseResponderId(element: DerElement): ResponderId {
  if (isContextTag(element, 2)) {
    return {
      byKeyHash: readOctetString(readExplicit(element, 2, 'responderID'), 'responderID byKey'),
    };
  }
  const name = readExplicit(element, 1, 'responderID');
  readSequence(name, 'responderID byName');
  return { byName: name.der };
}

function parseBasicResponse(element: DerElement): BasicOcspResponse {
  const basic = new SequenceReader(element, 'BasicOCSPResponse');
  const data = new SequenceReader(basic.next('tbsResponseData'), 'ResponseData');
  const versionField = data.optional(0);
  if (versionField && readInteger(readExplicit(versionField, 0, 'version'), 'version') !== 0n) {
    throw new DerError('unsupported ResponseData version', versionField.offset);
  }
  const responderId = parseResponderId(data.next('responderID'));
  const producedAt = readGeneralizedTime(data.next('producedAt'), 'producedAt');
  const responses = readSequence(data.next('responses'), 'responses').map(parseSingleResponse);
  const extensionsField = data.optional(1);
  data.end();
  const extensions = extensionsField ? parseExtensions(readExplicit(extensionsField, 1, 'responseExtensions')) : [];
  const nonce = findExtension(extensions, Oid.ocspNonce)?.value;

  readAlgorithmOid(basic.next('signatureAlgorithm'), 'signatureAlgorithm');
  readBitString(basic.next('signature'), 'signature');
  const certsField = basic.optional(0);
  basic.end();
  const certificates = certsField
    ? readSequence(readExplicit(certsField, 0, 'certs'), 'certs').map((certificate) => {
        readSequence(certificate, 'certificate');
        return certificate.der;
      })
    : [];

  return {
    responseStatus: 'successful',
    producedAt,
    responderId,
    responses,
    certificates,
    ...(nonce && { nonce }),
  };
}

function decodeResponse(der: Buffer): OcspResponse {
  const outer = new SequenceReader(parseDer(der), 'OCSPResponse');
  const statusField = outer.next('responseStatus');
  const statusValue = readEnumerated(statusField, 'responseStatus');
  const responseStatus = responseStatuses[statusValue];
  if (!responseStatus) throw new DerError(`unknown responseStatus ${statusValue}`, statusField.offset);
  const bytesField = outer.optional(0);
  outer.end();
  if (responseStatus !== 'successful') {
    if (bytesField) throw new DerError(`responseBytes present with status ${responseStatus}`, bytesField.offset);
    return { responseStatus };
  }
  if (!bytesField) throw new DerError('successful response without responseBytes', der.length);

  const responseBytes = new SequenceReader(readExplicit(bytesField, 0, 'responseBytes'), 'ResponseBytes');
  const typeField = responseBytes.next('responseType');
  const responseType = readOid(typeField, 'responseType');
  const responseField = responseBytes.next('response');
  responseBytes.end();
  if (!responseType.equals(Oid.ocspBasic)) {
    throw new DerError(`unsupported response type ${describeOid(responseType)}`, typeField.offset);
  }
  const basicDer = readOctetString(responseField, 'response');
  return parseBasicResponse(parseDer(basicDer, contentOffset(responseField)));
}

/** A short, printable hint of what non-DER bytes look like (an HTML page, a text error). */
function describeForeignBytes(bytes: Buffer): string {
  const head = bytes.subarray(0, 24).toString('latin1');
  return /^[\x20-\x7e\t\r\n]+$/.test(head)
    ? `text starting with ${JSON.stringify(head)}`
    : `bytes starting with ${bytes.subarray(0, 8).toString('hex')}`;
}

/**
 * Decodes a DER OCSP response. Throws OcspParseError when the bytes are not a
 * well-formed response (only the structure is checked, not the signature).
 */
export function parseOcspResponse(der: Buffer): OcspResponse {
  if (der.length === 0) throw new OcspParseError('not an OCSP response: empty');
  if (der[0] !== 0x30) {
    throw new OcspParseError(`not an OCSP response: ${describeForeignBytes(der)}`);
  }
  try {
    return decodeResponse(der);
  } catch (error) {
    if (error instanceof DerError) throw new OcspParseError(`malformed OCSP response: ${error.message}`);
    throw error;
  }
}

interface CertificateFields {
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
 * In a batch, thousands of leaves share a handful of issuers: each issuer is
 * decoded once, keyed by its DER fingerprint.
 */
const issuerFieldsCache = new LruCache<string, CertificateFields>(256);

function issuerFieldsOf(issuer: X509Certificate): CertificateFields {
  return issuerFieldsCache.getOrCompute(issuer.fingerprint256, () => readCertificate(issuer, 'issuer'));
}

function readCertificate(x509: X509Certificate, role: string): CertificateFields {
  try {
    return decodeCertificate(x509.raw);
  } catch (error) {
    if (error instanceof DerError) {
      throw new CertificateParseError(`can't decode the ${role} certificate: ${error.message}`);
    }
    throw error;
  }
}

/**
 * The CertID of `leaf`, encoded as OpenSSL's OCSP_cert_to_id and HAProxy
 * encode it: AlgorithmIdentifier with NULL parameters, the hash of the leaf's
 * issuer Name as it appears in the leaf, the hash of the issuer's public key
 * bits, and the leaf's serial INTEGER copied verbatim.
 */
export function computeCertId(
  leaf: X509Certificate,
  issuer: X509Certificate,
  hash: HashAlgorithmName = 'sha1',
): CertId {
  const leafFields = readCertificate(leaf, 'leaf');
  const issuerFields = issuerFieldsOf(issuer);
  if (!leafFields.issuerDer.equals(issuerFields.subjectDer)) {
    throw new CertificateParseError(
      `the issuer certificate's subject (${describeName(issuer.subject)}) differs from the leaf's issuer (${describeName(leaf.issuer)})`,
    );
  }
  const issuerNameHash = createHash(hash).update(leafFields.issuerDer).digest();
  const issuerKeyHash = createHash(hash).update(issuerFields.publicKeyBits).digest();
  const der = encodeSequence([
    encodeSequence([encodeOid(hashAlgorithmOids[hash]), encodeNull()]),
    encodeOctetString(issuerNameHash),
    encodeOctetString(issuerKeyHash),
    leafFields.serialNumber.der,
  ]);
  return {
    hashAlgorithm: hash,
    issuerNameHash,
    issuerKeyHash,
    serialNumber: readIntegerHex(leafFields.serialNumber, 'serialNumber'),
    der,
  };
}

/**
 * Whether two CertIDs name the same certificate. Like OpenSSL's OCSP_id_cmp,
 * this ignores the algorithm parameters; CertIDs made with different digests
 * never match. (HAProxy's `set ssl ocsp-response` compares the DER instead:
 * see certIdHex.)
 */
export function certIdMatches(a: CertId, b: CertId): boolean {
  return (
    a.hashAlgorithm === b.hashAlgorithm &&
    a.issuerNameHash.equals(b.issuerNameHash) &&
    a.issuerKeyHash.equals(b.issuerKeyHash) &&
    a.serialNumber === b.serialNumber
  );
}

/** Lowercase hex of the CertID DER: HAProxy's "Certificate ID key" for the certificate. */
export function certIdHex(certId: Pick<CertId, 'der'>): string {
  return certId.der.toString('hex');
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
