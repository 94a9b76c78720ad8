import { ExitCode, HaposError } from '../errors.ts';
import type { SocketAddress } from './address.ts';

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
export class HaproxySocketError extends HaposError {
  constructor(
    readonly failure: SocketFailure,
    readonly address: SocketAddress,
    message: string,
  ) {
    super(ExitCode.haproxy, message);
    this.name = 'HaproxySocketError';
  }
}

/** HAProxy answered, but not what the command needs to have succeeded. */
export class HaproxyReplyError extends HaposError {
  constructor(
    /** The command without its payload, e.g. `set ssl ocsp-response`. */
    readonly command: string,
    readonly reply: string,
    message: string,
  ) {
    super(ExitCode.haproxy, message);
    this.name = 'HaproxyReplyError';
  }
}

/** What HAProxy answers `set ssl ocsp-response` for a response about no certificate it holds. */
export const certificateIdMismatchReply = 'Certificate ID does not match any certificate or issuer';

/** `set ssl ocsp-response` was refused. */
export class OcspResponseRejectedError extends HaproxyReplyError {
  /**
   * HAProxy holds no certificate this response is for. HAProxy 2.6 also says
   * so for a certificate that had no `.ocsp` file when it started:
   * `stapleThroughTransaction` staples those.
   */
  readonly certificateIdMismatch: boolean;

  constructor(reply: string, message: string) {
    super('set ssl ocsp-response', reply, message);
    this.name = 'OcspResponseRejectedError';
    this.certificateIdMismatch = reply.includes(certificateIdMismatchReply);
  }
}
