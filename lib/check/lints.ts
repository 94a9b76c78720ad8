/**
 * Offline lints of a certificate bundle and the files HAProxy loads beside it
 * (`CRT.key`, `CRT.issuer`, `CRT.ocsp`): what `--check` can say without a
 * network or an openssl process. Whether the chain reaches a trusted root is
 * `openssl verify`'s business; orderedChain() gives the caller what to verify.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import {
  describeName,
  findPemBlocks,
  isIssuedBy,
  orderedChain,
  parseCertificate,
  splitPemCertificates,
  type BundleCertificate,
  type OrderedChain,
} from '../pki/bundle.ts';
import type { FailureKind } from '../update/failure.ts';
import { FileReadError, OCSP_RESPONSE_MAX_BYTES, PEM_FILE_MAX_BYTES, readRegularFileSync } from '../fs/files.ts';
import { shorten } from '../util/printable.ts';
import {
  CertificateParseError,
  OcspParseError,
  computeCertId,
  parseCertificateDetails,
  parseOcspResponse,
  type CertId,
  type CertificateDetails,
  type OcspResponse,
} from '../pki/ocsp-response.ts';
import { assessResponse, describeRevocation, type ProblemCode } from '../pki/acceptance.ts';

export type FindingCode =
  | 'bundle-unreadable'
  | 'no-certificate'
  | 'certificate-unparseable'
  | 'chain-order'
  | 'chain-unrelated'
  | 'issuer-missing'
  | 'key-mismatch'
  | 'key-missing'
  | 'key-unreadable'
  | 'cert-expired'
  | 'cert-not-yet-valid'
  | 'cert-expiring'
  | 'no-ocsp-url'
  | 'ocsp-url-format'
  | 'must-staple'
  | 'tls-feature-unreadable'
  | 'issuer-file-mismatch'
  | 'issuer-file-unreadable'
  | 'ocsp-file-empty'
  | 'ocsp-file-unreadable'
  | 'ocsp-file-mismatch'
  | 'ocsp-file-expired'
  | 'ocsp-file-unusable'
  | 'ocsp-file-revoked'
  // Found by --check's live part (check-bundle.ts), not by lintBundle:
  | 'chain-incomplete'
  | 'ocsp-revoked'
  | 'ocsp-failed';

export type Severity = 'error' | 'warning';

/** The original tool's class of problem (its exit code): certificate, no OCSP URL, parsing, OCSP. */
export type FindingKind = Extract<FailureKind, 'certificate' | 'no-ocsp-url' | 'parsing' | 'ocsp'>;

export interface Finding {
  /** The bundle's path, as given to lintBundle. */
  readonly cert: string;
  readonly code: FindingCode;
  readonly severity: Severity;
  /** One line, no trailing period. */
  readonly message: string;
  readonly kind: FindingKind;
}

export interface LintOptions {
  readonly now: Date;
  /** A certificate expiring within this many days gets a cert-expiring warning (default 21). */
  readonly warnDays?: number;
  /** Makes no-ocsp-url an error instead of a warning. */
  readonly requireOcsp?: boolean;
}

const defaultWarnDays = 21;
const millisecondsPerDay = 24 * 60 * 60 * 1000;

/** A bundle certificate and its place among the PEM blocks of the file (1-based). */
interface Entry extends BundleCertificate {
  readonly position: number;
}

const describe = (entry: Entry) => `certificate ${entry.position} (${describeName(entry.x509.subject)})`;
const iso = (date: Date) => date.toISOString();
const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));

type ExtraFile =
  | { readonly state: 'absent' }
  | { readonly state: 'read'; readonly bytes: Buffer }
  | { readonly state: 'failed'; readonly reason: string };

/** Reads a file HAProxy would look for; like HAProxy's stat(), a dangling link counts as absent. */
async function readExtraFile(path: string, maxBytes = PEM_FILE_MAX_BYTES): Promise<ExtraFile> {
  try {
    return { state: 'read', bytes: readRegularFileSync(path, { maxBytes }).bytes };
  } catch (error) {
    if (!(error instanceof FileReadError)) throw error;
    if (error.problem.kind === 'missing') return { state: 'absent' };
    return { state: 'failed', reason: readFailureReason(error) };
  }
}

/** The system's code when it refused (as the lints have always said it), else why the file was not read. */
const readFailureReason = (error: FileReadError) => error.code ?? error.reason;

/** OpenSSL's PEM_read_bio_PrivateKey takes every block type ending so: PRIVATE KEY, EC PRIVATE KEY... */
const isPrivateKeyLabel = (label: string) => label.endsWith('PRIVATE KEY') && /^[A-Z0-9 ]*$/.test(label);

/** The first private key block, the one HAProxy loads. */
function firstPrivateKeyPem(text: string): string | undefined {
  return findPemBlocks(text, isPrivateKeyLabel)[0];
}

class Findings {
  readonly list: Finding[] = [];

  constructor(private readonly cert: string) {}

  add(code: FindingCode, severity: Severity, kind: FindingKind, message: string): void {
    this.list.push({ cert: this.cert, code, severity, message, kind });
  }
}

/** CRT.issuer: hapos-upd uses all of it as the chain, HAProxy only its first certificate. */
interface IssuerFile {
  readonly path: string;
  readonly file: ExtraFile;
  /** One per PEM block; undefined for a block that is not a valid certificate. */
  readonly certificates: readonly (BundleCertificate | undefined)[];
  /** The first certificate, when it issued the EE certificate. */
  readonly issuer: BundleCertificate | undefined;
}

interface BundleContext {
  readonly certPath: string;
  readonly text: string;
  readonly entries: readonly [Entry, ...Entry[]];
  readonly chain: OrderedChain<Entry>;
  readonly issuerFile: IssuerFile;
  readonly ocspFile: ExtraFile;
}

function parseEntries(text: string, findings: Findings): Entry[] {
  return splitPemCertificates(text).flatMap((pem, index) => {
    const position = index + 1;
    const certificate = parseCertificate(pem);
    if (!certificate) {
      findings.add(
        'certificate-unparseable',
        'error',
        'parsing',
        `certificate ${position} of the bundle is not a valid certificate: HAProxy refuses to load the bundle`,
      );
      return [];
    }
    return [{ ...certificate, position }];
  });
}

async function readIssuerFile(certPath: string, leaf: Entry): Promise<IssuerFile> {
  const path = `${certPath}.issuer`;
  const file = await readExtraFile(path);
  const certificates =
    file.state === 'read' ? splitPemCertificates(file.bytes.toString('latin1')).map(parseCertificate) : [];
  const [first] = certificates;
  const issuer = first && isIssuedBy(leaf.x509, first.x509) ? first : undefined;
  return { path, file, certificates, issuer };
}

/** Why orderedChain passed over the first certificate: it is a CA, or it issued another one. */
function whyNotEe(first: Entry, entries: readonly Entry[]): string {
  if (first.x509.ca) return 'is a CA certificate';
  const issued = entries.find((other) => other !== first && isIssuedBy(other.x509, first.x509));
  return `issued ${issued ? describe(issued) : 'another certificate'}`;
}

function lintOrder({ entries, chain }: BundleContext, findings: Findings): void {
  const [first] = entries;
  const { leaf, issuers } = chain;
  if (first !== leaf) {
    findings.add(
      'chain-order',
      'error',
      'certificate',
      `${describe(first)} ${whyNotEe(first, entries)}; ${describe(leaf)} looks like the EE certificate: HAProxy serves, and hapos-upd staples for, the first certificate of the bundle, so put it first`,
    );
    return;
  }
  const expected = [leaf, ...issuers];
  const inFileOrder = entries.filter((entry) => expected.includes(entry));
  const misplaced = inFileOrder.findIndex((entry, index) => entry !== expected[index]);
  const child = expected[misplaced - 1];
  const found = inFileOrder[misplaced];
  if (child && found) {
    findings.add(
      'chain-order',
      'warning',
      'certificate',
      `${describe(found)} follows ${describe(child)} but did not issue it; order the chain as ${expected.map((entry) => entry.position).join(', ')} (each certificate followed by its issuer): TLS 1.2 clients may reject it`,
    );
  }
}

function lintChain(context: BundleContext, findings: Findings): void {
  lintOrder(context, findings);
  const { leaf, issuers } = context.chain;
  const issuerMissing = issuers.length === 0 && !isIssuedBy(leaf.x509, leaf.x509);
  // A CA certificate may well belong above a missing issuer: only the gap is reported then.
  const unrelated = context.chain.unrelated.filter((entry) => !(issuerMissing && entry.x509.ca));
  for (const entry of unrelated) {
    findings.add(
      'chain-unrelated',
      'warning',
      'certificate',
      `${describe(entry)} is on no chain with the EE certificate: HAProxy sends it to every client for nothing`,
    );
  }

  if (!issuerMissing || context.issuerFile.issuer) return;
  const loading =
    context.ocspFile.state === 'absent'
      ? ''
      : ` and HAProxy refuses to load the bundle while its .ocsp file exists ("impossible to compute the OCSP certificate ID (maybe the issuer could not be found)")`;
  findings.add(
    'issuer-missing',
    'error',
    // The original tool fails on a lone certificate before it looks for an issuer.
    context.entries.length > 1 ? 'certificate' : 'parsing',
    `the issuer of ${describe(leaf)}, ${describeName(leaf.x509.issuer)}, is neither in the bundle nor in ${context.issuerFile.path}: hapos-upd can't build an OCSP request${loading}`,
  );
}

/** PKCS#8 and the traditional `Proc-Type` header both mark a key protected by a passphrase. */
const ENCRYPTED_KEY = /^-----BEGIN ENCRYPTED PRIVATE KEY-----|^Proc-Type: 4,ENCRYPTED/m;

/** The key, or why it can't be used. */
function parsePrivateKey(pem: string): KeyObject | string {
  if (ENCRYPTED_KEY.test(pem)) return 'it needs a passphrase, which HAProxy asks for on its terminal';
  try {
    return createPrivateKey(pem);
  } catch (error) {
    return errorText(error);
  }
}

function checkKey(key: KeyObject, where: string, { entries, chain }: BundleContext, findings: Findings): void {
  const [first] = entries;
  if (first.x509.checkPrivateKey(key)) return;
  const hint =
    chain.leaf !== first && chain.leaf.x509.checkPrivateKey(key)
      ? `; it matches ${describe(chain.leaf)}, which belongs first`
      : '';
  findings.add(
    'key-mismatch',
    'error',
    'certificate',
    `the private key ${where} does not match ${describe(first)}: HAProxy refuses to load the bundle ("inconsistencies between private key and certificate loaded")${hint}`,
  );
}

/** HAProxy 2.6 takes the first private key of the bundle, else `CRT.key`, and checks it against the first certificate. */
async function lintKey(context: BundleContext, findings: Findings): Promise<void> {
  const bundleKeyPem = firstPrivateKeyPem(context.text);
  const keyPath = `${context.certPath}.key`;
  if (bundleKeyPem) {
    const key = parsePrivateKey(bundleKeyPem);
    if (typeof key !== 'string') {
      checkKey(key, 'in the bundle', context, findings);
      return;
    }
    findings.add(
      'key-unreadable',
      'error',
      'certificate',
      `the private key in the bundle can't be read (${key}): HAProxy looks for ${keyPath} instead`,
    );
  }

  const keyFile = await readExtraFile(keyPath);
  if (keyFile.state === 'absent') {
    if (bundleKeyPem) return;
    findings.add(
      'key-missing',
      'warning',
      'certificate',
      `no private key in the bundle nor in ${keyPath}: HAProxy refuses to load the bundle unless its key comes from elsewhere ("No Private Key found")`,
    );
    return;
  }
  const keyPem = keyFile.state === 'read' ? firstPrivateKeyPem(keyFile.bytes.toString('latin1')) : undefined;
  const key = keyPem === undefined ? undefined : parsePrivateKey(keyPem);
  if (key === undefined || typeof key === 'string') {
    const reason = keyFile.state === 'failed' ? keyFile.reason : (key ?? 'no PEM private key in it');
    findings.add(
      'key-unreadable',
      'error',
      'certificate',
      `${keyPath} can't be read (${reason}): HAProxy refuses to load the bundle`,
    );
    return;
  }
  checkKey(key, `in ${keyPath}`, context, findings);
}

function lintValidity(entries: readonly Entry[], now: Date, warnDays: number, findings: Findings): void {
  for (const entry of entries) {
    const notBefore = new Date(entry.x509.validFrom);
    const notAfter = new Date(entry.x509.validTo);
    const remainingMs = notAfter.getTime() - now.getTime();
    if (remainingMs <= 0) {
      findings.add('cert-expired', 'error', 'certificate', `${describe(entry)} expired at ${iso(notAfter)}`);
    } else if (notBefore.getTime() > now.getTime()) {
      findings.add(
        'cert-not-yet-valid',
        'error',
        'certificate',
        `${describe(entry)} is not valid before ${iso(notBefore)}`,
      );
    } else if (remainingMs <= warnDays * millisecondsPerDay) {
      const days = Math.floor(remainingMs / millisecondsPerDay);
      findings.add(
        'cert-expiring',
        'warning',
        'certificate',
        `${describe(entry)} expires at ${iso(notAfter)}, in ${days} day${days === 1 ? '' : 's'} (warning threshold: ${warnDays})`,
      );
    }
  }
}

function lintEeDetails(leaf: Entry, requireOcsp: boolean, findings: Findings): void {
  let details: CertificateDetails;
  try {
    details = parseCertificateDetails(leaf.x509);
  } catch (error) {
    if (!(error instanceof CertificateParseError)) throw error;
    findings.add('certificate-unparseable', 'error', 'parsing', `${describe(leaf)}: ${error.message}`);
    return;
  }
  const [url] = details.ocspUrls;
  if (details.unreadableAia !== undefined) {
    findings.add(
      'ocsp-url-format',
      'error',
      'parsing',
      `OCSP server URL not in http[s]:// format (${details.unreadableAia})`,
    );
  } else if (url === undefined) {
    findings.add(
      'no-ocsp-url',
      requireOcsp ? 'error' : 'warning',
      'no-ocsp-url',
      'OCSP server URL not found in the EE certificate: there is no OCSP response to staple',
    );
  } else if (!/^https?:\/\//i.test(url)) {
    findings.add(
      'ocsp-url-format',
      'error',
      'parsing',
      `OCSP server URL not in http[s]:// format: ${shorten(url, 200)}`,
    );
  }
  if (details.unreadableTlsFeature !== undefined) {
    findings.add(
      'tls-feature-unreadable',
      'warning',
      'parsing',
      `${describe(leaf)}: ${details.unreadableTlsFeature}: whether it demands OCSP stapling (Must-Staple) is unknown`,
    );
  }
  if (details.mustStaple) {
    findings.add(
      'must-staple',
      'warning',
      'ocsp',
      'the EE certificate is OCSP Must-Staple (TLS Feature status_request): clients that enforce it refuse the site whenever HAProxy has no valid response to staple',
    );
  }
}

/**
 * HAProxy 2.6 reads CRT.issuer whenever CRT.ocsp exists, and refuses the
 * bundle when its first certificate is unreadable or did not issue the EE
 * certificate, even if the bundle holds the right issuer. hapos-upd writes
 * CRT.ocsp, so a bad CRT.issuer breaks the next HAProxy start either way.
 */
function haproxyVerdict(ocspFile: ExtraFile, error: string): string {
  const when = ocspFile.state === 'absent' ? 'will refuse to load the bundle once' : 'refuses to load the bundle while';
  return `HAProxy ${when} its .ocsp file exists ("${error}")`;
}

function lintIssuerFile({ issuerFile, chain, ocspFile }: BundleContext, findings: Findings): void {
  const { path, file, certificates, issuer } = issuerFile;
  if (file.state === 'absent' || issuer) return;
  const [first] = certificates;
  if (!first) {
    const reason =
      file.state === 'failed'
        ? file.reason
        : certificates.length > 0
          ? 'its first certificate is not valid'
          : 'no PEM certificate';
    findings.add(
      'issuer-file-unreadable',
      'error',
      'certificate',
      `${path} can't be read (${reason}): ${haproxyVerdict(ocspFile, 'cannot be read or parsed')}`,
    );
    return;
  }
  const { leaf } = chain;
  const laterIssuer = certificates.findIndex(
    (other, index) => index > 0 && other !== undefined && isIssuedBy(leaf.x509, other.x509),
  );
  const updater =
    laterIssuer > 0
      ? `hapos-upd finds the issuer further in it (certificate ${laterIssuer + 1}), but`
      : "hapos-upd uses it as the chain and can't validate the EE certificate, and";
  const remedy =
    laterIssuer > 0 ? 'put the issuer first in it' : 'remove it to let hapos-upd take the chain from the bundle';
  findings.add(
    'issuer-file-mismatch',
    'error',
    'certificate',
    `${path} starts with ${describeName(first.x509.subject)}, which did not issue ${describe(leaf)} (issuer ${describeName(leaf.x509.issuer)}): ${updater} ${haproxyVerdict(ocspFile, 'is not an issuer')}; ${remedy}`,
  );
}

const ocspProblemCodes: Readonly<Record<ProblemCode, FindingCode>> = {
  'not-successful': 'ocsp-file-unusable',
  'not-single': 'ocsp-file-unusable',
  'wrong-certificate': 'ocsp-file-mismatch',
  'cert-id-encoding': 'ocsp-file-mismatch',
  'status-unknown': 'ocsp-file-unusable',
  'no-next-update': 'ocsp-file-unusable',
  'not-yet-valid': 'ocsp-file-unusable',
  expired: 'ocsp-file-expired',
  'expires-too-soon': 'ocsp-file-expired',
};

/** What HAProxy 2.6 logs when it drops such a response at load time. */
const haproxyWarnings: Partial<Record<FindingCode, string>> = {
  'ocsp-file-mismatch': 'OCSP single response: Certificate ID does not match certificate and issuer',
};

function parseOcspFile(path: string, bytes: Buffer, findings: Findings): OcspResponse | undefined {
  if (bytes.length === 0) {
    findings.add(
      'ocsp-file-empty',
      'warning',
      'parsing',
      `${path} is empty: HAProxy staples nothing until hapos-upd sets a response`,
    );
    return undefined;
  }
  try {
    return parseOcspResponse(bytes);
  } catch (error) {
    if (!(error instanceof OcspParseError)) throw error;
    findings.add(
      'ocsp-file-unreadable',
      'error',
      'parsing',
      `${path}: ${error.message}: HAProxy ignores it ("Unable to parse OCSP response")`,
    );
    return undefined;
  }
}

/**
 * Checks CRT.ocsp with HAProxy's acceptance rules. Without the leaf's issuer
 * there is no CertID to compare with, and HAProxy would not load the bundle
 * anyway (issuer-missing says so): only the parsing is checked then.
 */
function lintOcspFile(context: BundleContext, now: Date, findings: Findings): void {
  const { ocspFile, chain } = context;
  const path = `${context.certPath}.ocsp`;
  if (ocspFile.state === 'absent') return;
  if (ocspFile.state === 'failed') {
    findings.add('ocsp-file-unreadable', 'error', 'parsing', `${path} can't be read (${ocspFile.reason})`);
    return;
  }
  const response = parseOcspFile(path, ocspFile.bytes, findings);
  const issuer = chain.issuers[0] ?? context.issuerFile.issuer;
  if (!response || !issuer) return;
  let expected: CertId;
  try {
    expected = computeCertId(chain.leaf.x509, issuer.x509);
  } catch (error) {
    if (error instanceof CertificateParseError) return;
    throw error;
  }
  const assessment = assessResponse(response, expected, now);
  if (!assessment.ok) {
    const code = ocspProblemCodes[assessment.problem.code];
    const warning = haproxyWarnings[code];
    findings.add(
      code,
      'error',
      'ocsp',
      `${path}: ${assessment.problem.message}${warning ? `: HAProxy ignores it ("${warning}")` : ''}`,
    );
  } else if (assessment.single.certStatus === 'revoked') {
    findings.add(
      'ocsp-file-revoked',
      'error',
      'ocsp',
      `${path}: ${describeRevocation(assessment.single)}: HAProxy staples it and clients refuse the site`,
    );
  }
}

/**
 * Lints the bundle at `certPath` as HAProxy 2.6 (with the default
 * `ssl-load-extra-files all`) and hapos-upd load it: the bundle, `CRT.key`
 * when the bundle has no key, `CRT.issuer` and `CRT.ocsp`. The key is
 * checked against the first certificate, which HAProxy serves; the other
 * lints concern the certificate that looks like the EE, so that a misordered
 * bundle gets one chain-order error rather than a cascade. Findings come in
 * a stable order: bundle, chain, key, validity, EE extensions, `.issuer`,
 * `.ocsp`.
 */
export async function lintBundle(certPath: string, options: LintOptions): Promise<Finding[]> {
  const findings = new Findings(certPath);
  let text: string;
  try {
    text = readRegularFileSync(certPath, { maxBytes: PEM_FILE_MAX_BYTES }).bytes.toString('latin1');
  } catch (error) {
    if (!(error instanceof FileReadError)) throw error;
    const reason = readFailureReason(error);
    findings.add('bundle-unreadable', 'error', 'certificate', `can't read ${certPath} (${reason})`);
    return findings.list;
  }
  const [first, ...rest] = parseEntries(text, findings);
  if (!first) {
    findings.add('no-certificate', 'error', 'certificate', `can't extract EE certificate from ${certPath}`);
    return findings.list;
  }
  const entries: [Entry, ...Entry[]] = [first, ...rest];
  const chain = orderedChain(entries) ?? { leaf: first, issuers: [], unrelated: rest };
  const [issuerFile, ocspFile] = await Promise.all([
    readIssuerFile(certPath, chain.leaf),
    readExtraFile(`${certPath}.ocsp`, OCSP_RESPONSE_MAX_BYTES),
  ]);
  const context: BundleContext = { certPath, text, entries, chain, issuerFile, ocspFile };

  lintChain(context, findings);
  await lintKey(context, findings);
  lintValidity(entries, options.now, options.warnDays ?? defaultWarnDays, findings);
  lintEeDetails(chain.leaf, options.requireOcsp ?? false, findings);
  lintIssuerFile(context, findings);
  lintOcspFile(context, options.now, findings);
  return findings.list;
}
