// A module of their own, so that the crt-list parser and the collection of
// certificates, which reads the lists, both throw them.

/** A `--dir` or `--crt-list` that cannot be used: the run has nothing sound to work on. */
export class CertificateSourceError extends Error {
  override readonly name: string = 'CertificateSourceError';

  constructor(
    /** The directory or crt-list at fault. */
    readonly path: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A crt-list line HAProxy would refuse (or, for an unclosed `[`, silently misread). */
export class CrtListSyntaxError extends CertificateSourceError {
  override readonly name = 'CrtListSyntaxError';

  constructor(
    path: string,
    readonly line: number,
    readonly reason: string,
  ) {
    super(path, `crt-list ${path}, line ${line}: ${reason}`);
  }
}
