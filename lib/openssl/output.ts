/**
 * Pure parsers for what the openssl command line prints. Each takes the text
 * exactly as captured and returns a typed value, or undefined when the text is
 * not what it expects; callers decide which exit code that deserves.
 */
import { shorten } from '../util/printable.ts';

export interface OpensslVersion {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
  /** The first line of `openssl version`, as printed. */
  readonly text: string;
}

/** `OpenSSL 3.0.19 27 Jan 2026 (Library: …)`, `OpenSSL 1.1.1w  11 Sep 2023`, `OpenSSL 0.9.8zh 3 Dec 2015`. */
export function parseOpensslVersion(output: string): OpensslVersion | undefined {
  const line = output.split('\n').find((candidate) => candidate.includes('OpenSSL'));
  if (line === undefined) return undefined;
  const match = /OpenSSL (\d+)\.(\d+)\.(\d+)/.exec(line);
  if (!match) return undefined;
  return { major: Number(match[1]), minor: Number(match[2]), patch: Number(match[3]), text: line.trim() };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * A status on the certificate's line, or, when openssl finds This Update in
 * the future or Next Update past (beyond its 5-minute leeway), on a line of
 * its own after a warning and openssl's error queue:
 * ```
 * /tmp/hapos-upd.X/ee.pem: WARNING: Status times invalid.
 * 40D7…:error:1380007D:OCSP routines:OCSP_check_validity:status expired:../crypto/ocsp/ocsp_cl.c:351:
 * good
 * ```
 */
const STATUS_LINE =
  /^.*: (?:(good|revoked|unknown)|WARNING: Status times invalid\.\n(?:[0-9A-Fa-f]+:error:.*\n)*(good|revoked|unknown))$/m;

/**
 * Whether `openssl ocsp` reported a status for the certificate, as in
 * ```
 * /tmp/hapos-upd.X/ee.pem: revoked
 * 	This Update: Nov 24 14:00:00 2026 GMT
 * ```
 * The status itself is read from the decoded response, the one source of it;
 * this only tells openssl's output apart from one that says nothing of the
 * certificate.
 */
export function reportsCertificateStatus(output: string): boolean {
  return STATUS_LINE.test(output);
}

type VerificationOutcome = 'verified' | 'signer-not-found' | 'failed' | 'absent';

/**
 * What `openssl ocsp -respin …` said about the signature: `Response verify OK`,
 * or `Response Verify Failure` followed by the error queue (where OpenSSL names
 * `signer certificate not found` when the response lacks its signer).
 */
export function parseVerificationOutcome(output: string): VerificationOutcome {
  if (output.includes('Response verify OK')) return 'verified';
  if (output.includes('signer certificate not found')) return 'signer-not-found';
  if (/Response Verify Failure/i.test(output)) return 'failed';
  return 'absent';
}

/** OpenSSL's ASN1_TIME_print form, always GMT (`Apr 17 12:29:00 2015 GMT`, `Dec  1 09:05:00 2026 GMT`), so messages read as the original's did. */
export function formatOpensslDate(date: Date): string {
  const pad = (value: number) => String(value).padStart(2, '0');
  const day = String(date.getUTCDate()).padStart(2, ' ');
  const time = `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}`;
  return `${MONTHS[date.getUTCMonth()]} ${day} ${time} ${date.getUTCFullYear()} GMT`;
}

interface FetchFailure {
  /** What went wrong, for the user: `HTTP 404 Not Found`, `a text/html body instead of an OCSP response`… */
  readonly reason: string;
  /** Worth another try: refused connections, server errors. */
  readonly transient: boolean;
  /** The connection itself failed: through a proxy, the proxy is the one that could not be reached. */
  readonly connecting: boolean;
}

/**
 * How long a responder's own words (an HTTP reason phrase, a content type, a
 * client's error line) may run inside a message: enough to recognise them,
 * never a screenful. The run log escapes their control characters.
 */
const MAX_FOREIGN_CHARACTERS = 100;

/** TEXT that came from the responder's side, cut short to go into a message. */
export const clipForeignText = (text: string): string => shorten(text.trim(), MAX_FOREIGN_CHARACTERS);

/** The reason both HTTP clients give for a response past their size limit. */
export const oversizedResponse = (maxBytes: number): string => `a response over the ${maxBytes}-byte limit`;

/** The C library's words for a failed connect (`Connection refused`), as a reason: `connection refused`. */
export const systemErrorReason = (text: string): string => {
  const words = clipForeignText(text);
  return words.charAt(0).toLowerCase() + words.slice(1);
};

interface QueuedError {
  readonly library: string;
  readonly function: string;
  readonly reason: string;
  /** What follows the source location: `code=404, reason=Not Found`, `calling connect()`… */
  readonly data: string;
}

/**
 * OpenSSL's error queue as printed, one entry a line:
 * `40C7…:error:1E800069:HTTP routines:parse_http_line1:received error:../crypto/http/http_client.c:473:code=404, reason=Not Found`
 * (1.x prints the same fields).
 */
function parseErrorQueue(output: string): QueuedError[] {
  const entries: QueuedError[] = [];
  for (const line of output.split('\n')) {
    const match = /^[0-9A-Fa-f]+:error:[0-9A-Fa-f]+:([^:]*):([^:]*):([^:]*):[^:]*:\d*:(.*)$/.exec(line);
    if (match) entries.push({ library: match[1]!, function: match[2]!, reason: match[3]!, data: match[4]! });
  }
  return entries;
}

const connectFunctions = new Set(['conn_state', 'BIO_connect', 'connect']);

/**
 * Why `openssl ocsp -url …` got no response, from its error queue (OpenSSL 3.0
 * HTTP client, run without `-timeout`: a timeout is the caller's to enforce).
 */
export function describeFetchFailure(output: string): FetchFailure {
  const errors = parseErrorQueue(output);
  const withReason = (reason: string) => errors.find((error) => error.reason === reason);
  const failure = (reason: string, transient: boolean, connecting = false): FetchFailure => ({
    reason,
    transient,
    connecting,
  });

  // OpenSSL 3.6 says 'status code unsupported' where 3.0 says 'received error'.
  const httpError = withReason('received error') ?? withReason('status code unsupported');
  if (httpError) {
    const status = /^code=(\d{3}), reason=(.*)$/.exec(httpError.data);
    // openssl leaves out a status line too long for its error record.
    if (!status) return failure('an HTTP error status', true);
    const code = Number(status[1]);
    return failure(`HTTP ${code} ${clipForeignText(status[2]!)}`.trim(), code >= 500);
  }
  // OpenSSL 3.6 reports a body that is not DER with the status and media type
  // only (`expected ASN.1 content but got http code 500 with Content-Type:
  // text/html`): a server error's reason phrase is not in its output.
  const mismatchError = withReason('content type mismatch');
  if (mismatchError) {
    const mismatch = /^expected ASN\.1 content but got http code (\d{3}) with Content-Type: ([^\s,;]*)/.exec(
      mismatchError.data,
    );
    const code = Number(mismatch?.[1] ?? 200);
    if (code !== 200) return failure(`HTTP ${code}`, code >= 500);
    // openssl leaves out a record too long for it: a media type of 3,000 characters, say.
    const body = mismatch?.[2] ? `a ${clipForeignText(mismatch[2])} body` : 'a body of another content type';
    return failure(`${body} instead of an OCSP response`, false);
  }
  const contentType = withReason('unexpected content type');
  if (contentType) {
    const actual = /actual=([^\s,;]+)/.exec(contentType.data)?.[1];
    return failure(
      actual === undefined
        ? 'a body of another content type instead of an OCSP response'
        : `a ${clipForeignText(actual)} body instead of an OCSP response`,
      false,
    );
  }
  const oversized = /:max resp len exceeded:.*max=(\d+)/.exec(output);
  if (oversized) return failure(oversizedResponse(Number(oversized[1])), false);
  if (withReason('failed reading data') || withReason('unexpected end of data')) {
    return failure('an empty or truncated body instead of an OCSP response', false);
  }
  if (withReason('missing asn1 encoding')) {
    return failure('a body that is not ASN.1 instead of an OCSP response', false);
  }
  const connect = errors.find((error) => error.library === 'system library' && connectFunctions.has(error.function));
  if (connect) return failure(systemErrorReason(connect.reason), true, true);
  if (errors.some((error) => error.function === 'BIO_lookup_ex')) {
    return failure('could not resolve the host name', true, true);
  }
  // A status or header line past openssl's line limit (4 KiB) ends the
  // exchange with nothing more specific than this.
  const malformed =
    withReason('header parse error') ||
    (errors.length > 0 && errors.every((error) => error.reason === 'error receiving'));
  if (malformed) return failure('a malformed HTTP answer', false);
  const said = errors[0]?.reason ?? output.trim().split('\n')[0];
  return failure(said ? clipForeignText(said) : 'no output from openssl', true);
}

/** The reason `openssl verify` gives for refusing a certificate: `error 10 at 0 depth lookup: certificate has expired`. */
export function parseVerifyError(output: string): string | undefined {
  return /^error \d+ at \d+ depth lookup: (.+)$/m.exec(output)?.[1]?.trim();
}
