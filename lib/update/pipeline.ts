import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { HaposError, ExitCode } from '../errors.ts';
import { escapeControls } from '../util/printable.ts';
import { describeName, parseCertificate, splitPemCertificates, type BundleCertificate } from '../pki/bundle.ts';
import type { Openssl, Verification } from '../openssl/openssl.ts';
import type { CommandResult } from '../process/run.ts';
import {
  CertificateParseError,
  certIdHex,
  computeCertId,
  OcspParseError,
  parseCertificateDetails,
  parseOcspResponse,
  type CertId,
  type CertificateDetails,
  type CertStatus,
  type OcspResponse,
  type SingleResponse,
} from '../pki/ocsp-response.ts';
import {
  assessResponse,
  compareWithCurrent,
  describeRevocation,
  isFreshEnough,
  type ProblemCode,
} from '../pki/acceptance.ts';

const IDENTITY_PROBLEMS: ReadonlySet<ProblemCode> = new Set([
  'not-successful',
  'not-single',
  'wrong-certificate',
  'cert-id-encoding',
]);
import {
  formatOpensslDate,
  parseOcspStatusBlock,
  parseVerificationOutcome,
  parseVerifyError,
} from '../openssl/output.ts';
import {
  fetchOcspResponse,
  FetchError,
  hostOfUrl,
  isHttpUrl,
  RequestError,
  type Fetched,
  type Responder,
} from '../openssl/fetch.ts';
import {
  FileReadError,
  FileWriteError,
  OCSP_RESPONSE_MAX_BYTES,
  PEM_FILE_MAX_BYTES,
  readRegularFileSync,
  removeStaleTemporaryFiles,
  replaceFilesAtomically,
} from '../fs/files.ts';
import { acquireLock, LockTimeoutError, type Lock } from '../fs/lock.ts';
import type { Log } from '../util/log.ts';
import type { ChainVerifier, VerificationRequest } from '../openssl/chain-verifier.ts';
import { ContentFiles } from '../fs/content-files.ts';
import type { HaproxyNotifier, HaproxyUpdate } from '../haproxy/notifier.ts';
import { HaproxyUpdateError, SocatMissingError } from '../haproxy/errors.ts';

export interface UpdateOptions {
  readonly cert: string;
  /** `-d`: query and check, but write nothing and leave HAProxy alone. */
  readonly dryRun: boolean;
  readonly goodOnly: boolean;
  readonly ocspUrl?: string;
  readonly ocspHost?: string;
  readonly ocspProxy?: string;
  readonly partialChain: boolean;
  /** `--VAfile`: a file, or `chain` for `-` (the extracted chain or `.issuer`). */
  readonly vaFile?: string | { readonly useChain: true };
  readonly verify: boolean;
  readonly skipUpdate: boolean;
  readonly timeoutSeconds: number;
  /** Further attempts after a transient failure or `tryLater`. */
  readonly retries: number;
  readonly lockTimeoutSeconds: number;
  /** Everything after the lock (verification, fetch with its retries, HAProxy) must end within this. */
  readonly deadlineSeconds: number;
  /** Leave a valid response in place alone while most of its validity is ahead. */
  readonly skipFresh: boolean;
  /** Trust anchors beside the system store (`--check --ca-file`), for a private root. */
  readonly extraCaFile?: string;
}

export interface UpdateContext {
  readonly openssl: Openssl;
  /** The curl binary, when `--use-curl` is set. */
  readonly curl?: string;
  readonly log: Log;
  /** This certificate's own temporary files go here. */
  readonly tempDir: string;
  /** Chain and trust files, shared by the certificates of a run that have the same. */
  readonly sharedFiles: SharedTempFiles;
  readonly haproxy: HaproxyNotifier;
  readonly now: () => Date;
  /** Waits between retries; tests pass a faster one. */
  readonly retryDelayMs: (attempt: number) => number;
  /** EE certificates a batch already verified against their chain, in bulk. */
  readonly verifiedChains?: ChainVerifier;
  /** Gates requests per responder host, so that a batch never hammers one CA. */
  readonly throttleResponder: <R>(host: string, request: () => Promise<R>) => Promise<R>;
}

export interface SharedTempFiles {
  readonly chains: ContentFiles;
  /** A chain with the extra anchors of `--ca-file`, when there are any. */
  readonly trusts: ContentFiles;
}

/** The shared files of one run, in its temporary directory. */
export function sharedTempFilesIn(tempDir: string): SharedTempFiles {
  return { chains: new ContentFiles(tempDir, 'chain.pem'), trusts: new ContentFiles(tempDir, 'trust.pem') };
}

export type UpdateAction = 'updated' | 'checked' | 'kept-current' | 'skipped-fresh';

export interface UpdateResult {
  /**
   * `checked` in debug mode (nothing written), `kept-current` when the
   * response in place is newer, `skipped-fresh` when it was fresh enough.
   */
  readonly action: UpdateAction;
  readonly certStatus: CertStatus;
  readonly thisUpdate: Date;
  readonly nextUpdate?: Date;
}

/** Exponential backoff with jitter: about 1 s, 2 s, 4 s… */
export const defaultRetryDelayMs = (attempt: number): number => 1000 * 2 ** attempt * (0.5 + Math.random());

/**
 * The original updater's flow for one certificate bundle: check the response
 * in place, extract the EE, find the responder, build the chain, verify the
 * EE, fetch, check the response, install.
 */
export async function updateCertificate(options: UpdateOptions, context: UpdateContext): Promise<UpdateResult> {
  // Read first: a missing bundle is exit 1, not a lock file that cannot be created.
  const bundle = readBundle(options.cert);
  const lock = options.dryRun ? undefined : await lockCertificate(options);
  // Waiting for the lock has its own limit (--lock-timeout); the deadline starts once it is held.
  const deadline = new Deadline(options.deadlineSeconds);
  try {
    if (lock !== undefined && !(lock instanceof HaposError)) await removeLeftoversOfDeadRuns(options.cert, context.log);
    return await updateLocked(options, bundle, { ...context, deadline }, lock instanceof HaposError ? lock : undefined);
  } finally {
    deadline.clear();
    if (lock !== undefined && !(lock instanceof HaposError)) lock.releaseSync();
  }
}

/**
 * One bound on everything a certificate's update waits for, whatever hangs:
 * a responder, openssl, HAProxy. Each step stops at it and fails with its own
 * exit code, saying the deadline passed.
 */
class Deadline {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private readonly endsAt: number;

  constructor(readonly seconds: number) {
    this.endsAt = Date.now() + seconds * 1000;
    this.timer = setTimeout(() => this.controller.abort(), seconds * 1000);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get passed(): boolean {
    return this.controller.signal.aborted;
  }

  remainingMs(): number {
    return Math.max(0, this.endsAt - Date.now());
  }

  /** Why a step was stopped, for its error message. */
  get reason(): string {
    return `the certificate's ${this.seconds} s deadline passed (--deadline)`;
  }

  clear(): void {
    clearTimeout(this.timer);
  }
}

/** The context of one certificate's update once it holds its lock. */
interface LockedContext extends UpdateContext {
  readonly deadline: Deadline;
}

/**
 * The lock, or why none can be made. A directory the lock cannot be created
 * in is one where no file can be replaced either, so that error waits for
 * the install step: every earlier check keeps its own exit code, and a run that writes
 * nothing (skipped as fresh, or keeping a newer response) still succeeds.
 */
async function lockCertificate(options: UpdateOptions): Promise<Lock | HaposError> {
  // A dot-file: HAProxy loads every other file of a crt directory as a certificate.
  const lockPath = path.join(path.dirname(options.cert), `.${path.basename(options.cert)}.ocsp.lock`);
  try {
    return await acquireLock(lockPath, { timeoutMs: options.lockTimeoutSeconds * 1000 });
  } catch (error) {
    if (error instanceof LockTimeoutError) {
      const gaveUp = `gave up after ${options.lockTimeoutSeconds} s (--lock-timeout)`;
      if (error.obstacle !== undefined) {
        throw new HaposError(ExitCode.program, `${error.obstacle.path} ${error.obstacle.what}: remove it; ${gaveUp}`);
      }
      const holder = error.holderPid === undefined ? 'another run' : `another run (PID ${error.holderPid})`;
      throw new HaposError(ExitCode.program, `${holder} holds ${lockPath}; ${gaveUp}`);
    }
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    return new HaposError(
      ExitCode.haproxy,
      `can't update ${options.cert}.ocsp file: can't create ${lockPath} (${code})`,
    );
  }
}

/**
 * Holding the lock, no live run can be writing CERT.ocsp or CERT.issuer: a
 * temporary file of another process beside them is what a killed run left.
 */
async function removeLeftoversOfDeadRuns(cert: string, log: Log): Promise<void> {
  for (const { path: leftover, pid, failure } of await removeStaleTemporaryFiles([`${cert}.ocsp`, `${cert}.issuer`])) {
    log.debug(
      failure === undefined
        ? `Removed ${leftover}, left by a run (PID ${pid}) that ended before renaming it`
        : `Can't remove ${leftover}, left by a run (PID ${pid}) that ended before renaming it (${failure})`,
    );
  }
}

async function updateLocked(
  options: UpdateOptions,
  bundle: Bundle,
  context: LockedContext,
  lockFailure: HaposError | undefined,
): Promise<UpdateResult> {
  const { cert } = options;
  const ownFiles = ownTempFiles(context.tempDir);
  const hadResponse = existsSync(`${cert}.ocsp`);
  const current = hadResponse ? await reportCurrentResponse(cert, context) : undefined;

  const ee = extractEndEntity(cert, bundle, ownFiles.ee);
  const details = certificateDetailsOf(cert, ee);
  try {
    warnAboutValidity(ee, context);
    const responder = resolveResponder(details, options, context);
    const chain = prepareChain(cert, bundle, ee, context.log);
    // Before any openssl process: a fresh response in place ends the run here.
    const fresh = options.skipFresh ? freshResponseInPlace(current, ee, chain.certificates, context) : undefined;
    if (fresh !== undefined) {
      context.log.debug(
        `Current OCSP response is fresh (Next Update ${formatOpensslDate(fresh.nextUpdate!)}): skipped, as --skip-fresh asks.`,
      );
      return {
        action: 'skipped-fresh',
        certStatus: fresh.certStatus,
        thisUpdate: fresh.thisUpdate,
        nextUpdate: fresh.nextUpdate,
      };
    }

    const trustPem = await trustPemOf(chain.pem, options.extraCaFile);
    const chainFile = await context.sharedFiles.chains.pathFor(chain.pem);
    const files: TempFiles = {
      ...ownFiles,
      chain: chainFile,
      trust: options.extraCaFile === undefined ? chainFile : await context.sharedFiles.trusts.pathFor(trustPem),
    };
    const chainCheck = { eePem: ee.pem, trustPem, partialChain: options.partialChain };
    await verifyEndEntity(cert, chain.fromIssuerFile, files, chainCheck, context);
    const expectedIssuer = issuerOf(ee, chain.certificates);
    const expectedCertId = certIdOf(ee, expectedIssuer);
    const verification = verificationFor(files, options);
    const { der, response, verdict } = await obtainResponse(responder, files, verification, options, context);
    const assessment = assessResponse(response, expectedCertId, context.now());
    // A response that is not about this certificate at all leaves openssl
    // nothing to report on; say what it is before asking openssl.
    if (!assessment.ok && IDENTITY_PROBLEMS.has(assessment.problem.code)) {
      throw new HaposError(ExitCode.ocsp, assessment.problem.message);
    }
    await checkResponse(files, verification, verdict, options, context);
    if (!assessment.ok) throw new HaposError(ExitCode.ocsp, assessment.problem.message);
    const single = assessment.single;
    if (single.certStatus === 'revoked') await context.log.error(`${cert}: ${describeRevocation(single)}`);

    const result = { certStatus: single.certStatus, thisUpdate: single.thisUpdate, nextUpdate: single.nextUpdate };
    if (options.dryRun) {
      context.log.debug('Debug mode: haproxy update skipped.');
      return { action: 'checked', ...result };
    }
    // Only a response for this very certificate counts: after a renewal the
    // old certificate's response may well carry a later This Update.
    const currentSingle =
      current?.responseStatus === 'successful' &&
      current.responses[0] !== undefined &&
      certIdHex(current.responses[0].certId) === certIdHex(expectedCertId)
        ? current.responses[0]
        : undefined;
    if (currentSingle !== undefined && compareWithCurrent(single, currentSingle) === 'older') {
      await context.log.error(
        `${cert}.ocsp in place is newer (This Update ${formatOpensslDate(currentSingle.thisUpdate)}) than the response received (This Update ${formatOpensslDate(single.thisUpdate)}): keeping it`,
      );
      return { action: 'kept-current', ...result };
    }
    if (lockFailure !== undefined) throw lockFailure;
    await install(cert, der, chain);
    if (options.skipUpdate) {
      context.log.debug('Not notifying haproxy because skip-update is set.');
    } else {
      await notifyHaproxy(context.haproxy, {
        cert,
        responseDer: der,
        hadResponse,
        certIdHex: certIdHex(expectedCertId),
        issuerPem: expectedIssuer.pem,
        sha1Fingerprint: ee.x509.fingerprint.replace(/:/g, ''),
        signal: context.deadline.signal,
      });
    }
    return { action: 'updated', ...result };
  } catch (error) {
    if (!(error instanceof HaposError) || error.exitCode === ExitCode.program) throw error;
    const notes = [
      misorderNote(bundle.certificates),
      details.mustStaple
        ? 'this certificate demands OCSP stapling (Must-Staple): clients will refuse the site without a valid staple'
        : '',
    ].filter((note) => note !== '');
    if (notes.length === 0) throw error;
    throw new HaposError(error.exitCode, `${error.message} (${notes.join('; ')})`);
  }
}

/**
 * The EE carries no OCSP URL: exit 2 for a single certificate, a skip in a
 * batch. A misordered bundle's "no URL" is a plain HaposError instead.
 */
export class NoOcspUrlError extends HaposError {
  constructor() {
    super(ExitCode.noOcspUrl, 'OCSP server URL not found in the EE certificate');
  }
}

function ownTempFiles(tempDir: string) {
  const inTemp = (name: string) => path.join(tempDir, name);
  return { ee: inTemp('ee.pem'), request: inTemp('ocsp-request.der'), response: inTemp('ocsp.der') };
}

interface TempFiles extends ReturnType<typeof ownTempFiles> {
  readonly chain: string;
  /** What openssl trusts: the chain file itself, or the chain with extra anchors. */
  readonly trust: string;
}

/**
 * Check the response in place: says whether it has expired, and returns it so
 * that a newer one is never replaced by an older one. An unreadable file is
 * reported and replaced (an empty one silently: a placeholder); the original
 * silently ignored both. A FIFO or a device there is never replaced: exit 5.
 */
async function reportCurrentResponse(cert: string, context: UpdateContext): Promise<OcspResponse | undefined> {
  const { log } = context;
  log.debug('An OCSP response already exists: checking its expiration.');
  let der: Buffer;
  try {
    der = readRegularFileSync(`${cert}.ocsp`, { maxBytes: OCSP_RESPONSE_MAX_BYTES }).bytes;
  } catch (error) {
    if (!(error instanceof FileReadError)) throw error;
    if (error.problem.kind === 'missing') return undefined;
    // Its replacement would be renamed over a FIFO or a device node (or the
    // device a link leads to); a directory only makes the rename fail.
    if (error.problem.kind === 'not-regular' && error.problem.type !== 'directory') {
      throw new HaposError(ExitCode.haproxy, `can't update ${cert}.ocsp file (${error.reason})`);
    }
    await log.error(`current OCSP response ${cert}.ocsp is unreadable (${error.reason}): it will be replaced`);
    return undefined;
  }
  // HAProxy 2.6 only takes a response at run time for a certificate that
  // had a `.ocsp` when it started, so an empty one is a deliberate placeholder.
  if (der.length === 0) {
    log.debug(`Current OCSP response ${cert}.ocsp is an empty placeholder: it will be replaced`);
    return undefined;
  }
  let current: OcspResponse;
  try {
    current = parseOcspResponse(der);
  } catch (error) {
    await log.error(`current OCSP response ${cert}.ocsp is unreadable (${messageOf(error)}): it will be replaced`);
    return undefined;
  }
  const nextUpdate = current.responseStatus === 'successful' ? current.responses[0]?.nextUpdate : undefined;
  if (nextUpdate === undefined) return current;
  const expiration = formatOpensslDate(nextUpdate);
  if (nextUpdate.getTime() < context.now().getTime()) {
    log.debug(`Current OCSP response expiration: ${expiration} - expired`);
    await log.error('current OCSP response is expired: please consider running this script more frequently');
  } else {
    log.debug(`Current OCSP response expiration: ${expiration} - NOT expired`);
  }
  return current;
}

interface Bundle {
  readonly text: string;
  /** Each PEM block, in file order, with its parsed certificate when it is one. */
  readonly blocks: readonly { readonly pem: string; readonly certificate?: BundleCertificate }[];
  readonly certificates: readonly BundleCertificate[];
}

/**
 * Bundles and chains are a few kilobytes, read synchronously: in a batch, the
 * thread-pool round trips of an asynchronous read (open, stat, read, close)
 * cost more than the reading.
 */
function readBundle(cert: string): Bundle {
  let text: string;
  try {
    text = readPemFile(cert);
  } catch (error) {
    if (!(error instanceof FileReadError)) throw error;
    throw new HaposError(ExitCode.certificate, `can't extract EE certificate from ${cert} (${error.reason})`);
  }
  const blocks = splitPemCertificates(text).map((pem) => ({ pem, certificate: parseCertificate(pem) }));
  return { text, blocks, certificates: blocks.flatMap((block) => block.certificate ?? []) };
}

/** Extract the EE: the bundle's first certificate. */
function extractEndEntity(cert: string, bundle: Bundle, eePath: string): BundleCertificate {
  const ee = bundle.blocks[0]?.certificate;
  if (ee === undefined) {
    throw new HaposError(
      ExitCode.certificate,
      `can't extract EE certificate from ${cert} (${describeBundle(bundle.text)})`,
    );
  }
  writeFileSync(eePath, ee.pem);
  return ee;
}

/** Why a bundle holds no usable PEM certificate. */
function describeBundle(text: string): string {
  if (text.length === 0) return 'the file is empty';
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text) && !text.includes('-----BEGIN CERTIFICATE-----')) {
    return 'it holds a private key but no certificate';
  }
  if (text.includes('-----BEGIN CERTIFICATE-----')) return 'its first certificate is not valid PEM';
  if (text.charCodeAt(0) === 0x30)
    return 'it looks like DER; HAProxy needs PEM (openssl x509 -inform DER -outform PEM)';
  return 'no PEM certificate in it';
}

/**
 * What the flow needs from the EE's extensions. Node's X509Certificate took
 * the certificate, so one whose DER can't be walked is no program error: it
 * is an EE certificate that can't be extracted.
 */
function certificateDetailsOf(cert: string, ee: BundleCertificate): CertificateDetails {
  try {
    return parseCertificateDetails(ee.x509);
  } catch (error) {
    if (!(error instanceof CertificateParseError)) throw error;
    throw new HaposError(ExitCode.certificate, `can't extract EE certificate from ${cert} (${error.message})`);
  }
}

/** The CertID HAProxy files the response under; a certificate whose DER can't be walked is exit 1. */
function certIdOf(ee: BundleCertificate, issuer: BundleCertificate): CertId {
  try {
    return computeCertId(ee.x509, issuer.x509);
  } catch (error) {
    if (!(error instanceof CertificateParseError)) throw error;
    throw new HaposError(ExitCode.certificate, error.message);
  }
}

/** An expired or not yet valid EE still gets its response, but the user should know. */
function warnAboutValidity(ee: BundleCertificate, context: UpdateContext): void {
  const now = context.now().getTime();
  if (Date.parse(ee.x509.validTo) < now) {
    void context.log.error(`warning: the EE certificate expired on ${ee.x509.validTo}`);
  } else if (Date.parse(ee.x509.validFrom) > now) {
    void context.log.error(`warning: the EE certificate is not valid before ${ee.x509.validFrom}`);
  }
}

/** Find the responder: where to send the request, and with which Host header. */
function resolveResponder(details: CertificateDetails, options: UpdateOptions, context: UpdateContext): Responder {
  const { log } = context;
  let url = options.ocspUrl;
  if (url === undefined) {
    // A URI that is not ASCII, say: no http[s]:// URL either.
    if (details.unreadableAia !== undefined) {
      throw new HaposError(ExitCode.parsing, `OCSP server URL not in http[s]:// format (${details.unreadableAia})`);
    }
    url = details.ocspUrls[0];
    if (url === undefined) throw new NoOcspUrlError();
    log.debug(`OCSP server URL found: ${escapeControls(url)}`);
  } else {
    log.debug(`Using OCSP server URL from command line: ${escapeControls(url)}`);
  }
  if (!isHttpUrl(url)) throw new HaposError(ExitCode.parsing, 'OCSP server URL not in http[s]:// format');

  if (options.ocspHost === undefined) {
    log.debug(`OCSP server hostname: ${escapeControls(hostOfUrl(url))}`);
  } else {
    log.debug(`Using OCSP server hostname from command line: ${escapeControls(options.ocspHost)}`);
  }
  if (options.ocspProxy !== undefined && !isHttpUrl(options.ocspProxy)) {
    throw new HaposError(ExitCode.parsing, 'OCSP server PROXY not in http[s]:// format');
  }
  const viaOpensslBefore11 = context.curl === undefined && context.openssl.needsExplicitHost;
  return {
    url,
    hostHeader: options.ocspHost ?? (viaOpensslBefore11 ? hostOfUrl(url) : undefined),
    proxy: options.ocspProxy,
  };
}

interface Chain {
  readonly certificates: readonly BundleCertificate[];
  /** The chain file's text, as openssl gets it. */
  readonly pem: string;
  /** Whether it came from an existing `CERT.issuer` rather than the bundle. */
  readonly fromIssuerFile: boolean;
}

/** Build the chain: from `CERT.issuer` when present, else from the bundle. */
function prepareChain(cert: string, bundle: Bundle, ee: BundleCertificate, log: Log): Chain {
  const issuerFile = `${cert}.issuer`;
  if (existsSync(issuerFile)) {
    log.debug(`Using existing chain (${issuerFile})`);
    let issuerText: string;
    try {
      issuerText = readPemFile(issuerFile);
    } catch (error) {
      if (!(error instanceof FileReadError)) throw error;
      throw new HaposError(ExitCode.parsing, `can't copy current chain from ${issuerFile} (${error.reason})`);
    }
    const certificates = splitPemCertificates(issuerText).flatMap((pem) => parseCertificate(pem) ?? []);
    return { certificates, pem: issuerText, fromIssuerFile: true };
  }
  log.debug('Extracting chain from certificates bundle');
  log.debug(`EE certificate's fingerprint: ${ee.fingerprint}`);
  if (bundle.blocks.length <= 1) {
    throw new HaposError(
      ExitCode.parsing,
      `can't obtain the number of certificates in the chain (the bundle holds only the EE certificate and there is no ${issuerFile})`,
    );
  }
  log.debug(`${bundle.blocks.length} certificates found in the bundle`);
  const chain: BundleCertificate[] = [];
  for (const [index, { certificate }] of bundle.blocks.entries()) {
    if (certificate === undefined) {
      throw new HaposError(
        ExitCode.certificate,
        `can't obtain the fingerprint of the certificate n. ${index + 1} in the bundle`,
      );
    }
    const isEndEntity = certificate.fingerprint === ee.fingerprint;
    log.debug(
      `Bundle certificate n. ${index + 1} fingerprint: ${certificate.fingerprint} - ${isEndEntity ? 'EE certificate' : "it's part of the chain"}`,
    );
    if (!isEndEntity) chain.push(certificate);
  }
  return { certificates: chain, pem: chainPemOf(ee, chain), fromIssuerFile: false };
}

/** A bundle's chain: every certificate but the EE, in bundle order. */
function chainPemOf(ee: BundleCertificate, certificates: readonly BundleCertificate[]): string {
  return certificates
    .filter((certificate) => certificate.fingerprint !== ee.fingerprint)
    .map((certificate) => certificate.pem)
    .join('');
}

/** What openssl verify and ocsp trust as CAfile: the chain, with extra anchors appended when given. */
async function trustPemOf(chainPem: string, extraCaFile: string | undefined): Promise<string> {
  if (extraCaFile === undefined) return chainPem;
  try {
    return chainPem + readPemFile(extraCaFile);
  } catch (error) {
    if (!(error instanceof FileReadError)) throw error;
    throw new HaposError(ExitCode.program, `--ca-file ${extraCaFile}: ${error.reason}`);
  }
}

const readPemFile = (file: string) =>
  readRegularFileSync(file, { maxBytes: PEM_FILE_MAX_BYTES }).bytes.toString('latin1');

/**
 * What verifying the EE will hand `openssl verify` for a certificate, so that a batch
 * can verify many at once beforehand: undefined when the bundle is not one
 * the flow would get that far with.
 */
export async function plannedVerification(
  cert: string,
  options: Pick<UpdateOptions, 'partialChain' | 'extraCaFile'>,
): Promise<VerificationRequest | undefined> {
  let blocks: Bundle['blocks'];
  try {
    blocks = readBundle(cert).blocks;
  } catch {
    return undefined;
  }
  const ee = blocks[0]?.certificate;
  if (ee === undefined) return undefined;
  let issuerText: string | undefined;
  try {
    issuerText = readPemFile(`${cert}.issuer`);
  } catch (error) {
    // Only a missing one sends the flow to the bundle's chain; the flow stops at any other failure.
    if (!(error instanceof FileReadError) || error.problem.kind !== 'missing') return undefined;
  }
  const chainPem =
    issuerText ??
    chainPemOf(
      ee,
      blocks.flatMap(({ certificate }) => certificate ?? []),
    );
  return {
    eePem: ee.pem,
    trustPem: await trustPemOf(chainPem, options.extraCaFile),
    partialChain: options.partialChain,
  };
}

/** Verify the EE: it must chain up through the extracted (or existing) chain. */
async function verifyEndEntity(
  cert: string,
  chainFromIssuerFile: boolean,
  files: TempFiles,
  request: VerificationRequest,
  context: LockedContext,
): Promise<void> {
  if (context.verifiedChains?.has(request)) return;
  const verified = await context.openssl.verify({
    caFile: files.trust,
    cert: files.ee,
    partialChain: request.partialChain,
    signal: context.deadline.signal,
  });
  if (verified.exitCode === 0) return;
  if (verified.stopped === 'aborted') {
    throw new HaposError(ExitCode.certificate, `can't validate the EE certificate: ${context.deadline.reason}`);
  }
  const reason = parseVerifyError(`${verified.stdout}${verified.stderr}`);
  if (chainFromIssuerFile) {
    throw new HaposError(
      ExitCode.certificate,
      `can't validate the EE certificate against the existing chain; if it has been changed recently consider removing the current ${cert}.issuer file and let this script to figure out a new one`,
    );
  }
  throw new HaposError(
    ExitCode.certificate,
    `can't validate the EE certificate against the extracted chain${reason === undefined ? '' : ` (${reason})`}`,
  );
}

/** When the bundle's order is wrong, names the certificate that looks like the EE. */
function misorderNote(bundle: readonly BundleCertificate[]): string {
  const leafIndex = bundle.findIndex((certificate) => !certificate.x509.ca);
  if (leafIndex <= 0) return '';
  const subject = describeName(bundle[leafIndex]!.x509.subject);
  return `the bundle's certificates are out of order: n. ${leafIndex + 1} (${subject}) looks like the EE certificate and must come first`;
}

/**
 * The response in place, when it is for this certificate, says `good`, HAProxy
 * would take it, and most of its validity is ahead. A `revoked` one is always
 * asked again: skipping it would hide the revocation and let `-g` pass.
 */
function freshResponseInPlace(
  current: OcspResponse | undefined,
  ee: BundleCertificate,
  chain: readonly BundleCertificate[],
  context: UpdateContext,
): SingleResponse | undefined {
  const issuer = chain.find((candidate) => ee.x509.checkIssued(candidate.x509));
  if (current === undefined || issuer === undefined) return undefined;
  const now = context.now();
  const assessment = assessResponse(current, certIdOf(ee, issuer), now);
  return assessment.ok && assessment.single.certStatus === 'good' && isFreshEnough(assessment.single, now)
    ? assessment.single
    : undefined;
}

/** The EE's issuer among the chain: the CertID HAProxy files the response under is computed from it. */
function issuerOf(ee: BundleCertificate, chain: readonly BundleCertificate[]): BundleCertificate {
  const issuer = chain.find((candidate) => ee.x509.checkIssued(candidate.x509));
  if (issuer === undefined) {
    throw new HaposError(ExitCode.certificate, "can't find the EE certificate's issuer in the chain");
  }
  return issuer;
}

/**
 * Fetch, with retries: transport failures and `tryLater` are retried with
 * backoff; anything that is not an OCSP response at all is exit 1.
 */
async function obtainResponse(
  responder: Responder,
  files: TempFiles,
  verification: Verification,
  options: UpdateOptions,
  context: LockedContext,
): Promise<{ der: Buffer; response: OcspResponse; verdict?: CommandResult }> {
  const { deadline } = context;
  const fetchFiles = { issuer: files.chain, cert: files.ee, request: files.request, response: files.response };
  const settings = {
    partialChain: options.partialChain,
    timeoutSeconds: options.timeoutSeconds,
    curl: context.curl,
    verification,
    signal: deadline.signal,
  };
  const notReceived = (why: string) =>
    new HaposError(ExitCode.certificate, `can't receive the OCSP server response: ${why}`);
  for (let attempt = 0; ; attempt++) {
    const retry = async (why: string) => {
      const delayMs = context.retryDelayMs(attempt);
      // A pause that would outlast the deadline leaves no time for another attempt: fail now.
      if (delayMs >= deadline.remainingMs()) {
        throw notReceived(
          `${why}; no time left for another attempt before the ${deadline.seconds} s deadline (--deadline)`,
        );
      }
      context.log.debug(`OCSP request failed (${why}); retrying in ${(delayMs / 1000).toFixed(1)} s`);
      await sleep(delayMs, undefined, { signal: deadline.signal }).catch(() => {
        throw notReceived(deadline.reason);
      });
    };
    let fetched: Fetched;
    try {
      fetched = await context.throttleResponder(hostOfUrl(responder.url), () =>
        fetchOcspResponse(context.openssl, responder, fetchFiles, settings),
      );
    } catch (error) {
      if (deadline.passed) throw notReceived(deadline.reason);
      if (error instanceof RequestError) throw new HaposError(ExitCode.certificate, error.message);
      if (!(error instanceof FetchError)) throw error;
      if (error.transient && attempt < options.retries) {
        await retry(error.reason);
        continue;
      }
      throw notReceived(error.reason);
    }
    let response: OcspResponse;
    try {
      response = parseOcspResponse(fetched.body);
    } catch (error) {
      if (!(error instanceof OcspParseError)) throw error;
      throw notReceived(error.message);
    }
    if (response.responseStatus === 'tryLater' && attempt < options.retries) {
      await retry('the responder answered tryLater');
      continue;
    }
    return { der: fetched.body, response, verdict: fetched.verdict };
  }
}

function verificationFor(files: TempFiles, options: UpdateOptions): Verification {
  const vaFile = options.vaFile === undefined || typeof options.vaFile === 'string' ? options.vaFile : files.chain;
  return { caFile: files.trust, vaFile, verify: options.verify };
}

/**
 * Check the response, from the verdict of the fetching openssl process or of a
 * separate check (curl). OpenSSL 1.1 and later exit non-zero when only the
 * signature is wrong; that is an OCSP error (4), and exit 1 is kept for a
 * response that could not be read at all.
 */
async function checkResponse(
  files: TempFiles,
  verification: Verification,
  fetchVerdict: CommandResult | undefined,
  options: UpdateOptions,
  context: LockedContext,
): Promise<void> {
  const { log } = context;
  const checked =
    fetchVerdict ??
    (await context.openssl.checkResponse({
      issuer: files.chain,
      cert: files.ee,
      partialChain: options.partialChain,
      responseIn: files.response,
      verification,
      signal: context.deadline.signal,
    }));
  if (checked.stopped === 'aborted') {
    throw new HaposError(ExitCode.certificate, `can't receive OCSP response (${context.deadline.reason})`);
  }
  const verdictText = checked.stderr.replace(/\s+$/, '');
  const outcome = parseVerificationOutcome(verdictText);
  const unreadable = checked.exitCode !== 0 && (!options.verify || outcome === 'absent');
  if (unreadable) throw new HaposError(ExitCode.certificate, "can't receive OCSP response");

  if (options.verify) {
    log.debug(`OCSP response verification results: ${verdictText}`);
    if (outcome === 'signer-not-found') {
      throw new HaposError(
        ExitCode.ocsp,
        "OCSP response verification failure: signer certificate not found; try with '--VAfile -' or '--VAfile OCSP-response-signing-certificate-file' arguments",
      );
    }
    if (outcome !== 'verified') throw new HaposError(ExitCode.ocsp, 'OCSP response verification failure.');
  }

  const statusText = checked.stdout.replace(/\s+$/, '');
  log.debug(`OCSP response: ${statusText}`);
  const status = parseOcspStatusBlock(statusText);
  if (status === undefined) throw new HaposError(ExitCode.certificate, "can't receive OCSP response");
  if (options.goodOnly && status.status !== 'good') {
    throw new HaposError(ExitCode.ocsp, 'OCSP response, certificate status not good');
  }
}

/**
 * Install, files: the response always, the chain only when there was no
 * `.issuer` yet; each replaced atomically, and neither when either cannot be
 * written. The response is renamed first, as the original copies it first:
 * when its rename fails (a directory in its place, say), no `.issuer` appears.
 */
async function install(cert: string, responseDer: Buffer, chain: Chain): Promise<void> {
  const files = [
    { path: `${cert}.ocsp`, data: responseDer },
    ...(chain.fromIssuerFile ? [] : [{ path: `${cert}.issuer`, data: Buffer.from(chain.pem, 'latin1') }]),
  ];
  try {
    await replaceFilesAtomically(files, { modeFallbackFrom: cert });
  } catch (error) {
    if (!(error instanceof FileWriteError)) throw error;
    throw new HaposError(ExitCode.haproxy, `can't update ${error.path} file (${error.code})`);
  }
}

/** Install, HAProxy: the notifier's failures get the original's exit codes, 5 for HAProxy's and 9 for a missing socat. */
async function notifyHaproxy(haproxy: HaproxyNotifier, update: HaproxyUpdate): Promise<void> {
  try {
    await haproxy.notify(update);
  } catch (error) {
    if (error instanceof HaproxyUpdateError) throw new HaposError(ExitCode.haproxy, error.message);
    if (error instanceof SocatMissingError) throw new HaposError(ExitCode.program, error.message);
    throw error;
  }
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));
