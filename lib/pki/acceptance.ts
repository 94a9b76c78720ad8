/**
 * Acceptance rules for a freshly fetched OCSP response: the updater must never
 * hand HAProxy a response it will reject or stop stapling, nor one worse than
 * the response in place. Signatures are openssl's business, not checked here.
 */
import { certIdHex, certIdMatches, type CertId } from './cert-id.ts';
import type { OcspResponse, SingleResponse } from './ocsp-response.ts';

export type ProblemCode =
  | 'not-successful'
  | 'not-single'
  | 'wrong-certificate'
  | 'cert-id-encoding'
  | 'status-unknown'
  | 'no-next-update'
  | 'not-yet-valid'
  | 'expired'
  | 'expires-too-soon';

interface ResponseProblem {
  readonly code: ProblemCode;
  /** One line, no trailing period. */
  readonly message: string;
}

type ResponseAssessment =
  { readonly ok: true; readonly single: SingleResponse } | { readonly ok: false; readonly problem: ResponseProblem };

interface ResponseLimits {
  /** How far in the future thisUpdate may be (a responder clock ahead of ours). */
  readonly clockSkewSeconds?: number;
  /** How long before nextUpdate the response becomes useless. */
  readonly haproxyMarginSeconds?: number;
}

/**
 * HAProxy's OCSP_MAX_RESPONSE_TIME_SKEW: the thisUpdate tolerance of
 * `set ssl ocsp-response`, and how long before nextUpdate it stops stapling.
 */
const haproxySkewSeconds = 300;

const millisecondsPerSecond = 1000;

/** `--skip-fresh` keeps a response that has more than half its validity and more than an hour ahead. */
const freshFractionFloor = 0.5;
const freshSecondsFloor = 3600;

const problem = (code: ProblemCode, message: string): ResponseAssessment => ({ ok: false, problem: { code, message } });

const iso = (date: Date) => date.toISOString();

function readLimit(value: number | undefined, name: string): number {
  const seconds = value ?? haproxySkewSeconds;
  if (!Number.isFinite(seconds) || seconds < 0) {
    throw new RangeError(`${name} must be a non-negative number of seconds`);
  }
  return seconds;
}

/**
 * Why HAProxy would not file the response under the certificate, if it would
 * not: HAProxy looks responses up by the DER of the sha1 CertID it computes,
 * so a CertID naming the right certificate in other bytes is useless too.
 */
function certIdProblem(actual: CertId, expected: CertId): ResponseAssessment | undefined {
  if (certIdHex(actual) === certIdHex(expected)) return undefined;
  const sameAlgorithm = actual.hashAlgorithm === expected.hashAlgorithm;
  // Issuer hashes made with different digests cannot be compared, so with
  // another digest the serial is the only evidence of which certificate it is.
  const sameCertificate = sameAlgorithm
    ? certIdMatches(actual, expected)
    : actual.serialNumber === expected.serialNumber;
  if (!sameCertificate) {
    const served =
      actual.serialNumber === expected.serialNumber
        ? `serial ${actual.serialNumber} of another issuer`
        : `serial ${actual.serialNumber}, expected ${expected.serialNumber}`;
    return problem('wrong-certificate', `OCSP response is for another certificate (${served})`);
  }
  if (!sameAlgorithm) {
    return problem(
      'cert-id-encoding',
      `OCSP response identifies serial ${actual.serialNumber} by a ${actual.hashAlgorithm} CertID; HAProxy only matches the ${expected.hashAlgorithm} CertID it computes`,
    );
  }
  return problem(
    'cert-id-encoding',
    `OCSP response identifies serial ${actual.serialNumber} by a CertID encoded differently from HAProxy's (${certIdHex(actual)}, expected ${certIdHex(expected)}); HAProxy will not match it`,
  );
}

function validityProblem(
  { thisUpdate, nextUpdate }: { readonly thisUpdate: Date; readonly nextUpdate: Date },
  now: Date,
  clockSkewSeconds: number,
  haproxyMarginSeconds: number,
): ResponseAssessment | undefined {
  const nowMs = now.getTime();
  if (thisUpdate.getTime() > nowMs + clockSkewSeconds * millisecondsPerSecond) {
    return problem(
      'not-yet-valid',
      `OCSP response is not valid yet: This Update ${iso(thisUpdate)} is more than ${clockSkewSeconds} s after now (${iso(now)})`,
    );
  }
  const nextUpdateMs = nextUpdate.getTime();
  if (nextUpdateMs <= nowMs) {
    return problem(
      'expired',
      `OCSP response has expired: Next Update ${iso(nextUpdate)} is not after now (${iso(now)})`,
    );
  }
  if (nextUpdateMs <= nowMs + haproxyMarginSeconds * millisecondsPerSecond) {
    return problem(
      'expires-too-soon',
      `OCSP response expires too soon: Next Update ${iso(nextUpdate)} is within ${haproxyMarginSeconds} s of now (${iso(now)}); HAProxy stops stapling ${haproxySkewSeconds} s before Next Update`,
    );
  }
  return undefined;
}

/**
 * Whether HAProxy would accept `response` for the certificate whose CertID is
 * `expected` (computeCertId(leaf, issuer), i.e. sha1 as HAProxy computes it)
 * and keep stapling it past `now` plus the margin. The first broken rule wins,
 * in the order of ProblemCode. A revoked status is accepted: the caller
 * reports it and decides.
 */
export function assessResponse(
  response: OcspResponse,
  expected: CertId,
  now: Date,
  limits: ResponseLimits = {},
): ResponseAssessment {
  const clockSkewSeconds = readLimit(limits.clockSkewSeconds, 'clockSkewSeconds');
  const haproxyMarginSeconds = readLimit(limits.haproxyMarginSeconds, 'haproxyMarginSeconds');
  if (response.responseStatus !== 'successful') {
    return problem('not-successful', `OCSP responder answered '${response.responseStatus}' instead of a response`);
  }
  const [single, ...others] = response.responses;
  if (!single || others.length > 0) {
    return problem(
      'not-single',
      `OCSP response holds ${response.responses.length} single responses; HAProxy staples only one`,
    );
  }
  const certIdAssessment = certIdProblem(single.certId, expected);
  if (certIdAssessment) return certIdAssessment;
  if (single.certStatus === 'unknown') {
    return problem('status-unknown', 'OCSP responder does not know this certificate (status unknown)');
  }
  const { nextUpdate } = single;
  if (!nextUpdate) {
    return problem('no-next-update', 'OCSP response has no Next Update; HAProxy refuses such responses');
  }
  const validityWindow = { thisUpdate: single.thisUpdate, nextUpdate };
  return validityProblem(validityWindow, now, clockSkewSeconds, haproxyMarginSeconds) ?? { ok: true, single };
}

/** What compareWithCurrent reads of a response: also all that HAProxy 2.6's text form of one gives. */
type ResponseValidity = Pick<SingleResponse, 'thisUpdate' | 'nextUpdate'>;

function compareNextUpdates(a: Date | undefined, b: Date | undefined): number {
  if (!a || !b) return Number(Boolean(a)) - Number(Boolean(b));
  return a.getTime() - b.getTime();
}

/**
 * How `candidate` compares with the response in place. thisUpdate says how
 * recent the responder's knowledge is, so it decides. producedAt is not used:
 * it only says when the response was signed (a responder may re-sign cached
 * knowledge), and SingleResponse does not carry it. On equal thisUpdate the
 * response that can be stapled longer (later nextUpdate; none counts as
 * earliest, since HAProxy refuses it) is newer, so that 'older' always means
 * "worse than what HAProxy has".
 */
export function compareWithCurrent<Validity extends ResponseValidity>(
  candidate: Validity,
  current: Validity | undefined,
): 'newer' | 'same' | 'older' | 'no-current' {
  if (!current) return 'no-current';
  const order =
    candidate.thisUpdate.getTime() - current.thisUpdate.getTime() ||
    compareNextUpdates(candidate.nextUpdate, current.nextUpdate);
  if (order > 0) return 'newer';
  if (order < 0) return 'older';
  return 'same';
}

interface Freshness {
  /** Seconds until nextUpdate; 0 once it has passed, or when there is none. */
  readonly remainingSeconds: number;
  /** Share of the thisUpdate→nextUpdate span still ahead, between 0 and 1. */
  readonly remainingFraction: number;
}

/**
 * How much validity `single` has left at `now`. A response without
 * nextUpdate, or with an empty or inverted span, has none: the responder
 * promises nothing about how long it holds, and HAProxy refuses it anyway.
 */
function freshness(single: SingleResponse, now: Date): Freshness {
  if (!single.nextUpdate) return { remainingSeconds: 0, remainingFraction: 0 };
  const remainingMs = Math.max(0, single.nextUpdate.getTime() - now.getTime());
  const spanMs = single.nextUpdate.getTime() - single.thisUpdate.getTime();
  return {
    remainingSeconds: remainingMs / millisecondsPerSecond,
    remainingFraction: spanMs > 0 ? Math.min(1, remainingMs / spanMs) : 0,
  };
}

/** The `--skip-fresh` rule: more than half the validity span and more than an hour still ahead. */
export function isFreshEnough(single: SingleResponse, now: Date): boolean {
  const { remainingSeconds, remainingFraction } = freshness(single, now);
  return remainingFraction > freshFractionFloor && remainingSeconds > freshSecondsFloor;
}

/** One line for a revoked status, e.g. `certificate revoked at 2026-11-20T10:00:00.000Z (reason: keyCompromise)`. */
export function describeRevocation(
  single: Pick<SingleResponse, 'certStatus' | 'revocationTime' | 'revocationReason'>,
): string {
  if (single.certStatus !== 'revoked' || !single.revocationTime) {
    throw new RangeError(`describeRevocation needs a revoked status, got ${single.certStatus}`);
  }
  const reason = single.revocationReason ? ` (reason: ${single.revocationReason})` : '';
  return `certificate revoked at ${iso(single.revocationTime)}${reason}`;
}
