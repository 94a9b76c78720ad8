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
