import { X509Certificate } from 'node:crypto';
import { LruCache } from './lru-cache.ts';

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

/**
 * The intermediates of a batch repeat in every bundle (and its `.issuer`):
 * recently parsed blocks are kept so each is decoded once, not once per
 * certificate. Bounded, so that a batch's leaves do not pile up.
 */
const recentlyParsed = new LruCache<string, BundleCertificate | undefined>(64);

/** Parses one PEM block; undefined when the block is not a valid certificate. */
export function parseCertificate(pem: string): BundleCertificate | undefined {
  return recentlyParsed.getOrCompute(pem, decodeCertificate);
}

function decodeCertificate(pem: string): BundleCertificate | undefined {
  try {
    const x509 = new X509Certificate(pem);
    return { pem, x509, fingerprint: `SHA1 Fingerprint=${x509.fingerprint}` };
  } catch {
    return undefined;
  }
}
