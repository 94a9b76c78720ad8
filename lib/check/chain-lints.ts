/** The bundle's chain: the EE certificate first, each certificate followed by its issuer, nothing unrelated. */
import { describeName, isIssuedBy } from '../pki/bundle.ts';
import type { Findings } from './findings.ts';
import { describeEntry, type BundleContext, type Entry } from './lint-context.ts';

/** Why orderedChain passed over the first certificate: it is a CA, or it issued another one. */
function whyNotEe(first: Entry, entries: readonly Entry[]): string {
  if (first.x509.ca) return 'is a CA certificate';
  const issued = entries.find((other) => other !== first && isIssuedBy(other.x509, first.x509));
  return `issued ${issued ? describeEntry(issued) : 'another certificate'}`;
}

function lintOrder({ entries, chain }: BundleContext, findings: Findings): void {
  const [first] = entries;
  const { leaf, issuers } = chain;
  if (first !== leaf) {
    findings.add(
      'chain-order',
      'error',
      'certificate',
      `${describeEntry(first)} ${whyNotEe(first, entries)}; ${describeEntry(leaf)} looks like the EE certificate: HAProxy serves, and hapos-upd staples for, the first certificate of the bundle, so put it first`,
    );
    return;
  }
  const expected = [leaf, ...issuers];
  const inFileOrder = entries.filter((entry) => expected.includes(entry));
  const misplaced = inFileOrder.findIndex((entry, index) => entry !== expected[index]);
  const child = expected[misplaced - 1];
  const found = inFileOrder[misplaced];
  if (child && found) {
    findings.add(
      'chain-order',
      'warning',
      'certificate',
      `${describeEntry(found)} follows ${describeEntry(child)} but did not issue it; order the chain as ${expected.map((entry) => entry.position).join(', ')} (each certificate followed by its issuer): TLS 1.2 clients may reject it`,
    );
  }
}

export function lintChain(context: BundleContext, findings: Findings): void {
  lintOrder(context, findings);
  const { leaf, issuers } = context.chain;
  const issuerMissing = issuers.length === 0 && !isIssuedBy(leaf.x509, leaf.x509);
  // A CA certificate may well belong above a missing issuer: only the gap is reported then.
  const unrelated = context.chain.unrelated.filter((entry) => !(issuerMissing && entry.x509.ca));
  for (const entry of unrelated) {
    findings.add(
      'chain-unrelated',
      'warning',
      'certificate',
      `${describeEntry(entry)} is on no chain with the EE certificate: HAProxy sends it to every client for nothing`,
    );
  }

  if (!issuerMissing || context.issuerFile.issuer) return;
  const loading =
    context.ocspFile.state === 'absent'
      ? ''
      : ` and HAProxy refuses to load the bundle while its .ocsp file exists ("impossible to compute the OCSP certificate ID (maybe the issuer could not be found)")`;
  findings.add(
    'issuer-missing',
    'error',
    // The original tool fails on a lone certificate before it looks for an issuer.
    context.entries.length > 1 ? 'certificate' : 'parsing',
    `the issuer of ${describeEntry(leaf)}, ${describeName(leaf.x509.issuer)}, is neither in the bundle nor in ${context.issuerFile.path}: hapos-upd can't build an OCSP request${loading}`,
  );
}
