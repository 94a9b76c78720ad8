/**
 * Every failure lib/haproxy/ throws. They name what went wrong, not how a
 * program should end: mapping them to exit codes is the caller's business.
 */
export abstract class HaproxyError extends Error {
  abstract override readonly name: string;
}

/** A value handed in that HAProxy must never be sent: a socket address that does not parse, a response that is not base64. */
export class HaproxyArgumentError extends HaproxyError {
  override readonly name = 'HaproxyArgumentError';
}

export type SocketFailure =
  | 'missing'
  | 'permission-denied'
  | 'not-a-socket'
  | 'not-listening'
  | 'refused'
  | 'busy'
  | 'unreachable'
  | 'timeout'
  | 'reset'
  | 'reply-too-large'
  | 'deadline'
  | 'failed';

/** HAProxy could not be reached, or hung up without answering. */
export class HaproxySocketError extends HaproxyError {
  override readonly name = 'HaproxySocketError';

  constructor(
    readonly failure: SocketFailure,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A command longer than HAProxy takes whole: refused for its tune.bufsize, or
 * not sent at all, because a master CLI would cut it or HAProxy would never
 * answer it.
 */
export class HaproxyCommandTooBigError extends HaproxyError {
  override readonly name = 'HaproxyCommandTooBigError';
}

/** HAProxy answered, but not what the command needs to have succeeded. */
export class HaproxyReplyError extends HaproxyError {
  override readonly name: string = 'HaproxyReplyError';

  constructor(
    /** The command without its payload, e.g. `set ssl ocsp-response`. */
    readonly command: string,
    readonly reply: string,
    message: string,
  ) {
    super(message);
  }
}

/** What HAProxy answers `set ssl ocsp-response` for a response about no certificate it holds. */
const certificateIdMismatchReply = 'Certificate ID does not match any certificate or issuer';

/** `set ssl ocsp-response` was refused. */
export class OcspResponseRejectedError extends HaproxyReplyError {
  override readonly name = 'OcspResponseRejectedError';
  /**
   * HAProxy holds no certificate this response is for. HAProxy 2.6 also says
   * so for a certificate that had no `.ocsp` file when it started:
   * `stapleThroughTransaction` staples those.
   */
  readonly certificateIdMismatch: boolean;

  constructor(reply: string, message: string) {
    super('set ssl ocsp-response', reply, message);
    this.certificateIdMismatch = reply.includes(certificateIdMismatchReply);
  }
}

/** Someone else's `set ssl cert` transaction is open: starting ours would change their certificate. */
export class UncommittedTransactionError extends HaproxyError {
  override readonly name = 'UncommittedTransactionError';

  constructor(
    /** The certificates with an open transaction, as `show ssl cert` names them. */
    readonly certificates: readonly string[],
    message: string,
  ) {
    super(message);
  }
}

/**
 * The notifier's verdict on one update: sockets that could not be updated
 * (each failure named, joined by `; `), or a reload command that failed.
 */
export class HaproxyUpdateError extends HaproxyError {
  override readonly name = 'HaproxyUpdateError';
}

/** `--socat` was asked for, and the socat binary does not run. */
export class SocatMissingError extends HaproxyError {
  override readonly name = 'SocatMissingError';

  constructor() {
    super('socat binary not found; adjust SOCAT_BIN variable in the script');
  }
}
