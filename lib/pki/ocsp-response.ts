/**
 * Decodes OCSP responses (RFC 6960) in-process, so that a thousand responses
 * can be checked without a thousand openssl runs. Nothing here verifies
 * signatures: openssl does that.
 */
import { shorten } from '../util/printable.ts';
import { knownHashAlgorithm, type CertId } from './cert-id.ts';
import { DerError, UniversalTag, contentOffset, parseDer, type DerElement } from './der.ts';
import {
  SequenceReader,
  formatOid,
  isContextTag,
  oidFromDotted,
  readBitString,
  readEnumerated,
  readExplicit,
  readGeneralizedTime,
  readImplicit,
  readInteger,
  readIntegerHex,
  readNull,
  readOctetString,
  readOid,
  readSequence,
  type BitString,
} from './der-readers.ts';
import { findExtension, parseExtensions } from './extensions.ts';

/** Bytes that are not a well-formed OCSP response (HTML error page, empty body, truncation...). */
export class OcspParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OcspParseError';
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

/** Content octets, compared with what the DER holds. */
export const OcspOid = {
  basic: oidFromDotted('1.3.6.1.5.5.7.48.1.1'),
  /** id-pkix-ocsp-nonce, in requests and responses alike. */
  nonce: oidFromDotted('1.3.6.1.5.5.7.48.1.2'),
} as const;

/** A foreign OID in a message or a name: the start of its dotted form is enough to recognise it. */
const describeOid = (content: Buffer) => shorten(formatOid(content), 100);

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
  /** What the responder signed, and how: for checking the signature. */
  readonly signed: SignedResponseData;
}

interface SignedResponseData {
  /** The DER of tbsResponseData, the bytes the signature covers. */
  readonly data: Buffer;
  /** The signature algorithm's OID, as content octets. */
  readonly algorithm: Buffer;
  /** The DER of the algorithm's parameters, when present (NULL for RSA; RSASSA-PSS's SEQUENCE). */
  readonly algorithmParameters?: Buffer;
  readonly signature: BitString;
}

export interface UnsuccessfulOcspResponse {
  readonly responseStatus: Exclude<OcspResponseStatus, 'successful'>;
}

export type OcspResponse = BasicOcspResponse | UnsuccessfulOcspResponse;

/** An AlgorithmIdentifier: its OID, and its parameters (NULL, absent, RSASSA-PSS's SEQUENCE) as they are. */
function readAlgorithm(element: DerElement, what: string): { readonly oid: Buffer; readonly parameters?: DerElement } {
  const [algorithm, parameters, ...extra] = readSequence(element, what);
  if (!algorithm) throw new DerError(`${what}: missing algorithm`, element.offset);
  if (extra.length > 0) throw new DerError(`${what}: unexpected fields after the parameters`, element.offset);
  return { oid: readOid(algorithm, what), ...(parameters !== undefined && { parameters }) };
}

function parseCertId(element: DerElement): CertId {
  const fields = new SequenceReader(element, 'CertID');
  const hashOid = readAlgorithm(fields.next('hashAlgorithm'), 'CertID hashAlgorithm').oid;
  const issuerNameHash = readOctetString(fields.next('issuerNameHash'), 'issuerNameHash');
  const issuerKeyHash = readOctetString(fields.next('issuerKeyHash'), 'issuerKeyHash');
  const serialNumber = readIntegerHex(fields.next('serialNumber'), 'serialNumber');
  fields.end();
  return {
    hashAlgorithm: knownHashAlgorithm(hashOid) ?? describeOid(hashOid),
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
  const tbsResponseData = basic.next('tbsResponseData');
  const data = new SequenceReader(tbsResponseData, 'ResponseData');
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
  const nonce = findExtension(extensions, OcspOid.nonce)?.value;

  const algorithm = readAlgorithm(basic.next('signatureAlgorithm'), 'signatureAlgorithm');
  const signature = readBitString(basic.next('signature'), 'signature');
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
    signed: {
      data: tbsResponseData.der,
      algorithm: algorithm.oid,
      ...(algorithm.parameters !== undefined && { algorithmParameters: algorithm.parameters.der }),
      signature,
    },
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
  if (!responseType.equals(OcspOid.basic)) {
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
