// The values an option takes when the command line leaves it out: the parser
// applies them and the help text states them. Kept apart from both, so that
// `hapos-upd --help` does not load the parser.

export const DEFAULT_SOCKET = '/run/haproxy/admin.sock';
export const DEFAULT_TIMEOUT_SECONDS = 10;
export const DEFAULT_RETRIES = 2;
export const DEFAULT_LOCK_TIMEOUT_SECONDS = 30;
export const DEFAULT_RELOAD_COMMAND = 'service haproxy reload';
export const DEFAULT_WARN_DAYS = 21;
export const DEFAULT_WARN_HOURS = 24;

/** Every attempt's full timeout, plus time for the pauses between them, verification and HAProxy. */
export const defaultDeadlineSeconds = (timeoutSeconds: number, retries: number) => (retries + 1) * timeoutSeconds + 30;

/** Responders get at most this many requests at once from one run, so that a batch never hammers a CA. */
export const REQUESTS_PER_RESPONDER = 4;

/**
 * Certificates a batch works on at once unless --jobs says otherwise: enough
 * for a full set of requests in flight to one responder while as many more
 * certificates are checked and installed, so that a responder a round trip
 * away never leaves the batch idle; more on a machine with more CPUs.
 */
export const DEFAULT_MIN_JOBS = 2 * REQUESTS_PER_RESPONDER;
