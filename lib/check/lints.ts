/**
 * Offline lints of a certificate bundle and the files HAProxy loads beside it
 * (`CRT.key`, `CRT.issuer`, `CRT.ocsp`): what `--check` can say without a
 * network or an openssl process. Whether the chain reaches a trusted root is
 * `openssl verify`'s business; orderedChain() gives the caller what to verify.
 */
import { OCSP_RESPONSE_MAX_BYTES } from '../fs/caps.ts';
import { FileReadError } from '../fs/read.ts';
import { orderedChain, readBundle, type Bundle } from '../pki/bundle.ts';
import { lintValidity, lintEeDetails } from './certificate-lints.ts';
import { lintChain } from './chain-lints.ts';
import { lintIssuerFile, lintOcspFile } from './file-lints.ts';
import { Findings, type Finding } from './findings.ts';
import { lintKey } from './key-lints.ts';
import {
  entriesOf,
  readExtraFile,
  readFailureReason,
  readIssuerFile,
  type BundleContext,
  type Entry,
} from './lint-context.ts';

interface LintOptions {
  readonly now: Date;
  /** A certificate expiring within this many days gets a cert-expiring warning (default 21). */
  readonly warnDays?: number;
  /** Makes no-ocsp-url an error instead of a warning. */
  readonly requireOcsp?: boolean;
}

const defaultWarnDays = 21;

/**
 * Lints the bundle at `certPath` as HAProxy 2.6 (with the default
 * `ssl-load-extra-files all`) and hapos-upd load it: the bundle, `CRT.key`
 * when the bundle has no key, `CRT.issuer` and `CRT.ocsp`. The key is
 * checked against the first certificate, which HAProxy serves; the other
 * lints concern the certificate that looks like the EE, so that a misordered
 * bundle gets one chain-order error rather than a cascade. Findings come in
 * a stable order: bundle, chain, key, validity, EE extensions, `.issuer`,
 * `.ocsp`.
 */
export async function lintBundle(certPath: string, options: LintOptions): Promise<Finding[]> {
  const findings = new Findings(certPath);
  let bundle: Bundle;
  try {
    bundle = readBundle(certPath);
  } catch (error) {
    if (!(error instanceof FileReadError)) throw error;
    const reason = readFailureReason(error);
    findings.add('bundle-unreadable', 'error', 'certificate', `can't read ${certPath} (${reason})`);
    return findings.list;
  }
  for (const { position, certificate } of bundle.blocks) {
    if (certificate) continue;
    findings.add(
      'certificate-unparseable',
      'error',
      'parsing',
      `certificate ${position} of the bundle is not a valid certificate: HAProxy refuses to load the bundle`,
    );
  }
  // A first block that is no certificate already makes HAProxy refuse the
  // bundle; the lints go on from the first one that is, so that this one
  // error does not hide the others.
  const [first, ...rest] = entriesOf(bundle.blocks);
  if (!first) {
    findings.add('no-certificate', 'error', 'certificate', `can't extract EE certificate from ${certPath}`);
    return findings.list;
  }
  const entries: [Entry, ...Entry[]] = [first, ...rest];
  const chain = orderedChain(entries) ?? { leaf: first, issuers: [], unrelated: rest };
  const context: BundleContext = {
    certPath,
    text: bundle.text,
    entries,
    chain,
    issuerFile: readIssuerFile(certPath, chain.leaf),
    ocspFile: readExtraFile(`${certPath}.ocsp`, OCSP_RESPONSE_MAX_BYTES),
  };

  lintChain(context, findings);
  lintKey(context, findings);
  lintValidity(entries, options.now, options.warnDays ?? defaultWarnDays, findings);
  lintEeDetails(chain.leaf, options.requireOcsp ?? false, findings);
  lintIssuerFile(context, findings);
  lintOcspFile(context, options.now, findings);
  return findings.list;
}
