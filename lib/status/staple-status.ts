// `--status`: what each HAProxy staples for every certificate it serves,
// judged at one moment and compared with the `.ocsp` file beside the
// certificate. Nothing is written, and HAProxy is only asked `show` commands.
import { parseSocketAddress, type SocketAddress } from '../haproxy/address.ts';
import type { CommandOptions } from '../haproxy/client.ts';
import { HaproxyArgumentError, HaproxyError } from '../haproxy/errors.ts';
import { servedCertificates, type ServedCertificate } from '../haproxy/served.ts';
import { compareWithCurrent } from '../pki/acceptance.ts';
import { endEntityOf, readBundle } from '../pki/bundle.ts';
import { certIdHex } from '../pki/cert-id.ts';
import { CertificateParseError, parseCertificateDetails } from '../pki/certificate.ts';
import { DerError } from '../pki/der.ts';
import { OcspParseError, parseOcspResponse, type CertStatus, type SingleResponse } from '../pki/ocsp-response.ts';
import { OCSP_RESPONSE_MAX_BYTES } from '../fs/caps.ts';
import { FileReadError, readRegularFileSync } from '../fs/read.ts';

/**
 * A served certificate's verdicts, in the order reports list them.
 * `no-ocsp-url`: it has no staple and its certificate names no OCSP
 * responder, so there is nothing to staple.
 */
export const STAPLE_STATES = ['fresh', 'expiring', 'expired', 'revoked', 'unknown', 'missing', 'no-ocsp-url'] as const;

export type StapleState = (typeof STAPLE_STATES)[number];

type Severity = 'ok' | 'warning' | 'critical';

/** How bad each state is for a monitoring check: a client gets no valid `good` staple from a critical one. */
export const SEVERITY_OF: Readonly<Record<StapleState, Severity>> = {
  fresh: 'ok',
  'no-ocsp-url': 'ok',
  expiring: 'warning',
  expired: 'critical',
  revoked: 'critical',
  unknown: 'critical',
  missing: 'critical',
};

/**
 * The `.ocsp` file beside the certificate, against the staple: `not-loaded`
 * when HAProxy staples nothing; `unreadable` when the file cannot be read or
 * holds no successful response for this certificate.
 */
type DiskComparison = 'same' | 'newer' | 'older' | 'not-loaded' | 'missing' | 'unreadable';

interface Staple {
  readonly certStatus: CertStatus;
  readonly thisUpdate: Date;
  readonly nextUpdate?: Date;
}

export interface StapleStatus {
  /** The socket, as given. */
  readonly socket: string;
  /** Behind a master CLI, the worker. */
  readonly workerPid?: number;
  /** The certificate's path as HAProxy names it. */
  readonly cert: string;
  readonly state: StapleState;
  /** What HAProxy staples; undefined when nothing. */
  readonly staple?: Staple;
  /** Whole seconds until Next Update, negative once it has passed; undefined without a staple or a Next Update. */
  readonly secondsLeft?: number;
  readonly disk: DiskComparison;
  readonly updatesItself: boolean;
}

interface StatusSettings {
  /** The admin sockets or master CLIs, spelled as HAProxy's `stats socket` lines spell them. */
  readonly sockets: readonly string[];
  /** A good staple with this little left, or less, is `expiring`. */
  readonly warnSeconds: number;
  /** The one moment every staple is judged at. */
  readonly now: Date;
  /** Another way than a native connection (`--socat`). */
  readonly transport?: CommandOptions['transport'];
}

/** A socket that could not be asked, or answered what cannot be read: the status is unknown, not bad. */
export class StatusSocketError extends Error {
  override readonly name = 'StatusSocketError';
}

/**
 * One status per certificate each HAProxy serves (each worker behind a
 * master CLI), in the order of the sockets, then of HAProxy's own list. A
 * socket address that does not parse throws HaproxyArgumentError before any
 * socket is asked.
 */
export async function readStapleStatuses(settings: StatusSettings): Promise<StapleStatus[]> {
  const sockets = settings.sockets.map((spec) => ({ spec, address: parseSocketAddress(spec) }));
  const perSocket = await Promise.all(sockets.map(({ spec, address }) => socketStatuses(spec, address, settings)));
  return perSocket.flat();
}

async function socketStatuses(spec: string, address: SocketAddress, settings: StatusSettings): Promise<StapleStatus[]> {
  let processes;
  try {
    processes = await servedCertificates(address, { transport: settings.transport });
  } catch (error) {
    if (!(error instanceof HaproxyError) || error instanceof HaproxyArgumentError) throw error;
    throw new StatusSocketError(`can't read the stapling status from ${spec} socket (${error.message})`);
  }
  return processes.flatMap(({ workerPid, certificates }) =>
    certificates.map((served) => ({
      socket: spec,
      ...(workerPid !== undefined && { workerPid }),
      ...judge(served, stapleOf(served, spec, workerPid), settings),
    })),
  );
}

type Judged = Omit<StapleStatus, 'socket' | 'workerPid'>;

function judge(served: ServedCertificate, staple: ReadStaple | undefined, settings: StatusSettings): Judged {
  const secondsLeft =
    staple?.nextUpdate === undefined
      ? undefined
      : Math.floor((staple.nextUpdate.getTime() - settings.now.getTime()) / 1000);
  const state =
    staple === undefined
      ? hasNoOcspUrl(served)
        ? 'no-ocsp-url'
        : 'missing'
      : stateOfStaple(staple.certStatus, secondsLeft, settings.warnSeconds);
  return {
    cert: served.name,
    state,
    ...(staple !== undefined && { staple: stapleFields(staple) }),
    ...(secondsLeft !== undefined && { secondsLeft }),
    disk: compareWithDisk(served, staple),
    updatesItself: served.updatesItself,
  };
}

function stateOfStaple(certStatus: CertStatus, secondsLeft: number | undefined, warnSeconds: number): StapleState {
  if (certStatus !== 'good') return certStatus;
  // HAProxy refuses a response without Next Update: one it holds has one.
  if (secondsLeft === undefined || secondsLeft <= 0) return 'expired';
  return secondsLeft <= warnSeconds ? 'expiring' : 'fresh';
}

const stapleFields = ({ certStatus, thisUpdate, nextUpdate }: ReadStaple): Staple => ({
  certStatus,
  thisUpdate,
  ...(nextUpdate !== undefined && { nextUpdate }),
});

/** The staple's fields, and its bytes when HAProxy showed them. */
interface ReadStaple extends Staple {
  readonly der?: Buffer;
}

function stapleOf(served: ServedCertificate, spec: string, workerPid: number | undefined): ReadStaple | undefined {
  const { stapled } = served;
  switch (stapled.form) {
    case 'none':
      return undefined;
    case 'text':
      return stapled.text;
    case 'der': {
      const single = singleResponseIn(stapled.der, served.certIdHex);
      if (single !== undefined) return { ...single, der: stapled.der };
      const who = workerPid === undefined ? 'HAProxy' : `HAProxy worker ${workerPid}`;
      throw new StatusSocketError(
        `can't read the stapling status from ${spec} socket (${who} staples bytes for ${served.name} that are no OCSP response about it)`,
      );
    }
  }
}

/** The single response about the certificate whose CertID is CERT_ID_HEX (else the first), if DER is a successful response. */
function singleResponseIn(der: Buffer, wantedCertIdHex: string | undefined): SingleResponse | undefined {
  let response;
  try {
    response = parseOcspResponse(der);
  } catch (error) {
    if (error instanceof OcspParseError || error instanceof DerError) return undefined;
    throw error;
  }
  if (response.responseStatus !== 'successful') return undefined;
  if (wantedCertIdHex === undefined) return response.responses[0];
  return response.responses.find((single) => certIdHex(single.certId) === wantedCertIdHex);
}

function compareWithDisk(served: ServedCertificate, staple: ReadStaple | undefined): DiskComparison {
  let bytes: Buffer;
  try {
    bytes = readRegularFileSync(`${served.name}.ocsp`, { maxBytes: OCSP_RESPONSE_MAX_BYTES }).bytes;
  } catch (error) {
    if (!(error instanceof FileReadError)) throw error;
    return error.problem.kind === 'missing' ? 'missing' : 'unreadable';
  }
  const onDisk = singleResponseIn(bytes, served.certIdHex);
  if (onDisk === undefined) return 'unreadable';
  if (staple?.der?.equals(bytes)) return 'same';
  // HAProxy 2.6's text form has whole seconds: the file's dates are compared at that precision.
  const comparison = compareWithCurrent(wholeSeconds(onDisk), staple && wholeSeconds(staple));
  return comparison === 'no-current' ? 'not-loaded' : comparison;
}

const floorToSecond = (date: Date) => new Date(Math.floor(date.getTime() / 1000) * 1000);

function wholeSeconds({ thisUpdate, nextUpdate }: Staple): Pick<Staple, 'thisUpdate' | 'nextUpdate'> {
  return {
    thisUpdate: floorToSecond(thisUpdate),
    ...(nextUpdate !== undefined && { nextUpdate: floorToSecond(nextUpdate) }),
  };
}

/**
 * Whether the certificate HAProxy serves names no OCSP responder, read from
 * its file: then no staple is expected. A certificate HAProxy updates itself
 * has one, and a file that cannot be read proves nothing.
 */
function hasNoOcspUrl(served: ServedCertificate): boolean {
  if (served.updatesItself) return false;
  try {
    const endEntity = endEntityOf(readBundle(served.name));
    if (endEntity === undefined) return false;
    const details = parseCertificateDetails(endEntity.x509);
    return details.ocspUrls.length === 0 && details.unreadableAia === undefined;
  } catch (error) {
    if (error instanceof FileReadError || error instanceof CertificateParseError) return false;
    throw error;
  }
}
