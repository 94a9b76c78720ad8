/**
 * The CertID, by which OCSP names a certificate: computed in-process from the
 * leaf and its issuer, so that a thousand certificates need no thousand
 * openssl runs, and compared as OpenSSL and HAProxy compare them.
 */
import { createHash, type X509Certificate } from 'node:crypto';
import { LruCache } from '../util/lru-cache.ts';
import { describeName } from './bundle.ts';
import { CertificateParseError, readCertificate, type CertificateFields } from './certificate.ts';
import { oidFromDotted, readIntegerHex } from './der-readers.ts';
import { encodeNull, encodeOctetString, encodeOid, encodeSequence } from './der-encode.ts';

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

/** The name of the digest whose OID has these content octets, if CertIDs here are made with it. */
export function knownHashAlgorithm(oid: Buffer): HashAlgorithmName | undefined {
  return hashAlgorithmNames.get(oid.toString('hex'));
}

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

/**
 * In a batch, thousands of leaves share a handful of issuers: each issuer is
 * decoded once, keyed by its DER fingerprint.
 */
const issuerFieldsCache = new LruCache<string, CertificateFields>(256);

function issuerFieldsOf(issuer: X509Certificate): CertificateFields {
  return issuerFieldsCache.getOrCompute(issuer.fingerprint256, () => readCertificate(issuer, 'issuer'));
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
