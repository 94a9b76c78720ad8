/** Exit codes of the original bash updater; scripts and monitoring depend on them. */
export const ExitCode = {
  ok: 0,
  certificate: 1,
  noOcspUrl: 2,
  parsing: 3,
  ocsp: 4,
  haproxy: 5,
  program: 9,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * A failure the CLI reports to the user. The library throws these; only the
 * CLI formats them and exits.
 */
export class HaposError extends Error {
  constructor(
    readonly exitCode: Exclude<ExitCodeValue, 0>,
    message: string,
  ) {
    super(message);
    this.name = 'HaposError';
  }
}

export const programError = (message: string) => new HaposError(ExitCode.program, message);
