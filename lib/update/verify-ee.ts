import { endEntityOf, parseBundle, readPemFile, type Bundle } from '../pki/bundle.ts';
import { parseVerifyError } from '../openssl/output.ts';
import type { VerificationRequest } from '../openssl/chain-verifier.ts';
import { FileReadError } from '../fs/read.ts';
import type { LockedContext, TempFiles, UpdateOptions } from './context.ts';
import { UpdateFailure } from './failure.ts';
import { chainPemOf, trustPemOf } from './responder-and-chain.ts';

/**
 * What verifying the EE will hand `openssl verify` for a certificate, so that a batch
 * can verify many at once beforehand: undefined when the bundle is not one
 * the flow would get that far with.
 */
export function plannedVerification(
  cert: string,
  options: Pick<UpdateOptions, 'partialChain' | 'extraCaFile'>,
): VerificationRequest | undefined {
  let bundle: Bundle;
  try {
    bundle = parseBundle(readPemFile(cert));
  } catch {
    return undefined;
  }
  const ee = endEntityOf(bundle);
  if (ee === undefined) return undefined;
  let issuerText: string | undefined;
  try {
    issuerText = readPemFile(`${cert}.issuer`);
  } catch (error) {
    // Only a missing one sends the flow to the bundle's chain; the flow stops at any other failure.
    if (!(error instanceof FileReadError) || error.problem.kind !== 'missing') return undefined;
  }
  return {
    eePem: ee.pem,
    trustPem: trustPemOf(issuerText ?? chainPemOf(ee, bundle.certificates), options.extraCaFile),
    partialChain: options.partialChain,
  };
}

/** Verify the EE: it must chain up through the extracted (or existing) chain. */
export async function verifyEndEntity(
  cert: string,
  chainFromIssuerFile: boolean,
  files: TempFiles,
  request: VerificationRequest,
  context: LockedContext,
): Promise<void> {
  if (context.verifiedChains?.has(request)) return;
  const verified = await context.openssl.verify({
    caFile: files.trust,
    cert: files.ee,
    partialChain: request.partialChain,
    signal: context.deadline.signal,
  });
  if (verified.exitCode === 0) return;
  if (verified.stopped === 'aborted') {
    throw new UpdateFailure('certificate', `can't validate the EE certificate: ${context.deadline.reason}`);
  }
  const reason = parseVerifyError(`${verified.stdout}${verified.stderr}`);
  if (chainFromIssuerFile) {
    throw new UpdateFailure(
      'certificate',
      `can't validate the EE certificate against the existing chain; if it has been changed recently consider removing the current ${cert}.issuer file and let this script to figure out a new one`,
    );
  }
  throw new UpdateFailure(
    'certificate',
    `can't validate the EE certificate against the extracted chain${reason === undefined ? '' : ` (${reason})`}`,
  );
}
