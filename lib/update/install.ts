import { compareWithCurrent } from '../pki/acceptance.ts';
import { certIdHex, type CertId } from '../pki/cert-id.ts';
import { parseOcspResponse, type OcspResponse, type SingleResponse } from '../pki/ocsp-response.ts';
import type { BundleCertificate } from '../pki/bundle.ts';
import { formatOpensslDate } from '../openssl/output.ts';
import { FileWriteError, replaceFilesAtomically } from '../fs/write.ts';
import { HaproxyUpdateError, SocatMissingError } from '../haproxy/errors.ts';
import type { HaproxyTargetReport } from '../haproxy/notifier.ts';
import type { Chain, LockedContext } from './context.ts';
import { UpdateFailure } from './failure.ts';

/**
 * Whether the response in place is newer than the one received, which is
 * then kept. Only a response for this very certificate counts: after a
 * renewal the old certificate's response may well carry a later This Update.
 */
export async function keepsNewerInPlace(
  cert: string,
  current: OcspResponse | undefined,
  received: SingleResponse,
  expectedCertId: CertId,
  context: LockedContext,
): Promise<boolean> {
  const currentSingle = current && singleResponseFor(current, expectedCertId);
  if (currentSingle === undefined || compareWithCurrent(received, currentSingle) !== 'older') return false;
  await context.log.error(
    `${cert}.ocsp in place is newer (This Update ${formatOpensslDate(currentSingle.thisUpdate)}) than the response received (This Update ${formatOpensslDate(received.thisUpdate)}): keeping it`,
  );
  return true;
}

/** The response's first single response, when it is about the certificate with CERTID. */
function singleResponseFor(response: OcspResponse, certId: CertId): SingleResponse | undefined {
  const single = response.responseStatus === 'successful' ? response.responses[0] : undefined;
  return single !== undefined && certIdHex(single.certId) === certIdHex(certId) ? single : undefined;
}

/**
 * Install, files: the response always, the chain only when there was no
 * `.issuer` yet; each replaced atomically, and neither when either cannot be
 * written. The response is renamed first, as the original copies it first:
 * when its rename fails (a directory in its place, say), no `.issuer` appears.
 */
export async function installFiles(cert: string, responseDer: Buffer, chain: Chain): Promise<void> {
  const files = [
    { path: `${cert}.ocsp`, data: responseDer },
    ...(chain.fromIssuerFile ? [] : [{ path: `${cert}.issuer`, data: Buffer.from(chain.pem, 'latin1') }]),
  ];
  try {
    await replaceFilesAtomically(files, { modeFallbackFrom: cert });
  } catch (error) {
    if (!(error instanceof FileWriteError)) throw error;
    throw new UpdateFailure('haproxy', `can't update ${error.path} file (${error.code})`);
  }
}

/**
 * Notify HAProxy: hand it the new response, unless --skip-update. Says what
 * each HAProxy did with it (nothing when skipped).
 */
export async function notifyHaproxy(
  update: {
    readonly cert: string;
    readonly der: Buffer;
    readonly single: SingleResponse;
    readonly certId: CertId;
    readonly issuer: BundleCertificate;
    readonly ee: BundleCertificate;
  },
  skipUpdate: boolean,
  context: LockedContext,
): Promise<readonly HaproxyTargetReport[]> {
  if (skipUpdate) {
    context.log.debug('Not notifying haproxy because skip-update is set.');
    return [];
  }
  try {
    return await context.haproxy.notify({
      cert: update.cert,
      responseDer: update.der,
      certIdHex: certIdHex(update.certId),
      issuerPem: update.issuer.pem,
      sha1Fingerprint: update.ee.x509.fingerprint.replace(/:/g, ''),
      isOlderThan: (stapledDer) => isOlderThanStapled(update.single, stapledDer, update.certId),
      signal: context.deadline.signal,
    });
  } catch (error) {
    if (error instanceof HaproxyUpdateError) throw new UpdateFailure('haproxy', error.message);
    if (error instanceof SocatMissingError) throw new UpdateFailure('run', error.message);
    throw error;
  }
}

/**
 * Whether the response HAProxy staples is newer than RECEIVED. One HAProxy
 * cannot decode, or one about another certificate, counts as older: the
 * received one replaces it.
 */
function isOlderThanStapled(received: SingleResponse, stapledDer: Buffer, certId: CertId): boolean {
  let stapled: OcspResponse;
  try {
    stapled = parseOcspResponse(stapledDer);
  } catch {
    return false;
  }
  const single = singleResponseFor(stapled, certId);
  return single !== undefined && compareWithCurrent(received, single) === 'older';
}
