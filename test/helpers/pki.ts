import { X509Certificate, randomBytes } from 'node:crypto';
import { appendFile, cp, mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, type RunOptions } from '../../lib/process/run.ts';
import { startOcspResponder, type OcspResponder, type OcspResponderOptions } from './responder.ts';

/*
 * Test PKIs of two kinds: createTestPki serves a fixed PKI through running
 * responders, for the CLI to query as it would a CA's; OfflinePki makes CAs
 * and leaves to order and answers for them from files, for exact comparisons
 * with openssl and for the certificates a real HAProxy serves.
 */

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const fixturesDir = path.join(repoRoot, 'fixtures', 'pki');
const makePkiScript = path.join(repoRoot, 'scripts', 'make-pki.sh');

const dayMs = 24 * 60 * 60 * 1000;
/** make-pki.sh certifies for 30 days; regenerate well before that. */
const fixturesMaxAgeMs = 7 * dayMs;

/** CA material made by scripts/make-pki.sh, by file base name. */
const caFiles = {
  root: 'root',
  intermediate: 'int',
  ocspSigner: 'ocsp-signer',
  ocspSignerNoEku: 'ocsp-signer-noeku',
  rogueSigner: 'rogue-signer',
  otherRoot: 'other-root',
  otherIntermediate: 'other-int',
} as const;
type CaName = keyof typeof caFiles;

interface ResponderSpec {
  readonly signer: CaName;
  readonly noCerts?: boolean;
}

/**
 * Every responder answers for the intermediate's certificates, from one index.
 * noCerts leaves its delegated signer out of the responses, so only
 * `-VAfile ocsp-signer.pem` lets them verify. (An issuer-signed response
 * without certificates still verifies: openssl finds the signer among the
 * `-issuer` certificates.)
 */
const responderSpecs = {
  delegated: { signer: 'ocspSigner' },
  issuerSigned: { signer: 'intermediate' },
  noCerts: { signer: 'ocspSigner', noCerts: true },
  noEku: { signer: 'ocspSignerNoEku' },
  rogue: { signer: 'rogueSigner' },
} as const satisfies Record<string, ResponderSpec>;
type ResponderName = keyof typeof responderSpecs;

/** Days relative to now. */
interface Validity {
  readonly from: number;
  readonly to: number;
}

interface LeafSpec {
  readonly keyType: 'rsa' | 'ec';
  readonly issuer: 'intermediate' | 'otherIntermediate';
  /** The responder named in the AIA extension; null: no AIA extension at all. */
  readonly responder: ResponderName | null;
  /** How the responders' index lists it; absent: they answer "unknown". */
  readonly indexStatus: 'good' | 'revoked' | 'absent';
  readonly validity: Validity;
  readonly mustStaple: boolean;
  /**
   * The AIA's URL without its final `/`. HAProxy's own updater appends `/`
   * and the request to the URL it finds there, and openssl's responder
   * cannot read a GET path starting with `//`.
   */
  readonly bareUrl?: boolean;
}

const usualLeaf: LeafSpec = {
  keyType: 'rsa',
  issuer: 'intermediate',
  responder: 'delegated',
  indexStatus: 'good',
  validity: { from: -1, to: 30 },
  mustStaple: false,
};

/** How each leaf differs from usualLeaf. */
const leafSpecs = {
  good: {},
  goodEc: { keyType: 'ec' },
  revoked: { indexStatus: 'revoked' },
  noUrl: { responder: null },
  issuerSigned: { responder: 'issuerSigned' },
  noCerts: { responder: 'noCerts' },
  unknownToResponder: { indexStatus: 'absent' },
  noEku: { responder: 'noEku' },
  rogue: { responder: 'rogue' },
  expired: { validity: { from: -60, to: -1 } },
  notYetValid: { validity: { from: 1, to: 31 } },
  expiringSoon: { validity: { from: -1, to: 5 } },
  mustStaple: { mustStaple: true },
  otherChain: { issuer: 'otherIntermediate', indexStatus: 'absent' },
  // HAProxy's own updater trusts only the certificate's chain: the issuer signs.
  updatedByHaproxy: { responder: 'issuerSigned', bareUrl: true },
} as const satisfies Record<string, Partial<LeafSpec>>;
export type LeafName = keyof typeof leafSpecs;

export interface TestLeaf {
  readonly commonName: string;
  readonly cert: string;
  /** Shared by every leaf with the same key type. */
  readonly key: string;
  /** The certificate of its issuing CA. */
  readonly issuer: string;
  /** Leaf then issuer, no key. */
  readonly bundle: string;
  /** Leaf, issuer, then key: a crt file as HAProxy loads it. */
  readonly bundleWithKey: string;
  /** Upper case, as in the index and `openssl x509 -serial`. */
  readonly serialHex: string;
  /** From the AIA extension; undefined when the certificate has none. */
  readonly ocspUrl: string | undefined;
}

export interface TestPki {
  /** Temporary directory holding everything below; removed by close(). */
  readonly dir: string;
  /** Trusts the test root: use as SSL_CERT_DIR. */
  readonly trustDir: string;
  readonly root: string;
  readonly intermediate: string;
  readonly ocspSigner: string;
  readonly ocspSignerNoEku: string;
  readonly rogueSigner: string;
  readonly otherRoot: string;
  readonly otherIntermediate: string;
  /** The private key of each CA certificate above. */
  readonly keys: Readonly<Record<CaName, string>>;
  /** The responders' `openssl ca` index. */
  readonly index: string;
  readonly leaves: Readonly<Record<LeafName, TestLeaf>>;
  readonly responders: Readonly<Record<ResponderName, OcspResponder>>;
  /** process.env plus SSL_CERT_DIR=trustDir, for running the CLI and openssl. */
  readonly env: NodeJS.ProcessEnv;
  /** Stops the responders and removes dir. */
  close(): Promise<void>;
}

/**
 * Builds a fresh PKI in a temporary directory: CA material copied from
 * fixtures/pki (generated first if missing or old), one running OCSP
 * responder per ResponderName, and the leaf certificates pointing at them.
 */
export async function createTestPki(): Promise<TestPki> {
  await ensureCaFixtures();
  const dir = await mkdtemp(path.join(tmpdir(), 'hapos-upd-pki-'));
  let responders: Record<ResponderName, OcspResponder> | undefined;
  try {
    const caDir = path.join(dir, 'ca');
    await cp(fixturesDir, caDir, { recursive: true, verbatimSymlinks: true });
    const certOf = (name: CaName) => path.join(caDir, `${caFiles[name]}.pem`);
    const keyOf = (name: CaName) => path.join(caDir, `${caFiles[name]}.key`);

    const now = Date.now();
    const plans = (Object.keys(leafSpecs) as LeafName[]).map((name) => planLeaf(name, now));
    const index = path.join(dir, 'index.txt');
    // Complete before the responders start: they would only pick up changes late.
    await writeFile(index, plans.map((plan) => indexEntry(plan, now)).join(''));

    const startedResponders = await startResponders((spec) => ({
      index,
      ca: certOf('intermediate'),
      signerCert: certOf(spec.signer),
      signerKey: keyOf(spec.signer),
      noCerts: spec.noCerts ?? false,
    }));
    responders = startedResponders;

    const leafEntries = await Promise.all(
      plans.map(async (plan) => {
        const leaf = await issueLeaf(plan, {
          dir,
          caDir,
          issuerCert: certOf(plan.spec.issuer),
          issuerKey: keyOf(plan.spec.issuer),
          ocspUrl: aiaUrlOf(plan.spec, startedResponders),
        });
        return [plan.name, leaf] as const;
      }),
    );

    const trustDir = path.join(caDir, 'trust');
    const keys = Object.fromEntries(Object.keys(caFiles).map((name) => [name, keyOf(name as CaName)]));
    return {
      dir,
      trustDir,
      root: certOf('root'),
      intermediate: certOf('intermediate'),
      ocspSigner: certOf('ocspSigner'),
      ocspSignerNoEku: certOf('ocspSignerNoEku'),
      rogueSigner: certOf('rogueSigner'),
      otherRoot: certOf('otherRoot'),
      otherIntermediate: certOf('otherIntermediate'),
      keys: keys as Record<CaName, string>,
      index,
      leaves: Object.fromEntries(leafEntries) as Record<LeafName, TestLeaf>,
      responders: startedResponders,
      env: { ...process.env, SSL_CERT_DIR: trustDir },
      close: () => cleanUp(dir, Object.values(startedResponders)),
    };
  } catch (error) {
    await cleanUp(dir, responders ? Object.values(responders) : []);
    throw error;
  }
}

function aiaUrlOf(spec: LeafSpec, responders: Record<ResponderName, OcspResponder>): string | undefined {
  if (spec.responder === null) return undefined;
  const { url } = responders[spec.responder];
  return spec.bareUrl ? url.replace(/\/$/, '') : url;
}

/** Starts one responder per ResponderName; if any fails, stops the others. */
async function startResponders(
  optionsFor: (spec: ResponderSpec) => OcspResponderOptions,
): Promise<Record<ResponderName, OcspResponder>> {
  const names = Object.keys(responderSpecs) as ResponderName[];
  const results = await Promise.allSettled(names.map((name) => startOcspResponder(optionsFor(responderSpecs[name]))));
  const started = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const failure = results.find((result) => result.status === 'rejected');
  if (failure) {
    await Promise.all(started.map((responder) => responder.stop()));
    throw failure.reason;
  }
  return Object.fromEntries(names.map((name, i) => [name, started[i]])) as Record<ResponderName, OcspResponder>;
}

/**
 * Fetches LEAF's OCSP response from its responder (or URL) without verifying
 * it, e.g. for a fake server to serve.
 */
export async function fetchOcspResponse(pki: TestPki, leafName: LeafName, url?: string): Promise<Buffer> {
  const leaf = pki.leaves[leafName];
  const responderUrl = url ?? leaf.ocspUrl;
  if (responderUrl === undefined) throw new Error(`leaf ${leafName} has no OCSP URL`);
  const respout = path.join(pki.dir, `${leafName}-${randomBytes(4).toString('hex')}.der`);
  await openssl(
    ['ocsp', '-issuer', leaf.issuer, '-cert', leaf.cert, '-url', responderUrl, '-noverify', '-respout', respout],
    { env: pki.env },
  );
  return readFile(respout);
}

interface LeafPlan {
  readonly name: LeafName;
  readonly spec: LeafSpec;
  readonly commonName: string;
  readonly serialHex: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

function planLeaf(name: LeafName, now: number): LeafPlan {
  const spec: LeafSpec = { ...usualLeaf, ...leafSpecs[name] };
  return {
    name,
    spec,
    commonName: `${kebabCase(name)}.hapos-upd.test`,
    serialHex: randomSerialHex(8),
    notBefore: new Date(now + spec.validity.from * dayMs),
    notAfter: new Date(now + spec.validity.to * dayMs),
  };
}

/** The leaf's line in the responders' index, if it has one. */
function indexEntry(plan: LeafPlan, now: number): string {
  const expiry = asn1UtcTime(plan.notAfter);
  const subject = `/CN=${plan.commonName}`;
  switch (plan.spec.indexStatus) {
    case 'good':
      return indexLine('V', expiry, '', plan.serialHex, subject);
    case 'revoked':
      return indexLine('R', expiry, `${asn1UtcTime(new Date(now - dayMs))},keyCompromise`, plan.serialHex, subject);
    case 'absent':
      return '';
  }
}

/** One line of an `openssl ca` database, the format `openssl ocsp -index` reads. */
function indexLine(status: 'V' | 'R', expiry: string, revocation: string, serialHex: string, subject: string) {
  return `${[status, expiry, revocation, serialHex, 'unknown', subject].join('\t')}\n`;
}

/** YYMMDDHHMMSSZ, as `openssl ca` wants dates (valid until 2049). */
export function asn1UtcTime(date: Date): string {
  return date
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replace(/[-T:]/g, '')
    .slice(2);
}

/**
 * LENGTH random bytes, the first in 0x10..0x7f so that the number is positive and
 * its hex form has no leading zero: `openssl ocsp` looks serials up by the
 * upper-case hex of their value.
 */
function randomSerialHex(length: number): string {
  const bytes = randomBytes(length);
  bytes[0] = 0x10 + (bytes[0] % 0x70);
  return bytes.toString('hex').toUpperCase();
}

function kebabCase(name: string): string {
  return name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
}

interface IssueContext {
  readonly dir: string;
  readonly caDir: string;
  readonly issuerCert: string;
  readonly issuerKey: string;
  readonly ocspUrl: string | undefined;
}

/**
 * Signs the shared CSR of the leaf's key type with `openssl ca`, the only
 * OpenSSL 3.0 command that sets arbitrary validity dates. Each leaf gets a
 * database of its own so that all can be issued at once.
 */
async function issueLeaf(plan: LeafPlan, context: IssueContext): Promise<TestLeaf> {
  const scratch = path.join(context.dir, 'issuance', plan.name);
  const leafDir = path.join(context.dir, 'leaves', plan.name);
  await Promise.all([mkdir(scratch, { recursive: true }), mkdir(leafDir, { recursive: true })]);
  const config = path.join(scratch, 'ca.cnf');
  await Promise.all([
    writeFile(path.join(scratch, 'index.txt'), ''),
    writeFile(path.join(scratch, 'serial'), `${plan.serialHex}\n`),
    writeFile(config, leafCaConfig(scratch, plan, context.ocspUrl)),
  ]);
  const keyFile = `leaf-${plan.spec.keyType}`;
  const cert = path.join(leafDir, 'cert.pem');
  await openssl([
    'ca',
    '-batch',
    '-notext',
    '-config',
    config,
    '-in',
    path.join(context.caDir, `${keyFile}.csr`),
    '-subj',
    `/CN=${plan.commonName}`,
    '-cert',
    context.issuerCert,
    '-keyfile',
    context.issuerKey,
    '-startdate',
    asn1UtcTime(plan.notBefore),
    '-enddate',
    asn1UtcTime(plan.notAfter),
    '-out',
    cert,
  ]);

  const key = path.join(context.caDir, `${keyFile}.key`);
  const bundle = path.join(leafDir, 'bundle.pem');
  const bundleWithKey = path.join(leafDir, 'bundle-with-key.pem');
  await Promise.all([
    concatenate(bundle, [cert, context.issuerCert]),
    concatenate(bundleWithKey, [cert, context.issuerCert, key]),
  ]);
  return {
    commonName: plan.commonName,
    cert,
    key,
    issuer: context.issuerCert,
    bundle,
    bundleWithKey,
    serialHex: plan.serialHex,
    ocspUrl: context.ocspUrl,
  };
}

function leafCaConfig(scratch: string, plan: LeafPlan, ocspUrl: string | undefined): string {
  const keyUsage = plan.spec.keyType === 'rsa' ? 'digitalSignature, keyEncipherment' : 'digitalSignature';
  return [
    '[ca]',
    'default_ca = leaf_ca',
    '[leaf_ca]',
    `database = ${scratch}/index.txt`,
    `serial = ${scratch}/serial`,
    `new_certs_dir = ${scratch}`,
    'default_md = sha256',
    'policy = any_subject',
    'unique_subject = no',
    'email_in_dn = no',
    'x509_extensions = leaf_extensions',
    '[any_subject]',
    'commonName = supplied',
    '[leaf_extensions]',
    'basicConstraints = critical, CA:FALSE',
    `keyUsage = critical, ${keyUsage}`,
    'extendedKeyUsage = serverAuth',
    `subjectAltName = DNS:${plan.commonName}`,
    'subjectKeyIdentifier = hash',
    'authorityKeyIdentifier = keyid',
    ...(ocspUrl === undefined ? [] : [`authorityInfoAccess = OCSP;URI:${ocspUrl}`]),
    // TLS Feature status_request: the certificate demands a stapled response.
    ...(plan.spec.mustStaple ? ['1.3.6.1.5.5.7.1.24 = DER:30:03:02:01:05'] : []),
    '',
  ].join('\n');
}

async function cleanUp(dir: string, responders: readonly OcspResponder[]): Promise<void> {
  await Promise.all(responders.map((responder) => responder.stop()));
  await rm(dir, { recursive: true, force: true });
}

/**
 * Makes sure fixtures/pki holds CA material young enough. Generation goes to
 * a staging directory renamed into place, so test files started together
 * never see a half-written one: the first rename wins, the others discard
 * their copy.
 */
async function ensureCaFixtures(): Promise<void> {
  const root = await stat(path.join(fixturesDir, 'root.pem')).catch(() => undefined);
  if (root && Date.now() - root.mtimeMs < fixturesMaxAgeMs) return;
  await mkdir(path.dirname(fixturesDir), { recursive: true });
  const staging = await mkdtemp(`${fixturesDir}.staging-`);
  try {
    await runChecked('bash', [makePkiScript, staging]);
    if (root) await rm(fixturesDir, { recursive: true, force: true });
    await rename(staging, fixturesDir);
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    const lostTheRace = await stat(path.join(fixturesDir, 'root.pem')).then(
      () => true,
      () => false,
    );
    if (!lostTheRace) throw error;
  }
}

async function runChecked(program: string, args: readonly string[], options: RunOptions = {}): Promise<string> {
  const result = await run(program, args, options);
  if (result.exitCode !== 0) {
    throw new Error(`${program} ${args.join(' ')} exited ${result.exitCode}:\n${result.stderr}`);
  }
  return result.stdout;
}

interface OpensslOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Runs it under faketime as if at now + OFFSET (`-8d`, `+1h`): to sign responses in the past or future. */
  readonly clockOffset?: string;
}

/** Runs openssl and returns its stdout; throws with its stderr when it fails. */
export function openssl(args: readonly string[], { clockOffset, ...options }: OpensslOptions = {}): Promise<string> {
  return clockOffset === undefined
    ? runChecked('openssl', args, options)
    : runChecked('faketime', ['-f', clockOffset, 'openssl', ...args], options);
}

/**
 * A response for LEAF from the delegated signer as if signed at now + OFFSET
 * (faketime's syntax: `-8d`, `+1h`), valid 7 days from then: how tests get a
 * response in place that is expired, half-spent or newer than a fresh one.
 */
export async function responseSignedAt(pki: TestPki, leaf: LeafName, offset: string): Promise<Buffer> {
  const { responseDer } = await exchangeOffline({
    dir: pki.dir,
    issuer: pki.intermediate,
    certs: [pki.leaves[leaf].cert],
    index: pki.index,
    signerCert: pki.ocspSigner,
    signerKey: pki.keys.ocspSigner,
    requestArgs: ['-no_nonce'],
    clockOffset: offset,
  });
  return responseDer;
}

async function concatenate(target: string, parts: readonly string[]): Promise<void> {
  await writeFile(target, Buffer.concat(await Promise.all(parts.map((part) => readFile(part)))));
}

export interface ExchangeOptions {
  /** Given to the requesting `openssl ocsp` before `-issuer` and `-cert` (so `-sha256` applies to the CertIDs). */
  readonly requestArgs?: readonly string[];
  /** Given to the responding `openssl ocsp`; the default gives the response a 7-day Next Update. */
  readonly responderArgs?: readonly string[];
  /** faketime's offset from now (`-8d`) for the response to be signed at: expired, half-spent or newer ones. */
  readonly clockOffset?: string;
}

interface Exchange {
  readonly requestPath: string;
  readonly responsePath: string;
  readonly responseDer: Buffer;
}

interface OfflineExchange extends ExchangeOptions {
  /** Where the request and the response are written, in a directory of their own. */
  readonly dir: string;
  readonly issuer: string;
  readonly certs: readonly string[];
  readonly index: string;
  readonly signerCert: string;
  readonly signerKey: string;
}

/** Writes a request for CERTS and answers it with `openssl ocsp` reading INDEX, no server involved. */
async function exchangeOffline(exchange: OfflineExchange): Promise<Exchange> {
  const scratch = await mkdtemp(path.join(exchange.dir, 'exchange-'));
  const requestPath = path.join(scratch, 'request.der');
  const responsePath = path.join(scratch, 'response.der');
  await openssl([
    'ocsp', ...(exchange.requestArgs ?? []), '-issuer', exchange.issuer,
    ...exchange.certs.flatMap((cert) => ['-cert', cert]), '-reqout', requestPath,
  ]); // prettier-ignore
  await openssl([
    'ocsp', '-index', exchange.index, '-CA', exchange.issuer,
    '-rsigner', exchange.signerCert, '-rkey', exchange.signerKey, '-reqin', requestPath, '-respout', responsePath,
    ...(exchange.responderArgs ?? ['-ndays', '7']),
  ], { clockOffset: exchange.clockOffset }); // prettier-ignore
  return { requestPath, responsePath, responseDer: await readFile(responsePath) };
}

/** `openssl req -newkey` arguments by key type. */
export const keyTypes = {
  ec: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'],
  rsa: ['-newkey', 'rsa:2048'],
} as const;

interface ExtensionSection {
  readonly file: string;
  readonly section: string;
}

/** What `openssl req -x509` is told of a certificate besides its key. */
interface CertificateSpec {
  readonly subject: string;
  /** The CA that signs it, by name; absent: self-signed. */
  readonly issuer?: string;
  /** 2 when absent. */
  readonly days?: number;
  /** Given to `-set_serial` (`0x1001`); random when absent. */
  readonly serial?: string;
  /** Given to `-addext`: `basicConstraints=CA:FALSE`. */
  readonly extensions?: readonly string[];
}

interface LeafCertificate extends Omit<CertificateSpec, 'issuer'> {
  /** The key file's base name, as given to createKey(). */
  readonly key: string;
}

interface IndexEntry {
  /** Uppercase hex, as openssl writes it. */
  readonly serial: string;
  /** `YYMMDDHHMMSSZ[,reason]` when revoked. */
  readonly revoked?: string;
}

/** What `openssl ocsp` needs of an index entry's expiry is a date, any date. */
const offlineIndexExpiry = '491231235959Z';

/** Key identifiers first, where `openssl req -x509` puts them: `x509 -req` would add them last. */
const serverExtensions = (serverName: string) =>
  [
    '[server]',
    'subjectKeyIdentifier = hash',
    'authorityKeyIdentifier = keyid:always,issuer',
    'basicConstraints = CA:FALSE',
    `subjectAltName = DNS:${serverName}`,
    '',
  ].join('\n');

/** Issued with a key of its own; `NAME.test` is its subject CN and DNS name: the SNI that selects it. */
export interface ServerCertificate {
  readonly serverName: string;
  /** Upper-case hex, as OpenSSL and HAProxy print it. */
  readonly serialHex: string;
  /** The CA that issued it, by name. */
  readonly ca: string;
  readonly certPath: string;
  /** What HAProxy's `crt` loads: certificate, key and, unless left out, the CA. */
  readonly bundlePath: string;
}

/**
 * CAs and leaves made to order in a temporary directory, and OCSP exchanges
 * with `openssl ocsp` as the responder reading files: files are named after
 * the CA (`ec.pem`, `ec.key`, `ec.index`) and leaves (`ec-good.pem`). Each CA
 * signs the responses for its leaves itself.
 */
export class OfflinePki {
  private constructor(readonly dir: string) {}

  /** In a new directory named PREFIX and random characters, under PARENT. */
  static async create(prefix: string, parent = tmpdir()): Promise<OfflinePki> {
    return new OfflinePki(await mkdtemp(path.join(parent, prefix)));
  }

  path(name: string): string {
    return path.join(this.dir, name);
  }

  async certificate(name: string): Promise<X509Certificate> {
    return new X509Certificate(await readFile(this.path(`${name}.pem`)));
  }

  /**
   * A CA `ca` with an empty index, plus the CSR (`ca-leaf.csr`, CN=leaf.test)
   * that issue() signs for its leaves. EXTENSIONS are given to `-addext`,
   * over openssl's default CA extensions. It is self-signed unless `issuer`
   * names the CA to sign it; giving two CAs one subject makes the second a
   * re-keyed CA of the same name, as after a rotation.
   */
  async createCa(
    ca: string,
    keyArgs: readonly string[],
    subject: string,
    extensions: readonly string[] = [],
    { issuer, days }: { readonly issuer?: string; readonly days?: number } = {},
  ): Promise<void> {
    await Promise.all([
      this.certify(ca, [...keyArgs, '-noenc', '-keyout', `${ca}.key`], { subject, issuer, days, extensions }),
      this.newRequest(keyArgs, `${ca}-leaf`, '/CN=leaf.test'),
      this.writeIndex(ca, []),
    ]);
  }

  /** A private key NAME.key for issueLeaf() to certify, shared by as many leaves as name it. */
  async createKey(name: string, keyArgs: readonly string[]): Promise<void> {
    // `openssl req` makes keys of the same types as createCa() does, but writes a CSR too: NAME.csr, unused.
    await this.newRequest(keyArgs, name, `/CN=${name}`);
  }

  /**
   * Issues LEAF (`LEAF.pem`) for the key made by createKey(spec.key), signed
   * by CA with `openssl req -x509`: unlike issue(), whose leaves share the
   * CA's CSR, subject, key, validity and extensions are the caller's, and
   * openssl adds none but the key identifiers.
   */
  async issueLeaf(ca: string, leaf: string, spec: LeafCertificate): Promise<void> {
    await this.certify(leaf, ['-new', '-key', `${spec.key}.key`], { ...spec, issuer: ca });
  }

  /**
   * Signs CA's shared leaf CSR as LEAF. `serial` is given to `-set_serial`
   * (`0x1001`); `extensions` names a section of an `-extfile`, without which
   * the certificate is a version 1 one, with no extensions at all.
   */
  async issue(ca: string, leaf: string, serial: string, extensions?: ExtensionSection): Promise<void> {
    await this.sign(ca, `${ca}-leaf.csr`, `${leaf}.pem`, serial, extensions);
  }

  /**
   * Issues NAME.crt with a key of its own, lists it as good in CA's index and
   * writes its bundle to `bundleFileName` (NAME.pem by default).
   */
  async issueServer(
    ca: string,
    name: string,
    options: { readonly issuerInBundle?: boolean; readonly bundleFileName?: string } = {},
  ): Promise<ServerCertificate> {
    const serverName = `${name}.test`;
    const serialHex = randomSerialHex(16);
    const extensions = `${name}.ext`;
    await Promise.all([
      this.newRequest(keyTypes.ec, name, `/CN=${serverName}`),
      writeFile(this.path(extensions), serverExtensions(serverName)),
    ]);
    await this.sign(ca, `${name}.csr`, `${name}.crt`, `0x${serialHex}`, { file: extensions, section: 'server' });
    await appendFile(this.path(`${ca}.index`), indexLine('V', offlineIndexExpiry, '', serialHex, `/CN=${serverName}`));
    const bundlePath = this.path(options.bundleFileName ?? `${name}.pem`);
    const certPath = this.path(`${name}.crt`);
    const issuer = options.issuerInBundle === false ? [] : [this.path(`${ca}.pem`)];
    await concatenate(bundlePath, [certPath, this.path(`${name}.key`), ...issuer]);
    return { serverName, serialHex, ca, certPath, bundlePath };
  }

  /**
   * The `openssl ca` database the responder answers from; serials not listed get status unknown.
   * Each entry gets its own subject: openssl refuses an index where two valid entries share one.
   */
  async writeIndex(ca: string, entries: readonly IndexEntry[]): Promise<void> {
    const line = ({ serial, revoked }: IndexEntry) =>
      indexLine(revoked ? 'R' : 'V', offlineIndexExpiry, revoked ?? '', serial, `/CN=leaf ${serial}`);
    await writeFile(this.path(`${ca}.index`), entries.map(line).join(''));
  }

  /** Builds a request for `leaves` (issued by `ca`) and answers it with openssl's responder signing as `ca`. */
  async exchange(ca: string, leaves: readonly string[], options: ExchangeOptions = {}): Promise<Exchange> {
    const certs = leaves.map((leaf) => this.path(`${leaf}.pem`));
    return this.exchangeFor(ca, certs, options);
  }

  /**
   * A `good` DER response for the server certificate, without a nonce.
   * `paddedTo` makes it at least that many bytes by adding copies of the CA
   * certificate to it (still a valid response).
   */
  async ocspResponse(certificate: ServerCertificate, options: { readonly paddedTo?: number } = {}): Promise<Buffer> {
    const caPem = await readFile(this.path(`${certificate.ca}.pem`), 'utf8');
    const respond = async (extraCertificates: number) => {
      const rother = extraCertificates > 0 ? path.join(await mkdtemp(this.path('extras-')), 'ca.pem') : undefined;
      if (rother) await writeFile(rother, caPem.repeat(extraCertificates));
      const { responseDer } = await this.exchangeFor(certificate.ca, [certificate.certPath], {
        requestArgs: ['-no_nonce'],
        responderArgs: ['-ndays', '7', ...(rother ? ['-rother', rother] : [])],
      });
      return responseDer;
    };
    const plain = await respond(0);
    if (options.paddedTo === undefined || plain.length >= options.paddedTo) return plain;
    const caDerBytes = Buffer.from(caPem.replace(/-----[^-]+-----|\s/g, ''), 'base64').length;
    return respond(Math.ceil((options.paddedTo - plain.length) / caDerBytes));
  }

  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }

  private opensslInDir(args: readonly string[]): Promise<string> {
    return openssl(args, { cwd: this.dir });
  }

  /** NAME.pem by `openssl req -x509`, whose KEYARGS choose or make its key. */
  private async certify(name: string, keyArgs: readonly string[], spec: CertificateSpec): Promise<void> {
    const { subject, issuer, days = 2, serial, extensions = [] } = spec;
    await this.opensslInDir([
      'req', '-x509', ...keyArgs, '-out', `${name}.pem`, '-subj', subject, '-days', String(days),
      ...(issuer === undefined ? [] : ['-CA', `${issuer}.pem`, '-CAkey', `${issuer}.key`]),
      ...(serial === undefined ? [] : ['-set_serial', serial]),
      ...extensions.flatMap((extension) => ['-addext', extension]),
    ]); // prettier-ignore
  }

  /** A new key NAME.key and a CSR NAME.csr for it. */
  private async newRequest(keyArgs: readonly string[], name: string, subject: string): Promise<void> {
    await this.opensslInDir([
      'req', ...keyArgs, '-noenc', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject,
    ]); // prettier-ignore
  }

  private async sign(
    ca: string,
    csr: string,
    out: string,
    serial: string,
    extensions?: ExtensionSection,
  ): Promise<void> {
    await this.opensslInDir([
      'x509', '-req', '-in', csr, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`,
      '-set_serial', serial, '-days', '2', '-out', out,
      ...(extensions ? ['-extfile', extensions.file, '-extensions', extensions.section] : []),
    ]); // prettier-ignore
  }

  private exchangeFor(ca: string, certs: readonly string[], options: ExchangeOptions): Promise<Exchange> {
    return exchangeOffline({
      dir: this.dir,
      issuer: this.path(`${ca}.pem`),
      certs,
      index: this.path(`${ca}.index`),
      signerCert: this.path(`${ca}.pem`),
      signerKey: this.path(`${ca}.key`),
      ...options,
    });
  }
}
