/** CRT.issuer and CRT.ocsp, the files HAProxy loads beside the bundle once hapos-upd has run. */
import { computeCertId, type CertId } from '../pki/cert-id.ts';
import { CertificateParseError } from '../pki/certificate.ts';
import { OcspParseError, parseOcspResponse, type OcspResponse } from '../pki/ocsp-response.ts';
import { assessResponse, describeRevocation, type ProblemCode } from '../pki/acceptance.ts';
import { describeName, findIssuer } from '../pki/bundle.ts';
import type { FindingCode, Findings } from './findings.ts';
import { describeEntry, entriesOf, type BundleContext, type ExtraFile } from './lint-context.ts';

/**
 * HAProxy 2.6 reads CRT.issuer whenever CRT.ocsp exists, and refuses the
 * bundle when its first certificate is unreadable or did not issue the EE
 * certificate, even if the bundle holds the right issuer. hapos-upd writes
 * CRT.ocsp, so a bad CRT.issuer breaks the next HAProxy start either way.
 */
function haproxyVerdict(ocspFile: ExtraFile, error: string): string {
  const when = ocspFile.state === 'absent' ? 'will refuse to load the bundle once' : 'refuses to load the bundle while';
  return `HAProxy ${when} its .ocsp file exists ("${error}")`;
}

export function lintIssuerFile({ issuerFile, chain, ocspFile }: BundleContext, findings: Findings): void {
  const { path, file, blocks, issuer } = issuerFile;
  if (file.state === 'absent' || issuer) return;
  const first = blocks[0]?.certificate;
  if (!first) {
    const reason =
      file.state === 'failed'
        ? file.reason
        : blocks.length > 0
          ? 'its first certificate is not valid'
          : 'no PEM certificate';
    findings.add(
      'issuer-file-unreadable',
      'error',
      'certificate',
      `${path} can't be read (${reason}): ${haproxyVerdict(ocspFile, 'cannot be read or parsed')}`,
    );
    return;
  }
  const { leaf } = chain;
  const laterIssuer = findIssuer(leaf, entriesOf(blocks.slice(1)));
  const updater = laterIssuer
    ? `hapos-upd finds the issuer further in it (certificate ${laterIssuer.position}), but`
    : "hapos-upd uses it as the chain and can't validate the EE certificate, and";
  const remedy = laterIssuer
    ? 'put the issuer first in it'
    : 'remove it to let hapos-upd take the chain from the bundle';
  findings.add(
    'issuer-file-mismatch',
    'error',
    'certificate',
    `${path} starts with ${describeName(first.x509.subject)}, which did not issue ${describeEntry(leaf)} (issuer ${describeName(leaf.x509.issuer)}): ${updater} ${haproxyVerdict(ocspFile, 'is not an issuer')}; ${remedy}`,
  );
}

const ocspProblemCodes: Readonly<Record<ProblemCode, FindingCode>> = {
  'not-successful': 'ocsp-file-unusable',
  'not-single': 'ocsp-file-unusable',
  'wrong-certificate': 'ocsp-file-mismatch',
  'cert-id-encoding': 'ocsp-file-mismatch',
  'status-unknown': 'ocsp-file-unusable',
  'no-next-update': 'ocsp-file-unusable',
  'not-yet-valid': 'ocsp-file-unusable',
  expired: 'ocsp-file-expired',
  'expires-too-soon': 'ocsp-file-expired',
};

/** What HAProxy 2.6 logs when it drops such a response at load time. */
const haproxyWarnings: Partial<Record<FindingCode, string>> = {
  'ocsp-file-mismatch': 'OCSP single response: Certificate ID does not match certificate and issuer',
};

function parseOcspFile(path: string, bytes: Buffer, findings: Findings): OcspResponse | undefined {
  if (bytes.length === 0) {
    findings.add(
      'ocsp-file-empty',
      'warning',
      'parsing',
      `${path} is empty: HAProxy staples nothing until hapos-upd sets a response`,
    );
    return undefined;
  }
  try {
    return parseOcspResponse(bytes);
  } catch (error) {
    if (!(error instanceof OcspParseError)) throw error;
    findings.add(
      'ocsp-file-unreadable',
      'error',
      'parsing',
      `${path}: ${error.message}: HAProxy ignores it ("Unable to parse OCSP response")`,
    );
    return undefined;
  }
}

/**
 * Checks CRT.ocsp with HAProxy's acceptance rules. Without the leaf's issuer
 * there is no CertID to compare with, and HAProxy would not load the bundle
 * anyway (issuer-missing says so): only the parsing is checked then.
 */
export function lintOcspFile(context: BundleContext, now: Date, findings: Findings): void {
  const { ocspFile, chain } = context;
  const path = `${context.certPath}.ocsp`;
  if (ocspFile.state === 'absent') return;
  if (ocspFile.state === 'failed') {
    findings.add('ocsp-file-unreadable', 'error', 'parsing', `${path} can't be read (${ocspFile.reason})`);
    return;
  }
  const response = parseOcspFile(path, ocspFile.bytes, findings);
  const issuer = chain.issuers[0] ?? context.issuerFile.issuer;
  if (!response || !issuer) return;
  let expected: CertId;
  try {
    expected = computeCertId(chain.leaf.x509, issuer.x509);
  } catch (error) {
    if (error instanceof CertificateParseError) return;
    throw error;
  }
  const assessment = assessResponse(response, expected, now);
  if (!assessment.ok) {
    const code = ocspProblemCodes[assessment.problem.code];
    const warning = haproxyWarnings[code];
    findings.add(
      code,
      'error',
      'ocsp',
      `${path}: ${assessment.problem.message}${warning ? `: HAProxy ignores it ("${warning}")` : ''}`,
    );
  } else if (assessment.single.certStatus === 'revoked') {
    findings.add(
      'ocsp-file-revoked',
      'error',
      'ocsp',
      `${path}: ${describeRevocation(assessment.single)}: HAProxy staples it and clients refuse the site`,
    );
  }
}
