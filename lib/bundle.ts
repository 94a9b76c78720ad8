import { X509Certificate } from 'node:crypto';

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----\r?\n[\s\S]*?-----END CERTIFICATE-----/g;

/** Every PEM certificate block of a bundle, in file order; text around them (keys, comments) is ignored. */
export function splitPemCertificates(text: string): string[] {
  return (text.match(PEM_CERTIFICATE) ?? []).map((block) => `${block.replace(/\r\n/g, '\n')}\n`);
}

export interface BundleCertificate {
  readonly pem: string;
  readonly x509: X509Certificate;
  /** As `openssl x509 -fingerprint -noout` prints it: `SHA1 Fingerprint=AA:BB:…`. */
  readonly fingerprint: string;
}

/** Parses one PEM block; undefined when the block is not a valid certificate. */
export function parseCertificate(pem: string): BundleCertificate | undefined {
  try {
    const x509 = new X509Certificate(pem);
    return { pem, x509, fingerprint: `SHA1 Fingerprint=${x509.fingerprint}` };
  } catch {
    return undefined;
  }
}

/** The OCSP responder URLs of a certificate's Authority Information Access extension. */
export function ocspUrls(certificate: X509Certificate): string[] {
  const accessLines = certificate.infoAccess?.split('\n') ?? [];
  return accessLines.flatMap((line) => {
    const match = /^OCSP - URI:(.+)$/.exec(line.trim());
    return match ? [match[1]!] : [];
  });
}

export interface ChainExtraction {
  readonly certificates: readonly BundleCertificate[];
  /** The bundle's certificates other than the EE, in bundle order. */
  readonly chain: readonly BundleCertificate[];
}

/** Splits a parsed bundle into the EE (by fingerprint) and the rest, which forms the chain. */
export function extractChain(certificates: readonly BundleCertificate[], ee: BundleCertificate): ChainExtraction {
  return {
    certificates,
    chain: certificates.filter((certificate) => certificate.fingerprint !== ee.fingerprint),
  };
}
