import path from 'node:path';
import { describeName, findIssuer, orderedChain, type Bundle, type BundleCertificate } from '../pki/bundle.ts';
import { assessResponse, isFreshEnough } from '../pki/acceptance.ts';
import type { OcspResponse, SingleResponse } from '../pki/ocsp-response.ts';
import { formatOpensslDate } from '../openssl/output.ts';
import type { Verification } from '../openssl/openssl.ts';
import type {
  Chain,
  InPlace,
  LockedContext,
  TempFiles,
  UpdateContext,
  UpdateOptions,
  UpdateResult,
} from './context.ts';
import { Deadline } from './deadline.ts';
import { UpdateFailure } from './failure.ts';
import { withCertificateLock } from './certificate-lock.ts';
import { readBundleOf, readWhatIsInPlace, warnAboutValidity } from './in-place.ts';
import { certIdOf, chooseChain, chooseResponder, issuerOf, trustPemOf } from './responder-and-chain.ts';
import { verifyEndEntity } from './verify-ee.ts';
import { fetchResponse } from './fetch-response.ts';
import { checkReceived } from './check-response.ts';
import { installFiles, keepsNewerInPlace, notifyHaproxy } from './install.ts';

/**
 * The update of one certificate bundle, as the original updater did it: read
 * what is in place, choose the responder and the chain, skip if fresh, verify
 * the EE, fetch, check the response, install, notify HAProxy.
 */
export async function updateCertificate(options: UpdateOptions, context: UpdateContext): Promise<UpdateResult> {
  const bundle = readBundleOf(options.cert);
  return withCertificateLock(options, context.log, async (lock) => {
    // Waiting for the lock has its own limit (--lock-timeout); the deadline starts once it is held.
    const deadline = new Deadline(options.deadlineSeconds);
    try {
      const locked: LockedContext = { ...context, deadline };
      const files = ownTempFiles(context.tempDir);
      const inPlace = await readWhatIsInPlace(options.cert, bundle, files.ee, locked);
      return await withFailureNotes(inPlace, async () => {
        warnAboutValidity(inPlace.ee, locked);
        const responder = chooseResponder(inPlace.details, options, locked);
        const chain = chooseChain(options.cert, bundle, inPlace.ee, locked.log);

        // Before any openssl process: a fresh response in place ends the run here.
        const fresh = options.skipFresh ? skipIfFresh(inPlace, chain, locked) : undefined;
        if (fresh !== undefined) return resultOf('skipped-fresh', fresh, inPlace.current);

        const tempFiles = await writeChainFiles(files, chain, options, locked);
        await verifyEndEntity(
          options.cert,
          chain.fromIssuerFile,
          tempFiles,
          { eePem: inPlace.ee.pem, trustPem: tempFiles.trustPem, partialChain: options.partialChain },
          locked,
        );
        const issuer = issuerOf(inPlace.ee, chain.certificates);
        const certId = certIdOf(inPlace.ee, issuer);
        const verification = verificationFor(tempFiles, options);

        const received = await fetchResponse(responder, certId, tempFiles, verification, options, locked);
        const issuing = { issuer: issuer.x509, chainFileStartsWithIssuer: chainFileStartsWith(chain, issuer) };
        const single = await checkReceived(received, certId, issuing, tempFiles, verification, options, locked);
        if (options.dryRun) {
          locked.log.debug('Debug mode: haproxy update skipped.');
          return resultOf('checked', single, received.response);
        }
        if (await keepsNewerInPlace(options.cert, inPlace.current, single, certId, locked)) {
          return resultOf('kept-current', single, received.response);
        }

        if (lock.unwritable !== undefined) throw lock.unwritable;
        await installFiles(options.cert, received.der, chain);
        const haproxy = await notifyHaproxy(
          { cert: options.cert, der: received.der, single, certId, issuer, ee: inPlace.ee },
          options.skipUpdate,
          locked,
        );
        const action = single.certStatus === 'revoked' ? 'revoked' : 'updated';
        return { ...resultOf(action, single, received.response), ...(haproxy.length > 0 && { haproxy }) };
      });
    } finally {
      deadline.clear();
    }
  });
}

/**
 * SINGLE is the certificate's entry in RESPONSE (received, or in place): a
 * response with entries is a successful one, which the type alone does not say.
 */
const resultOf = (
  action: UpdateResult['action'],
  single: SingleResponse,
  response: OcspResponse | undefined,
): UpdateResult => ({
  action,
  certStatus: single.certStatus,
  thisUpdate: single.thisUpdate,
  nextUpdate: single.nextUpdate,
  ...(response?.responseStatus === 'successful' && { producedAt: response.producedAt }),
});

/**
 * Whether the chain file starts with CERTIFICATE, the one `openssl ocsp
 * -issuer` reads; false when that is not certain (an `.issuer` file with text
 * before its first certificate, say).
 */
function chainFileStartsWith(chain: Chain, certificate: BundleCertificate): boolean {
  const [first] = chain.certificates;
  return first !== undefined && chain.pem.startsWith(first.pem) && first.x509.raw.equals(certificate.x509.raw);
}

function ownTempFiles(tempDir: string) {
  const inTemp = (name: string) => path.join(tempDir, name);
  return { ee: inTemp('ee.pem'), request: inTemp('ocsp-request.der'), response: inTemp('ocsp.der') };
}

/**
 * Skip if fresh: the response in place, when it is for this certificate, says
 * `good`, HAProxy would take it, and most of its validity is ahead. A
 * `revoked` one is always asked again: skipping it would hide the revocation
 * and let `-g` pass.
 */
function skipIfFresh(inPlace: InPlace, chain: Chain, context: UpdateContext): SingleResponse | undefined {
  const issuer = findIssuer(inPlace.ee, chain.certificates);
  if (inPlace.current === undefined || issuer === undefined) return undefined;
  const now = context.now();
  const assessment = assessResponse(inPlace.current, certIdOf(inPlace.ee, issuer), now);
  if (!assessment.ok || assessment.single.certStatus !== 'good' || !isFreshEnough(assessment.single, now)) {
    return undefined;
  }
  context.log.debug(
    `Current OCSP response is fresh (Next Update ${formatOpensslDate(assessment.single.nextUpdate!)}): skipped, as --skip-fresh asks.`,
  );
  return assessment.single;
}

/**
 * The chain, and what openssl trusts (the chain, or the chain with the extra
 * anchors of --ca-file), as files shared by the certificates of a run that
 * have the same.
 */
async function writeChainFiles(
  own: ReturnType<typeof ownTempFiles>,
  chain: Chain,
  options: UpdateOptions,
  context: UpdateContext,
): Promise<TempFiles & { readonly trustPem: string }> {
  const trustPem = trustPemOf(chain.pem, options.extraCaFile);
  const chainFile = await context.sharedFiles.chains.pathFor(chain.pem);
  const trust = options.extraCaFile === undefined ? chainFile : await context.sharedFiles.trusts.pathFor(trustPem);
  return { ...own, chain: chainFile, trust, trustPem };
}

function verificationFor(files: TempFiles, options: UpdateOptions): Verification {
  const vaFile = options.vaFile === undefined || typeof options.vaFile === 'string' ? options.vaFile : files.chain;
  return { caFile: files.trust, vaFile, verify: options.verify };
}

/**
 * A failure says what else the user should know: a misordered bundle (which
 * makes every later step fail for the wrong certificate), and a Must-Staple
 * certificate, whose site clients refuse without a valid staple.
 */
async function withFailureNotes<R>(inPlace: InPlace, steps: () => Promise<R>): Promise<R> {
  try {
    return await steps();
  } catch (error) {
    if (!(error instanceof UpdateFailure) || error.kind === 'run') throw error;
    const notes = [
      misorderNote(inPlace.bundle),
      inPlace.details.mustStaple
        ? 'this certificate demands OCSP stapling (Must-Staple): clients will refuse the site without a valid staple'
        : '',
    ].filter((note) => note !== '');
    if (notes.length === 0) throw error;
    throw new UpdateFailure(error.kind, `${error.message} (${notes.join('; ')})`);
  }
}

/**
 * When the bundle's order is wrong, names the certificate that looks like the
 * EE (`orderedChain`'s leaf) and is not a CA: a bundle of CA certificates alone
 * is missing its EE rather than misordered.
 */
function misorderNote(bundle: Bundle): string {
  const leaf = orderedChain(bundle.certificates)?.leaf;
  if (leaf === undefined || leaf === bundle.certificates[0] || leaf.x509.ca) return '';
  const number = bundle.certificates.indexOf(leaf) + 1;
  return `the bundle's certificates are out of order: n. ${number} (${describeName(leaf.x509.subject)}) looks like the EE certificate and must come first`;
}
