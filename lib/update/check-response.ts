import { assessResponse, describeRevocation, type ProblemCode } from '../pki/acceptance.ts';
import type { CertId } from '../pki/cert-id.ts';
import type { OcspResponse, SingleResponse } from '../pki/ocsp-response.ts';
import type { X509Certificate } from 'node:crypto';
import { answersForIssuer, certificatesOf, findSigner, signatureVerifies } from '../pki/ocsp-signature.ts';
import { formatOpensslDate, parseVerificationOutcome, reportsCertificateStatus } from '../openssl/output.ts';
import type { Verification } from '../openssl/openssl.ts';
import type { Log } from '../util/log.ts';
import { shorten } from '../util/printable.ts';
import type { LockedContext, TempFiles, UpdateOptions } from './context.ts';
import { UpdateFailure } from './failure.ts';
import type { Received } from './fetch-response.ts';

/** Problems that say the response is not about this certificate at all. */
const IDENTITY_PROBLEMS: ReadonlySet<ProblemCode> = new Set([
  'not-successful',
  'not-single',
  'wrong-certificate',
  'cert-id-encoding',
]);

/**
 * Check the response: that it is about this certificate, what openssl says of
 * its signature, and that HAProxy would take it. Returns the certificate's
 * entry; a revocation is reported, and refused under `-g`.
 */
export async function checkReceived(
  received: Received,
  expectedCertId: CertId,
  issuing: IssuingCertificates,
  files: TempFiles,
  verification: Verification,
  options: UpdateOptions,
  context: LockedContext,
): Promise<SingleResponse> {
  const assessment = assessResponse(received.response, expectedCertId, context.now());
  // A response that is not about this certificate at all leaves openssl
  // nothing to report on; say what it is before asking openssl.
  if (!assessment.ok && IDENTITY_PROBLEMS.has(assessment.problem.code)) {
    throw new UpdateFailure('ocsp', assessment.problem.message);
  }
  // Before openssl's verdict: openssl stops at a nonce other than the one
  // sent ('Nonce Verify error', exit 1, nothing verified), only warns of a
  // missing one, and checks neither with --noverify. curl's separate check
  // never knows the nonce sent.
  if (received.sentNonce !== undefined) checkNonce(received.response, received.sentNonce, context.log);
  const checkedHere =
    received.verdict === undefined &&
    (await checkedInProcess(received, issuing, files, verification, options, context));
  if (!checkedHere) await checkWithOpenssl(files, verification, received.verdict, options, context);
  // Past the identity checks, the response holds this certificate's one entry.
  const entry = received.response.responseStatus === 'successful' ? received.response.responses[0] : undefined;
  if (options.goodOnly && entry?.certStatus !== 'good') {
    throw new UpdateFailure('ocsp', 'OCSP response, certificate status not good');
  }
  if (!assessment.ok) throw new UpdateFailure('ocsp', assessment.problem.message);
  const single = assessment.single;
  if (single.certStatus === 'revoked') await context.log.error(`${options.cert}: ${describeRevocation(single)}`);
  return single;
}

/**
 * `--nonce`: the response must carry the nonce sent, byte for byte, as
 * openssl compares them; anything else was made for another request.
 */
function checkNonce(response: OcspResponse, sent: Buffer, log: Log): void {
  // Only a successful response gets past the identity checks.
  const echoed = response.responseStatus === 'successful' ? response.nonce : undefined;
  if (echoed === undefined) {
    throw new UpdateFailure(
      'ocsp',
      'OCSP response carries no nonce, though the request sent one (--nonce): the responder, or a cache before it, ignores nonces',
    );
  }
  const hex = (nonce: Buffer) => shorten(nonce.toString('hex'), MAX_NONCE_HEX);
  if (!echoed.equals(sent)) {
    throw new UpdateFailure(
      'ocsp',
      `OCSP response carries nonce ${hex(echoed)} where the request sent ${hex(sent)} (--nonce): a cached or replayed response`,
    );
  }
  log.debug(`OCSP response nonce matches the one sent: ${hex(sent)}`);
}

/** openssl's nonce, an OCTET STRING of 16 bytes, in full; a responder's own may be anything. */
const MAX_NONCE_HEX = 40;

/**
 * In a batch, a response the built-in client or curl fetched is checked here
 * when that is certain to be what `openssl ocsp -issuer CHAIN` would say: the
 * chain file starts with the EE's issuer (openssl makes its CertID from that
 * first certificate), every certificate the response carries can be read,
 * and its signer (one of them, or the issuer) signed it with a key checked
 * here, is the issuer or a responder the issuer delegated to, and has a
 * chain openssl trusts (checked once per responder and run). Anything else
 * (another algorithm, --VAfile, --partial-chain, a failure of any kind) is
 * left to `openssl ocsp`, which reports it in its own words: true only when
 * the response passed.
 */
async function checkedInProcess(
  received: Received,
  issuing: IssuingCertificates,
  files: TempFiles,
  verification: Verification,
  options: UpdateOptions,
  context: LockedContext,
): Promise<boolean> {
  const { responderChains } = context;
  const { response } = received;
  const { issuer, chainFileStartsWithIssuer } = issuing;
  const applies =
    responderChains !== undefined &&
    response.responseStatus === 'successful' &&
    verification.verify &&
    verification.vaFile === undefined &&
    !options.partialChain &&
    chainFileStartsWithIssuer;
  if (!applies) return false;
  const carried = certificatesOf(response);
  if (carried === undefined) return false;
  const signer = findSigner(response, carried) ?? findSigner(response, [issuer]);
  if (signer === undefined || !signatureVerifies(response, signer) || !answersForIssuer(signer, issuer)) return false;
  const untrustedPem = carried
    .filter((certificate) => certificate !== signer)
    .map((certificate) => certificate.toString())
    .join('');
  if (!(await responderChains.trusts(signer.toString(), untrustedPem, verification.caFile))) return false;
  context.log.debug('OCSP response verification results: Response verify OK');
  context.log.debug(`OCSP response: ${statusText(files.ee, response.responses[0]!)}`);
  return true;
}

/** The chain certificate that issued the EE, and whether the chain file openssl reads starts with it. */
interface IssuingCertificates {
  readonly issuer: X509Certificate;
  readonly chainFileStartsWithIssuer: boolean;
}

/** A certificate's entry as `openssl ocsp` prints it after the response's check. */
function statusText(eeFile: string, single: SingleResponse): string {
  return [
    `${eeFile}: ${single.certStatus}`,
    `\tThis Update: ${formatOpensslDate(single.thisUpdate)}`,
    ...(single.nextUpdate === undefined ? [] : [`\tNext Update: ${formatOpensslDate(single.nextUpdate)}`]),
    ...(single.revocationReason === undefined ? [] : [`\tReason: ${single.revocationReason}`]),
    ...(single.revocationTime === undefined ? [] : [`\tRevocation Time: ${formatOpensslDate(single.revocationTime)}`]),
  ].join('\n');
}

/**
 * The verdict of the fetching openssl process or of a separate check (curl).
 * OpenSSL 1.1 and later exit non-zero when only the signature is wrong; that
 * is an OCSP error (4), and exit 1 is kept for a response that could not be
 * read at all.
 */
async function checkWithOpenssl(
  files: TempFiles,
  verification: Verification,
  fetchVerdict: Received['verdict'],
  options: UpdateOptions,
  context: LockedContext,
): Promise<void> {
  const { log } = context;
  const checked =
    fetchVerdict ??
    (await context.openssl.checkResponse({
      issuer: files.chain,
      cert: files.ee,
      partialChain: options.partialChain,
      responseIn: files.response,
      verification,
      signal: context.deadline.signal,
    }));
  if (checked.stopped === 'aborted') {
    throw new UpdateFailure('certificate', `can't receive OCSP response (${context.deadline.reason})`);
  }
  const verdictText = checked.stderr.replace(/\s+$/, '');
  const outcome = parseVerificationOutcome(verdictText);
  const unreadable = checked.exitCode !== 0 && (!options.verify || outcome === 'absent');
  if (unreadable) throw new UpdateFailure('certificate', "can't receive OCSP response");

  if (options.verify) {
    log.debug(`OCSP response verification results: ${verdictText}`);
    if (outcome === 'signer-not-found') {
      throw new UpdateFailure(
        'ocsp',
        "OCSP response verification failure: signer certificate not found; try with '--VAfile -' or '--VAfile OCSP-response-signing-certificate-file' arguments",
      );
    }
    if (outcome !== 'verified') throw new UpdateFailure('ocsp', 'OCSP response verification failure.');
  }

  const statusText = checked.stdout.replace(/\s+$/, '');
  log.debug(`OCSP response: ${statusText}`);
  if (!reportsCertificateStatus(statusText)) throw new UpdateFailure('certificate', "can't receive OCSP response");
}
