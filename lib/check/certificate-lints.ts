/** The certificates themselves: their validity periods, and the EE's OCSP URL and TLS Feature. */
import { CertificateParseError, parseCertificateDetails, type CertificateDetails } from '../pki/certificate.ts';
import { shorten } from '../util/printable.ts';
import type { Findings } from './findings.ts';
import { describeEntry, type Entry } from './lint-context.ts';

const millisecondsPerDay = 24 * 60 * 60 * 1000;
const iso = (date: Date) => date.toISOString();

export function lintValidity(entries: readonly Entry[], now: Date, warnDays: number, findings: Findings): void {
  for (const entry of entries) {
    const notBefore = new Date(entry.x509.validFrom);
    const notAfter = new Date(entry.x509.validTo);
    const remainingMs = notAfter.getTime() - now.getTime();
    if (remainingMs <= 0) {
      findings.add('cert-expired', 'error', 'certificate', `${describeEntry(entry)} expired at ${iso(notAfter)}`);
    } else if (notBefore.getTime() > now.getTime()) {
      findings.add(
        'cert-not-yet-valid',
        'error',
        'certificate',
        `${describeEntry(entry)} is not valid before ${iso(notBefore)}`,
      );
    } else if (remainingMs <= warnDays * millisecondsPerDay) {
      const days = Math.floor(remainingMs / millisecondsPerDay);
      findings.add(
        'cert-expiring',
        'warning',
        'certificate',
        `${describeEntry(entry)} expires at ${iso(notAfter)}, in ${days} day${days === 1 ? '' : 's'} (warning threshold: ${warnDays})`,
      );
    }
  }
}

export function lintEeDetails(leaf: Entry, requireOcsp: boolean, findings: Findings): void {
  let details: CertificateDetails;
  try {
    details = parseCertificateDetails(leaf.x509);
  } catch (error) {
    if (!(error instanceof CertificateParseError)) throw error;
    findings.add('certificate-unparseable', 'error', 'parsing', `${describeEntry(leaf)}: ${error.message}`);
    return;
  }
  const [url] = details.ocspUrls;
  if (details.unreadableAia !== undefined) {
    findings.add(
      'ocsp-url-format',
      'error',
      'parsing',
      `OCSP server URL not in http[s]:// format (${details.unreadableAia})`,
    );
  } else if (url === undefined) {
    findings.add(
      'no-ocsp-url',
      requireOcsp ? 'error' : 'warning',
      'no-ocsp-url',
      'OCSP server URL not found in the EE certificate: there is no OCSP response to staple',
    );
  } else if (!/^https?:\/\//i.test(url)) {
    findings.add(
      'ocsp-url-format',
      'error',
      'parsing',
      `OCSP server URL not in http[s]:// format: ${shorten(url, 200)}`,
    );
  }
  if (details.unreadableTlsFeature !== undefined) {
    findings.add(
      'tls-feature-unreadable',
      'warning',
      'parsing',
      `${describeEntry(leaf)}: ${details.unreadableTlsFeature}: whether it demands OCSP stapling (Must-Staple) is unknown`,
    );
  }
  if (details.mustStaple) {
    findings.add(
      'must-staple',
      'warning',
      'ocsp',
      'the EE certificate is OCSP Must-Staple (TLS Feature status_request): clients that enforce it refuse the site whenever HAProxy has no valid response to staple',
    );
  }
}
