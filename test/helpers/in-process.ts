/**
 * What the in-process tests of the update, the batch and `--check` run
 * with: real certificates and real OCSP responses (made offline by openssl
 * in `before`), and fakes for exactly what the flow's context lets a caller
 * replace: the openssl process, the clock, the retry delay, the throttle,
 * the HAProxy notifier and the log. No fake opens a socket.
 */
import { X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { CheckArgs, FetchArgs, OpensslRunner, RequestArgs, VerifyArgs } from '../../lib/openssl/openssl.ts';
import { formatOpensslDate, type OpensslVersion } from '../../lib/openssl/output.ts';
import type { CommandResult } from '../../lib/process/run.ts';
import type { HaproxyNotifier, HaproxyTargetReport, HaproxyUpdate } from '../../lib/haproxy/notifier.ts';
import type { Log } from '../../lib/util/log.ts';
import type { UpdateOptions } from '../../lib/update/context.ts';
import { parseOcspResponse } from '../../lib/pki/ocsp-response.ts';
import { keyTypes, OfflinePki } from './pki.ts';

export const OCSP_URL = 'http://ocsp.hapos-upd.test/status';
export const OCSP_HOST = 'ocsp.hapos-upd.test';

const leafSpecs = {
  good: { serial: '1001', extensions: 'aia' },
  revoked: { serial: '80AB', extensions: 'aia' },
  other: { serial: '3003', extensions: 'aia' },
  mustStaple: { serial: '4004', extensions: 'must_staple' },
  noUrl: { serial: '2002', extensions: 'no_aia' },
} as const;
export type LeafName = keyof typeof leafSpecs;

const EXTENSIONS = [
  '[aia]',
  'basicConstraints = critical, CA:FALSE',
  `authorityInfoAccess = OCSP;URI:${OCSP_URL}`,
  '[must_staple]',
  'basicConstraints = critical, CA:FALSE',
  `authorityInfoAccess = OCSP;URI:${OCSP_URL}`,
  // TLS Feature status_request.
  '1.3.6.1.5.5.7.1.24 = DER:30:03:02:01:05',
  '[no_aia]',
  'basicConstraints = critical, CA:FALSE',
  '',
].join('\n');

export interface Leaf {
  readonly pem: string;
  readonly x509: X509Certificate;
  /** Upper-case hex, as the OCSP messages print it. */
  readonly serial: string;
}

/** Responses signed by the CA itself; `signedAt` is faketime's offset from now. */
const responseSpecs = {
  good: { leaf: 'good' },
  goodDayOld: { leaf: 'good', signedAt: '-1d' },
  goodHalfSpent: { leaf: 'good', signedAt: '-4d' },
  goodExpired: { leaf: 'good', signedAt: '-8d' },
  revoked: { leaf: 'revoked' },
  other: { leaf: 'other' },
  mustStaple: { leaf: 'mustStaple' },
} as const satisfies Record<string, { leaf: LeafName; signedAt?: string }>;
export type ResponseName = keyof typeof responseSpecs | 'tryLater';

export interface NonceExchange {
  readonly request: Buffer;
  readonly response: Buffer;
}

export interface Fixtures {
  /** The CA that issued every leaf and signs every response. */
  readonly caPem: string;
  readonly caX509: X509Certificate;
  /** The private key every leaf shares. */
  readonly leafKeyPem: string;
  readonly leaves: Readonly<Record<LeafName, Leaf>>;
  /** DER, as a responder sends it. */
  readonly responses: Readonly<Record<ResponseName, Buffer>>;
  /** Two requests about `good`, each with a nonce of its own, as openssl writes them, and the CA's answers, which echo them. */
  readonly withNonce: readonly [NonceExchange, NonceExchange];
  /** A request about `good` without a nonce. */
  readonly requestWithoutNonce: Buffer;
  /** Makes a directory for one test under the fixtures' own. */
  tempDir(prefix: string): Promise<string>;
  remove(): Promise<void>;
}

/** A P-256 CA, its leaves and their responses, made offline; a few hundred milliseconds. */
export async function createFixtures(): Promise<Fixtures> {
  const pki = await OfflinePki.create('hapos-inprocess-');
  try {
    await pki.createCa('ca', keyTypes.ec, '/O=hapos-upd tests/CN=In-process CA');
    const extensions = pki.path('leaf.ext');
    await writeFile(extensions, EXTENSIONS);
    const names = Object.keys(leafSpecs) as LeafName[];
    await Promise.all([
      ...names.map((name) =>
        pki.issue('ca', name, `0x${leafSpecs[name].serial}`, { file: extensions, section: leafSpecs[name].extensions }),
      ),
      pki.writeIndex('ca', [
        { serial: leafSpecs.good.serial },
        { serial: leafSpecs.other.serial },
        { serial: leafSpecs.mustStaple.serial },
        { serial: leafSpecs.revoked.serial, revoked: '260101000000Z,keyCompromise' },
      ]),
    ]);
    const leafEntries = await Promise.all(
      names.map(async (name) => {
        const pem = await readFile(pki.path(`${name}.pem`), 'latin1');
        return [name, { pem, x509: new X509Certificate(pem), serial: leafSpecs[name].serial }] as const;
      }),
    );
    const responseEntries = await Promise.all(
      Object.entries(responseSpecs).map(async ([name, spec]) => {
        const signedAt = 'signedAt' in spec ? spec.signedAt : undefined;
        return [name, await respond(pki, spec.leaf, signedAt)] as const;
      }),
    );
    const nonceExchange = async (): Promise<NonceExchange> => {
      const { requestPath, responseDer } = await pki.exchange('ca', ['good']);
      return { request: await readFile(requestPath), response: responseDer };
    };
    const withNonce = await Promise.all([nonceExchange(), nonceExchange()]);
    const withoutNonce = await pki.exchange('ca', ['good'], { requestArgs: ['-no_nonce'] });
    const tryLater = readFileSync(new URL('../../fixtures/ocsp/try-later.der', import.meta.url));
    const caPem = await readFile(pki.path('ca.pem'), 'latin1');
    return {
      caPem,
      caX509: new X509Certificate(caPem),
      leafKeyPem: await readFile(pki.path('ca-leaf.key'), 'latin1'),
      leaves: Object.fromEntries(leafEntries) as Record<LeafName, Leaf>,
      responses: { ...(Object.fromEntries(responseEntries) as Record<keyof typeof responseSpecs, Buffer>), tryLater },
      withNonce,
      requestWithoutNonce: await readFile(withoutNonce.requestPath),
      tempDir: (prefix) => mkdtemp(path.join(pki.dir, prefix)),
      remove: () => pki.remove(),
    };
  } catch (error) {
    await pki.remove();
    throw error;
  }
}

/**
 * The CA's answer about LEAF, as if signed at now + `signedAt` (faketime's
 * offset), without a nonce as HAProxy staples none.
 */
async function respond(pki: OfflinePki, leaf: LeafName, signedAt: string | undefined): Promise<Buffer> {
  const { responseDer } = await pki.exchange('ca', [leaf], { requestArgs: ['-no_nonce'], clockOffset: signedAt });
  return responseDer;
}

/** The single response's This Update: what a test's clock is set from. */
export function thisUpdateOf(der: Buffer): Date {
  const response = parseOcspResponse(der);
  if (response.responseStatus !== 'successful' || response.responses[0] === undefined) {
    throw new Error(`no single response in a ${response.responseStatus} response`);
  }
  return response.responses[0].thisUpdate;
}

/** What `openssl ocsp` prints on stdout for a response it read: the certificate's status line and dates. */
export function statusOutput(cert: string, der: Buffer): string {
  const response = parseOcspResponse(der);
  if (response.responseStatus !== 'successful') return `Responder Error: ${response.responseStatus}\n`;
  const lines = response.responses.flatMap((single) => [
    `${cert}: ${single.certStatus}`,
    `\tThis Update: ${formatOpensslDate(single.thisUpdate)}`,
    ...(single.nextUpdate ? [`\tNext Update: ${formatOpensslDate(single.nextUpdate)}`] : []),
    ...(single.revocationReason ? [`\tReason: ${single.revocationReason}`] : []),
    ...(single.revocationTime ? [`\tRevocation Time: ${formatOpensslDate(single.revocationTime)}`] : []),
  ]);
  return `${lines.join('\n')}\n`;
}

/** Output openssl really printed, from fixtures/openssl-output. */
export const captured = (name: string): string =>
  readFileSync(new URL(`../../fixtures/openssl-output/${name}`, import.meta.url), 'utf8');

export const VERIFY_OK = 'Response verify OK\n';

/**
 * How the fake answers one `openssl ocsp -url` run: the request it writes to
 * `-reqout` when asked to, what it saves to `-respout`, and how the process ended.
 */
interface FetchOutcome {
  readonly request?: Buffer;
  readonly save?: Buffer;
  readonly result: CommandResult;
}
export type FetchReply = (args: FetchArgs) => FetchOutcome | Promise<FetchOutcome>;

/** The responder answered with DER and openssl judged it: exit 0, its status on stdout, the verdict on stderr. */
export const answers =
  (der: Buffer, verdict = VERIFY_OK, exitCode = 0): FetchReply =>
  (args) => ({ save: der, result: { exitCode, stdout: statusOutput(args.cert, der), stderr: verdict } });

/** With --nonce: openssl writes REQUEST, the one it sends, then the exchange ends as REPLY says. */
export const sends =
  (request: Buffer, reply: FetchReply): FetchReply =>
  async (args) => ({ request, ...(await reply(args)) });

/** No response at all: openssl's error queue on stderr, nothing saved. */
export const failsWith =
  (stderr: string): FetchReply =>
  () => ({ result: { exitCode: 1, stdout: '', stderr } });

/** `tryLater`: openssl saves the answer, prints the responder's error and exits 1. */
export const answersTryLater =
  (der: Buffer): FetchReply =>
  () => ({ save: der, result: { exitCode: 1, stdout: 'Responder Error: trylater (3)\n', stderr: '' } });

export type OpensslCall =
  | { readonly method: 'verify'; readonly args: VerifyArgs; readonly files: Record<string, string> }
  | { readonly method: 'verifyWith'; readonly args: readonly string[]; readonly files: Record<string, string> }
  | { readonly method: 'fetchResponse'; readonly args: FetchArgs; readonly files: Record<string, string> }
  | { readonly method: 'checkResponse'; readonly args: CheckArgs; readonly files: Record<string, string> };

export interface OpensslScript {
  /** One reply per `openssl ocsp -url` run, in order (a run past them fails the test), or one for every run. */
  readonly fetch?: readonly FetchReply[] | FetchReply;
  /** `openssl verify` of the EE (default: OK). */
  readonly verify?: (args: VerifyArgs) => CommandResult;
  /** `openssl verify` with explicit arguments, as `--check` runs it. */
  readonly verifyWith?: (args: readonly string[]) => CommandResult;
}

/** Whether an argument names a file the fake should read (the inputs openssl would open). */
const isInputFile = (arg: string) => path.isAbsolute(arg) && arg.endsWith('.pem');

/**
 * Stands in for the openssl binary: canned CommandResults, the response
 * written where `-respout` says, and a record of every call with the
 * contents its input files had at that moment.
 */
export class FakeOpenssl implements OpensslRunner {
  readonly version: OpensslVersion = { major: 3, minor: 0, patch: 19, text: 'OpenSSL 3.0.19 (fake)' };
  readonly supportsProxy = true;
  readonly needsExplicitHost = false;
  readonly calls: OpensslCall[] = [];
  private readonly fetchReplies: FetchReply[];

  constructor(private readonly script: OpensslScript = {}) {
    this.fetchReplies = typeof script.fetch === 'function' ? [] : [...(script.fetch ?? [])];
  }

  /** How many times each method ran, in call order. */
  get methods(): string[] {
    return this.calls.map((call) => call.method);
  }

  callsOf<M extends OpensslCall['method']>(method: M): Extract<OpensslCall, { method: M }>[] {
    return this.calls.filter((call): call is Extract<OpensslCall, { method: M }> => call.method === method);
  }

  async verify(args: VerifyArgs): Promise<CommandResult> {
    this.calls.push({ method: 'verify', args, files: contents({ caFile: args.caFile, cert: args.cert }) });
    return this.script.verify?.(args) ?? { exitCode: 0, stdout: `${args.cert}: OK\n`, stderr: '' };
  }

  async verifyWith(args: readonly string[]): Promise<CommandResult> {
    this.calls.push({
      method: 'verifyWith',
      args,
      files: contents(Object.fromEntries(args.filter(isInputFile).map((file) => [path.basename(file), file]))),
    });
    if (this.script.verifyWith === undefined) throw new Error('unexpected openssl verify (verifyWith)');
    return this.script.verifyWith(args);
  }

  async fetchResponse(args: FetchArgs): Promise<CommandResult> {
    this.calls.push({ method: 'fetchResponse', args, files: contents({ issuer: args.issuer, cert: args.cert }) });
    const reply = typeof this.script.fetch === 'function' ? this.script.fetch : this.fetchReplies.shift();
    if (reply === undefined)
      throw new Error(`unexpected openssl ocsp -url run n. ${this.callsOf('fetchResponse').length}`);
    const { request, save, result } = await reply(args);
    if (request !== undefined && args.requestOut !== undefined) writeFileSync(args.requestOut, request);
    if (save !== undefined) writeFileSync(args.responseOut, save);
    return result;
  }

  writeRequest(_args: RequestArgs & { requestOut: string }): Promise<CommandResult> {
    throw new Error('unexpected openssl ocsp -reqout: the in-process tests never use curl');
  }

  async checkResponse(args: CheckArgs): Promise<CommandResult> {
    this.calls.push({ method: 'checkResponse', args, files: contents({ issuer: args.issuer, cert: args.cert }) });
    throw new Error('unexpected openssl ocsp -respin: only curl needs a separate check');
  }
}

function contents(files: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(files).map(([name, file]) => [name, readFileSync(file, 'latin1')]));
}

/** Every line the flow logged, in order, each prefixed with its level. */
export class RecordingLog implements Log {
  readonly lines: string[] = [];

  debug(message: string): void {
    this.lines.push(`debug: ${message}`);
  }

  async error(message: string): Promise<void> {
    this.lines.push(`error: ${message}`);
  }

  get debugs(): string[] {
    return this.linesAt('debug');
  }

  get errors(): string[] {
    return this.linesAt('error');
  }

  private linesAt(level: string): string[] {
    const prefix = `${level}: `;
    return this.lines.filter((line) => line.startsWith(prefix)).map((line) => line.slice(prefix.length));
  }
}

/** What RecordingNotifier says HAProxy did with each update. */
export const recordedPush: readonly HaproxyTargetReport[] = [
  { socket: 'recorded.sock', action: 'pushed', updatesItself: false },
];

/**
 * Records every update HAProxy would get; fails each with `failure` when
 * given, and otherwise answers what `reportsOf` says HAProxy did (recordedPush).
 */
export class RecordingNotifier implements HaproxyNotifier {
  readonly updates: HaproxyUpdate[] = [];

  constructor(
    private readonly failure?: Error,
    private readonly reportsOf: (update: HaproxyUpdate) => readonly HaproxyTargetReport[] = () => recordedPush,
  ) {}

  async notify(update: HaproxyUpdate): Promise<readonly HaproxyTargetReport[]> {
    this.updates.push(update);
    if (this.failure !== undefined) throw this.failure;
    return this.reportsOf(update);
  }
}

/** Lets every request through at once, noting the responder host each was for. */
export class RecordingThrottle {
  readonly hosts: string[] = [];

  readonly run = <R>(host: string, request: () => Promise<R>): Promise<R> => {
    this.hosts.push(host);
    return request();
  };
}

/** The retry delay: notes which attempt asked, and answers with `delayMs` (a few milliseconds by default). */
export class FakeDelays {
  readonly attempts: number[] = [];

  constructor(private readonly delayOf: (attempt: number) => number = () => 1) {}

  readonly delayMs = (attempt: number): number => {
    this.attempts.push(attempt);
    return this.delayOf(attempt);
  };
}

/** A clock that stands still where the test puts it. */
export class FakeClock {
  constructor(private readonly at: Date) {}

  readonly now = (): Date => new Date(this.at.getTime());
}

/** Every file of a directory with its bytes: what a run may not have changed. */
export function snapshotOf(dir: string): Record<string, Buffer> {
  return Object.fromEntries(
    readdirSync(dir)
      .sort()
      .map((name) => [name, readFileSync(path.join(dir, name))]),
  );
}

/** The options of a plain run, no retries: each test names only what it changes. */
export const defaultUpdateOptions: Omit<UpdateOptions, 'cert'> = {
  dryRun: false,
  goodOnly: false,
  partialChain: false,
  verify: true,
  skipUpdate: false,
  timeoutSeconds: 15,
  retries: 0,
  lockTimeoutSeconds: 1,
  deadlineSeconds: 60,
  skipFresh: false,
  nonce: false,
  get: false,
};
