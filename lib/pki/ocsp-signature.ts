/**
 * The part of OpenSSL's OCSP_basic_verify that needs no trust store, done
 * in-process for a batch: find the signer by the response's responderID,
 * check the signature over tbsResponseData with its key, and tell whether it
 * is the certificate's issuer or a responder the issuer delegated to.
 * Whether the signer's own chain is trusted is openssl's to say (`openssl
 * verify -purpose ocsphelper`, once per signer and run).
 *
 * Each function answers only when it is sure, and is never more lenient than
 * OpenSSL: anything it does not know (an algorithm, a name written another
 * way) is left to `openssl ocsp` itself.
 */
import { createHash, verify, X509Certificate } from 'node:crypto';
import { readCertificate, type CertificateFields } from './certificate.ts';
import { oidFromDotted } from './der-readers.ts';
import type { BasicOcspResponse } from './ocsp-response.ts';

/** The signature algorithms checked here, by OID content octets (hex): the digest, and whether it is RSA PKCS#1 v1.5 or ECDSA. */
const signatureAlgorithms: ReadonlyMap<string, { readonly digest: string; readonly kind: 'rsa' | 'ecdsa' }> = new Map(
  (
    [
      ['1.2.840.113549.1.1.11', 'sha256', 'rsa'],
      ['1.2.840.113549.1.1.12', 'sha384', 'rsa'],
      ['1.2.840.113549.1.1.13', 'sha512', 'rsa'],
      ['1.2.840.10045.4.3.2', 'sha256', 'ecdsa'],
      ['1.2.840.10045.4.3.3', 'sha384', 'ecdsa'],
      ['1.2.840.10045.4.3.4', 'sha512', 'ecdsa'],
    ] as const
  ).map(([oid, digest, kind]) => [oidFromDotted(oid).toString('hex'), { digest, kind }]),
);

/** The DER of a NULL, the parameters RSA signature algorithms carry. */
const DER_NULL = Buffer.from([0x05, 0x00]);

/** id-kp-OCSPSigning, the extended key usage a delegated responder needs. */
const OCSP_SIGNING = '1.3.6.1.5.5.7.3.9';

/**
 * The certificates the response carries, or undefined when one cannot be
 * read: openssl's own check says what is wrong with it.
 */
export function certificatesOf(response: BasicOcspResponse): X509Certificate[] | undefined {
  try {
    return response.certificates.map((der) => new X509Certificate(der));
  } catch {
    return undefined;
  }
}

/**
 * The certificate among CANDIDATES that the response's responderID names:
 * the same Name, byte for byte, or the SHA-1 of the same public key.
 */
export function findSigner(
  response: BasicOcspResponse,
  candidates: readonly X509Certificate[],
): X509Certificate | undefined {
  const id = response.responderId;
  return candidates.find((candidate) => {
    let fields: CertificateFields;
    try {
      fields = readCertificate(candidate, 'OCSP signer');
    } catch {
      return false;
    }
    return 'byName' in id
      ? fields.subjectDer.equals(id.byName)
      : createHash('sha1').update(fields.publicKeyBits).digest().equals(id.byKeyHash);
  });
}

/**
 * Whether SIGNER's key made the response's signature: true only for a
 * signature checked and good; false for one checked and bad, or of an
 * algorithm not checked here.
 */
export function signatureVerifies(response: BasicOcspResponse, signer: X509Certificate): boolean {
  const { signed } = response;
  const algorithm = signatureAlgorithms.get(signed.algorithm.toString('hex'));
  if (algorithm === undefined || signed.signature.unusedBits !== 0) return false;
  const key = signer.publicKey;
  const parametersAllowed =
    algorithm.kind === 'rsa'
      ? signed.algorithmParameters === undefined || signed.algorithmParameters.equals(DER_NULL)
      : signed.algorithmParameters === undefined;
  const keyFits = algorithm.kind === 'rsa' ? key.asymmetricKeyType === 'rsa' : key.asymmetricKeyType === 'ec';
  if (!parametersAllowed || !keyFits) return false;
  try {
    return verify(algorithm.digest, signed.data, { key, dsaEncoding: 'der' }, signed.signature.bytes);
  } catch {
    return false;
  }
}

/**
 * Whether SIGNER may answer for the certificates ISSUER issued, as OpenSSL's
 * issuer check allows: it is ISSUER itself, byte for byte, or ISSUER issued
 * and signed it and it carries id-kp-OCSPSigning.
 */
export function answersForIssuer(signer: X509Certificate, issuer: X509Certificate): boolean {
  if (signer.raw.equals(issuer.raw)) return true;
  const delegated = signer.keyUsage?.includes(OCSP_SIGNING) === true;
  return delegated && signer.checkIssued(issuer) && signer.verify(issuer.publicKey);
}
