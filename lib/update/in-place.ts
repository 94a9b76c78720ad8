import { existsSync, writeFileSync } from 'node:fs';
import { endEntityOf, readBundle, type Bundle, type BundleCertificate } from '../pki/bundle.ts';
import { CertificateParseError, parseCertificateDetails, type CertificateDetails } from '../pki/certificate.ts';
import { parseOcspResponse, type OcspResponse } from '../pki/ocsp-response.ts';
import { formatOpensslDate } from '../openssl/output.ts';
import { OCSP_RESPONSE_MAX_BYTES } from '../fs/caps.ts';
import { FileReadError, readRegularFileSync } from '../fs/read.ts';
import type { InPlace, UpdateContext } from './context.ts';
import { UpdateFailure } from './failure.ts';

/** Read the bundle first: a missing one is exit 1, not a lock file that cannot be created. */
export function readBundleOf(cert: string): Bundle {
  try {
    return readBundle(cert);
  } catch (error) {
    if (!(error instanceof FileReadError)) throw error;
    throw new UpdateFailure('certificate', `can't extract EE certificate from ${cert} (${error.reason})`);
  }
}

/** Read what is in place: the response HAProxy staples now, and the EE (written to `eePath` for openssl). */
export async function readWhatIsInPlace(
  cert: string,
  bundle: Bundle,
  eePath: string,
  context: UpdateContext,
): Promise<InPlace> {
  const current = existsSync(`${cert}.ocsp`) ? await reportCurrentResponse(cert, context) : undefined;
  const ee = extractEndEntity(cert, bundle, eePath);
  const details = certificateDetailsOf(cert, ee);
  return { cert, bundle, ee, details, ...(current && { current }) };
}

/**
 * Check the response in place: says whether it has expired, and returns it so
 * that a newer one is never replaced by an older one. An unreadable file is
 * reported and replaced (an empty one silently: a placeholder); the original
 * silently ignored both. A FIFO or a device there is never replaced: exit 5.
 */
async function reportCurrentResponse(cert: string, context: UpdateContext): Promise<OcspResponse | undefined> {
  const { log } = context;
  log.debug('An OCSP response already exists: checking its expiration.');
  let der: Buffer;
  try {
    der = readRegularFileSync(`${cert}.ocsp`, { maxBytes: OCSP_RESPONSE_MAX_BYTES }).bytes;
  } catch (error) {
    if (!(error instanceof FileReadError)) throw error;
    if (error.problem.kind === 'missing') return undefined;
    // Its replacement would be renamed over a FIFO or a device node (or the
    // device a link leads to); a directory only makes the rename fail.
    if (error.problem.kind === 'not-regular' && error.problem.type !== 'directory') {
      throw new UpdateFailure('haproxy', `can't update ${cert}.ocsp file (${error.reason})`);
    }
    await log.error(`current OCSP response ${cert}.ocsp is unreadable (${error.reason}): it will be replaced`);
    return undefined;
  }
  // HAProxy 2.6 only takes a response at run time for a certificate that
  // had a `.ocsp` when it started, so an empty one is a deliberate placeholder.
  if (der.length === 0) {
    log.debug(`Current OCSP response ${cert}.ocsp is an empty placeholder: it will be replaced`);
    return undefined;
  }
  let current: OcspResponse;
  try {
    current = parseOcspResponse(der);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    await log.error(`current OCSP response ${cert}.ocsp is unreadable (${reason}): it will be replaced`);
    return undefined;
  }
  const nextUpdate = current.responseStatus === 'successful' ? current.responses[0]?.nextUpdate : undefined;
  if (nextUpdate === undefined) return current;
  const expiration = formatOpensslDate(nextUpdate);
  if (nextUpdate.getTime() < context.now().getTime()) {
    log.debug(`Current OCSP response expiration: ${expiration} - expired`);
    await log.error('current OCSP response is expired: please consider running this script more frequently');
  } else {
    log.debug(`Current OCSP response expiration: ${expiration} - NOT expired`);
  }
  return current;
}

/** Extract the EE: the bundle's first certificate. */
function extractEndEntity(cert: string, bundle: Bundle, eePath: string): BundleCertificate {
  const ee = endEntityOf(bundle);
  if (ee === undefined) {
    throw new UpdateFailure(
      'certificate',
      `can't extract EE certificate from ${cert} (${describeBundle(bundle.text)})`,
    );
  }
  writeFileSync(eePath, ee.pem);
  return ee;
}

/** Why a bundle holds no usable PEM certificate. */
function describeBundle(text: string): string {
  if (text.length === 0) return 'the file is empty';
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text) && !text.includes('-----BEGIN CERTIFICATE-----')) {
    return 'it holds a private key but no certificate';
  }
  if (text.includes('-----BEGIN CERTIFICATE-----')) return 'its first certificate is not valid PEM';
  if (text.charCodeAt(0) === 0x30)
    return 'it looks like DER; HAProxy needs PEM (openssl x509 -inform DER -outform PEM)';
  return 'no PEM certificate in it';
}

/**
 * What the flow needs from the EE's extensions. Node's X509Certificate took
 * the certificate, so one whose DER can't be walked is no program error: it
 * is an EE certificate that can't be extracted.
 */
function certificateDetailsOf(cert: string, ee: BundleCertificate): CertificateDetails {
  try {
    return parseCertificateDetails(ee.x509);
  } catch (error) {
    if (!(error instanceof CertificateParseError)) throw error;
    throw new UpdateFailure('certificate', `can't extract EE certificate from ${cert} (${error.message})`);
  }
}

/** An expired or not yet valid EE still gets its response, but the user should know. */
export function warnAboutValidity(ee: BundleCertificate, context: UpdateContext): void {
  const now = context.now().getTime();
  if (Date.parse(ee.x509.validTo) < now) {
    void context.log.error(`warning: the EE certificate expired on ${ee.x509.validTo}`);
  } else if (Date.parse(ee.x509.validFrom) > now) {
    void context.log.error(`warning: the EE certificate is not valid before ${ee.x509.validFrom}`);
  }
}
