/**
 * The classes of failure of the original updater, each its own exit code
 * (the CLI's boundary holds the numbers): the certificate or its response
 * could not be obtained, the EE names no responder, something could not be
 * parsed, the response is not acceptable, HAProxy or its files could not be
 * updated, or the run itself could not proceed.
 */
export type FailureKind = 'certificate' | 'no-ocsp-url' | 'parsing' | 'ocsp' | 'haproxy' | 'run';

/** Why one certificate's update stopped, in the one line the user reads. */
export class UpdateFailure extends Error {
  constructor(
    readonly kind: FailureKind,
    message: string,
  ) {
    super(message);
    this.name = 'UpdateFailure';
  }
}

/**
 * The EE carries no OCSP URL: exit 2 for a single certificate, a skip in a
 * batch. A misordered bundle's "no URL" gets a note and becomes a plain
 * UpdateFailure: its first certificate is not the EE, so it is a failure.
 */
export class NoOcspUrlError extends UpdateFailure {
  constructor() {
    super('no-ocsp-url', 'OCSP server URL not found in the EE certificate');
  }
}
