import { UpdateFailure, type FailureKind } from '../update/failure.ts';
import { CertificateParseError } from '../pki/certificate.ts';
import { OcspParseError } from '../pki/ocsp-response.ts';
import { DerError } from '../pki/der.ts';
import type { Finding } from '../check/findings.ts';
import { SEVERITY_OF, StatusSocketError, type StapleState } from '../status/staple-status.ts';

/**
 * Exit codes of the original bash updater; scripts and monitoring depend on
 * them. 6 and 7 are `--status`'s own, codes the original never used.
 */
export const ExitCode = {
  ok: 0,
  certificate: 1,
  noOcspUrl: 2,
  parsing: 3,
  ocsp: 4,
  haproxy: 5,
  /** `--status`: a staple has `--warn-hours` or less left. */
  staplesExpiring: 6,
  /** `--status`: a staple is missing, expired, revoked or unknown. */
  staplesFailing: 7,
  program: 9,
} as const;

type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];
type FailureExitCode = Exclude<ExitCodeValue, 0>;

const EXIT_CODE_OF: Record<FailureKind, FailureExitCode> = {
  certificate: ExitCode.certificate,
  'no-ocsp-url': ExitCode.noOcspUrl,
  parsing: ExitCode.parsing,
  ocsp: ExitCode.ocsp,
  haproxy: ExitCode.haproxy,
  run: ExitCode.program,
};

/** A failure of the command line itself (a tool missing, nothing to do): exit 9. */
export class RunError extends Error {
  override name = 'RunError';
}

interface Failure {
  readonly exitCode: FailureExitCode;
  /** The one line the user reads. */
  readonly message: string;
}

/**
 * The one place an error becomes an exit code and a message. Each step of
 * the update puts its failures in the original updater's words; a decoder's error no
 * step caught still concerns a certificate or a response that can't be read,
 * never the program. Anything else is a program error (9).
 */
export function failureOf(error: unknown): Failure {
  if (error instanceof UpdateFailure) return { exitCode: EXIT_CODE_OF[error.kind], message: error.message };
  if (error instanceof StatusSocketError) return { exitCode: ExitCode.haproxy, message: error.message };
  if (error instanceof CertificateParseError || error instanceof OcspParseError || error instanceof DerError) {
    return { exitCode: ExitCode.certificate, message: error.message };
  }
  return { exitCode: ExitCode.program, message: error instanceof Error ? error.message : String(error) };
}

/** `--check`'s exit code: that of the first error (any finding with `--strict`), in the order the findings come; 0 when there is none. */
export function checkExitCode(findings: readonly Finding[], { strict = false } = {}): ExitCodeValue {
  const firstError = findings.find((finding) => strict || finding.severity === 'error');
  return firstError === undefined ? ExitCode.ok : EXIT_CODE_OF[firstError.kind];
}

/** A batch's exit code: that of the first failed certificate in input order, else 0. */
export function batchExitCode(
  outcomes: readonly { readonly failure?: unknown; readonly action: string }[],
): ExitCodeValue {
  const failed = outcomes.find((outcome) => outcome.action === 'failed');
  return failed === undefined ? ExitCode.ok : failureOf(failed.failure).exitCode;
}

/** `--status`'s exit code: the worst staple's, failing over expiring; 0 when every one is fine. */
export function statusExitCode(statuses: readonly { readonly state: StapleState }[]): ExitCodeValue {
  const severities = new Set(statuses.map((status) => SEVERITY_OF[status.state]));
  if (severities.has('critical')) return ExitCode.staplesFailing;
  return severities.has('warning') ? ExitCode.staplesExpiring : ExitCode.ok;
}
