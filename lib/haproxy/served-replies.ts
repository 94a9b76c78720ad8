// What HAProxy says about one certificate it serves and the response it
// staples for it, as `--status` reads it: each reply must start as the
// command's reply does, and lines a version adds or leaves out are ignored.

/** HAProxy's answer to `show ssl cert` while another session holds its certificate lock. */
export function isCertificateLockBusy(reply: string): boolean {
  return reply.includes('Operations on certificates are currently locked');
}

/** What `show ssl cert NAME` tells of the certificate and its stapled response. */
interface CertificateDetailsReply {
  /** `Status: Unused`: loaded (`new ssl cert`, or left by a crt-list change) but served by no `bind` line. */
  readonly unused: boolean;
  /**
   * The hex DER CertID (lower case) HAProxy files the certificate's response
   * under; undefined when it keeps no slot for one, as for a certificate that
   * had no `.ocsp` file when HAProxy started.
   */
  readonly ocspResponseKey?: string;
}

/** Parses `show ssl cert NAME`; undefined unless the reply starts with its `Filename:` line. */
export function parseCertificateDetails(reply: string): CertificateDetailsReply | undefined {
  if (!reply.startsWith('Filename: ')) return undefined;
  const unused = /^Status: Unused\s*$/m.test(reply);
  const key = /^OCSP Response Key: *([0-9a-fA-F]*)\s*$/m.exec(reply)?.[1];
  return { unused, ...(key && { ocspResponseKey: key.toLowerCase() }) };
}

/** The fields `--status` needs of the text form of a response (openssl's OCSP_RESPONSE_print). */
export interface OcspResponseText {
  readonly certStatus: 'good' | 'revoked' | 'unknown';
  readonly thisUpdate: Date;
  readonly nextUpdate?: Date;
}

/**
 * Parses `show ssl ocsp-response ID`, the only form of the response HAProxy
 * 2.6 shows: `none` when it holds no response under that ID (an empty reply
 * for an empty slot), undefined for anything that is not a response's text.
 * With several single responses, the first one's fields.
 */
export function parseOcspResponseText(reply: string): OcspResponseText | 'none' | undefined {
  const trimmed = reply.trim();
  if (trimmed === '' || /^Certificate ID (or path )?does not match any certificate\.$/.test(trimmed)) return 'none';
  if (!trimmed.startsWith('OCSP Response Data:')) return undefined;
  const field = (name: string) => new RegExp(`^\\s*${name}: (.*?)\\s*$`, 'm').exec(trimmed)?.[1];
  const certStatus = field('Cert Status');
  const thisUpdate = parseOpensslTime(field('This Update'));
  const nextUpdateText = field('Next Update');
  const nextUpdate = parseOpensslTime(nextUpdateText);
  if (certStatus !== 'good' && certStatus !== 'revoked' && certStatus !== 'unknown') return undefined;
  if (thisUpdate === undefined || (nextUpdateText !== undefined && nextUpdate === undefined)) return undefined;
  return { certStatus, thisUpdate, ...(nextUpdate !== undefined && { nextUpdate }) };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** OpenSSL's ASN1_TIME_print form: `Dec  3 22:19:42 2026 GMT`, with fractions of a second when the time has them. */
function parseOpensslTime(text: string | undefined): Date | undefined {
  const match = /^([A-Z][a-z]{2}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2})(\.\d+)? (\d{4}) GMT$/.exec(text ?? '');
  if (!match) return undefined;
  const [, month = '', day, hours, minutes, seconds, fraction = '', year] = match;
  const monthIndex = MONTHS.indexOf(month);
  if (monthIndex < 0) return undefined;
  const milliseconds = Math.floor(Number(`0${fraction}`) * 1000);
  return new Date(
    Date.UTC(Number(year), monthIndex, Number(day), Number(hours), Number(minutes), Number(seconds), milliseconds),
  );
}
