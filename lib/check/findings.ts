/** What `--check` reports of a bundle: the lints' findings, and those of its live part. */
import type { FailureKind } from '../update/failure.ts';

export type FindingCode =
  | 'bundle-unreadable'
  | 'no-certificate'
  | 'certificate-unparseable'
  | 'chain-order'
  | 'chain-unrelated'
  | 'issuer-missing'
  | 'key-mismatch'
  | 'key-missing'
  | 'key-unreadable'
  | 'cert-expired'
  | 'cert-not-yet-valid'
  | 'cert-expiring'
  | 'no-ocsp-url'
  | 'ocsp-url-format'
  | 'must-staple'
  | 'tls-feature-unreadable'
  | 'issuer-file-mismatch'
  | 'issuer-file-unreadable'
  | 'ocsp-file-empty'
  | 'ocsp-file-unreadable'
  | 'ocsp-file-mismatch'
  | 'ocsp-file-expired'
  | 'ocsp-file-unusable'
  | 'ocsp-file-revoked'
  // Found by --check's live part (check-bundle.ts), not by lintBundle:
  | 'chain-incomplete'
  | 'ocsp-revoked'
  | 'ocsp-failed';

export type Severity = 'error' | 'warning';

/** The original tool's class of problem (its exit code): certificate, no OCSP URL, parsing, OCSP. */
export type FindingKind = Extract<FailureKind, 'certificate' | 'no-ocsp-url' | 'parsing' | 'ocsp'>;

export interface Finding {
  /** The bundle's path, as given to lintBundle. */
  readonly cert: string;
  readonly code: FindingCode;
  readonly severity: Severity;
  /** One line, no trailing period. */
  readonly message: string;
  readonly kind: FindingKind;
}

/** The findings of one bundle, in the order the lints add them. */
export class Findings {
  readonly list: Finding[] = [];

  constructor(private readonly cert: string) {}

  add(code: FindingCode, severity: Severity, kind: FindingKind, message: string): void {
    this.list.push({ cert: this.cert, code, severity, message, kind });
  }
}
