import { realpath, stat } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { ExitCode, HaposError, programError } from '../errors.ts';
import { escapeControls, printableLine } from '../util/printable.ts';

/** Where HAProxy's runtime API listens: a UNIX socket or a TCP `stats socket`. */
export type SocketAddress =
  | { readonly kind: 'unix'; readonly path: string }
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number; readonly family: 4 | 6 };

const supportedAddresses = 'a UNIX socket path, unix@PATH, ipv4@HOST:PORT, ipv6@HOST:PORT, IPv4:PORT or [IPv6]:PORT';

/**
 * Reads a socket address the way HAProxy's `stats socket` lines spell them.
 * Only IP literals make an unprefixed `HOST:PORT` a TCP address: anything
 * else is a path, resolved against `cwd`.
 */
export function parseSocketAddress(spec: string, cwd: string = process.cwd()): SocketAddress {
  if (spec.trim() === '') throw programError('empty HAProxy socket address');
  const prefixed = /^([a-z0-9]+)@(.*)$/i.exec(spec);
  if (prefixed) {
    const [, scheme = '', rest = ''] = prefixed;
    switch (scheme.toLowerCase()) {
      case 'unix':
        if (rest === '') break;
        return { kind: 'unix', path: path.resolve(cwd, rest) };
      case 'ipv4':
        return parseHostPort(rest, 4, spec);
      case 'ipv6':
        return parseHostPort(rest, 6, spec);
    }
    throw programError(`unsupported HAProxy socket address: ${spec} (use ${supportedAddresses})`);
  }
  const bracketed = /^\[([^\]]+)\]:(\d+)$/.exec(spec);
  if (bracketed && net.isIPv6(bracketed[1] ?? '')) return parseHostPort(spec, 6, spec);
  const dotted = /^([\d.]+):(\d+)$/.exec(spec);
  if (dotted && net.isIPv4(dotted[1] ?? '')) return parseHostPort(spec, 4, spec);
  return { kind: 'unix', path: path.resolve(cwd, spec) };
}

function parseHostPort(hostPort: string, family: 4 | 6, spec: string): SocketAddress {
  const bracketed = /^\[([^\]]+)\]:([^:]*)$/.exec(hostPort);
  const separator = hostPort.lastIndexOf(':');
  const host = bracketed ? bracketed[1] : hostPort.slice(0, Math.max(separator, 0));
  const portText = bracketed ? bracketed[2] : separator < 0 ? '' : hostPort.slice(separator + 1);
  const port = Number(portText);
  const wrongFamily = family === 4 ? net.isIPv6(host ?? '') : net.isIPv4(host ?? '');
  if (!host || wrongFamily || !/^\d+$/.test(portText ?? '') || port < 1 || port > 65535) {
    throw programError(`invalid HAProxy socket address: ${spec} (use ${supportedAddresses})`);
  }
  return { kind: 'tcp', host, port, family };
}

/** The address as messages show it: the path, `HOST:PORT` or `[IPv6]:PORT`. */
export function formatSocketAddress(address: SocketAddress): string {
  if (address.kind === 'unix') return address.path;
  return net.isIPv6(address.host) ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

export type SocketFailure =
  | 'missing'
  | 'permission-denied'
  | 'not-a-socket'
  | 'not-listening'
  | 'refused'
  | 'busy'
  | 'unreachable'
  | 'timeout'
  | 'reset'
  | 'reply-too-large'
  | 'deadline'
  | 'failed';

/** HAProxy could not be reached, or hung up without answering. */
export class HaproxySocketError extends HaposError {
  constructor(
    readonly failure: SocketFailure,
    readonly address: SocketAddress,
    message: string,
  ) {
    super(ExitCode.haproxy, message);
    this.name = 'HaproxySocketError';
  }
}

/** HAProxy answered, but not what the command needs to have succeeded. */
export class HaproxyReplyError extends HaposError {
  constructor(
    /** The command without its payload, e.g. `set ssl ocsp-response`. */
    readonly command: string,
    readonly reply: string,
    message: string,
  ) {
    super(ExitCode.haproxy, message);
    this.name = 'HaproxyReplyError';
  }
}

/** `set ssl ocsp-response` was refused. */
export class OcspResponseRejectedError extends HaproxyReplyError {
  /**
   * HAProxy holds no certificate this response is for. HAProxy 2.6 also says
   * so for a certificate that had no `.ocsp` file when it started:
   * `stapleThroughTransaction` staples those.
   */
  readonly certificateIdMismatch: boolean;

  constructor(reply: string, message: string) {
    super('set ssl ocsp-response', reply, message);
    this.name = 'OcspResponseRejectedError';
    this.certificateIdMismatch = reply.includes(certificateIdMismatchReply);
  }
}

export interface CommandOptions {
  /** From connection to HAProxy closing it after its reply; 10 s by default. */
  readonly timeoutMs?: number;
  /** 5 s by default. */
  readonly connectTimeoutMs?: number;
  /** Through a master CLI: the worker that runs the command (sent as `@!PID command`). */
  readonly workerPid?: number;
  /** The certificate's deadline: aborting closes the connection (or stops socat) and fails the command. */
  readonly signal?: AbortSignal;
  /** Sends the command another way than a native connection (`--socat`). */
  readonly transport?: (address: SocketAddress, command: string, options: CommandOptions) => Promise<string>;
}

const defaultTimeoutMs = 10_000;
const defaultConnectTimeoutMs = 5_000;

/**
 * The most a reply may hold; past it the connection is closed. The longest
 * genuine replies are the lists: `show ssl ocsp-response` takes about 380
 * bytes per stapled certificate (a 180-byte hex CertID line and its decoded
 * fields), `show ssl cert` one path per certificate, so an HAProxy stapling
 * 100,000 certificates answers about 38 MB. 64 MiB leaves room for some
 * 170,000, and keeps what any reply costs to a few times that in memory (the
 * bytes, then their text).
 */
export const MAX_REPLY_BYTES = 64 * 1024 * 1024;
const maxReplyText = '64 MiB';

/** How much of a reply a message quotes: a genuine one whole, paths included; never a flood. */
const QUOTED_REPLY_CHARACTERS = 1000;

/*
 * HAProxy reads a whole command, payload included, into one buffer of
 * tune.bufsize bytes (16384 by default). Measured on 2.6.12: beyond that the
 * connection is closed or reset without a reply; single-line commands from
 * about 15,340 bytes on sometimes hang the CLI session (it then holds one of
 * the socket's 10 connection slots until `stats timeout`), while the payload
 * form is answered up to the full buffer. A master CLI forwards about 15 KiB
 * at most, whatever tune.bufsize: longer commands reach the worker cut short.
 */
const singleLineLimitBytes = 14 * 1024;
const defaultBufsize = 16_384;

/**
 * Sends one command and returns HAProxy's whole reply. HAProxy's
 * non-interactive mode answers one command per connection; a master CLI only
 * closes once the client has closed its side, hence the half-close after
 * writing.
 */
export async function sendCommand(
  address: SocketAddress,
  command: string,
  options: CommandOptions = {},
): Promise<string> {
  if (options.transport !== undefined) return options.transport(address, command, options);
  if (options.signal?.aborted) throw deadlinePassed(address, command);
  const routed = options.workerPid === undefined ? command : `@!${options.workerPid} ${command}`;
  const request = routed.endsWith('\n') ? routed : `${routed}\n`;
  try {
    return await exchange(address, request, {
      connectTimeoutMs: options.connectTimeoutMs ?? defaultConnectTimeoutMs,
      replyTimeoutMs: options.timeoutMs ?? defaultTimeoutMs,
      signal: options.signal,
    });
  } catch (error) {
    throw await explainSocketFailure(address, error, command, Buffer.byteLength(request));
  }
}

type ExchangeStop =
  | { readonly kind: 'timeout'; readonly phase: 'connect' | 'reply'; readonly afterMs: number }
  | { readonly kind: 'reply-too-large' }
  | { readonly kind: 'deadline' };

class ExchangeStopped extends Error {
  constructor(readonly stop: ExchangeStop) {
    super(stop.kind);
  }
}

function exchange(
  address: SocketAddress,
  request: string,
  limits: { connectTimeoutMs: number; replyTimeoutMs: number; signal: AbortSignal | undefined },
): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket =
      address.kind === 'unix'
        ? net.createConnection({ path: address.path })
        : net.createConnection({ host: address.host, port: address.port, family: address.family });
    // Buffers, decoded once at the end: a reply of megabytes is never copied chunk by chunk.
    const chunks: Buffer[] = [];
    let replyBytes = 0;
    let settled = false;
    const settle = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      limits.signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      outcome();
    };
    const stop = (reason: ExchangeStop) => settle(() => reject(new ExchangeStopped(reason)));
    const onAbort = () => stop({ kind: 'deadline' });
    limits.signal?.addEventListener('abort', onAbort, { once: true });
    let timer = setTimeout(
      () => stop({ kind: 'timeout', phase: 'connect', afterMs: limits.connectTimeoutMs }),
      limits.connectTimeoutMs,
    );
    socket.once('connect', () => {
      clearTimeout(timer);
      timer = setTimeout(
        () => stop({ kind: 'timeout', phase: 'reply', afterMs: limits.replyTimeoutMs }),
        limits.replyTimeoutMs,
      );
      socket.end(request);
    });
    socket.on('data', (chunk: Buffer) => {
      replyBytes += chunk.length;
      if (replyBytes > MAX_REPLY_BYTES) stop({ kind: 'reply-too-large' });
      else chunks.push(chunk);
    });
    // `on`, not `once`: a reset can follow a failed write, and a second error event without a listener would crash.
    socket.on('error', (error) => settle(() => reject(error)));
    socket.once('close', () => settle(() => resolve(Buffer.concat(chunks, replyBytes).toString('utf8'))));
  });
}

/** The command as messages name it: its first line, without the payload or the response it carries. */
function commandName(command: string): string {
  const lineEnd = command.indexOf('\n');
  const firstLine = (lineEnd < 0 ? command : command.slice(0, lineEnd)).replace(/ <<$/, '');
  const name = firstLine.startsWith('set ssl ocsp-response ') ? 'set ssl ocsp-response' : firstLine;
  return printableLine(name, QUOTED_REPLY_CHARACTERS);
}

/** The error for a reply past MAX_REPLY_BYTES, whichever way the command went. */
export function replyTooLarge(address: SocketAddress, command: string): HaproxySocketError {
  return new HaproxySocketError(
    'reply-too-large',
    address,
    `HAProxy socket ${formatSocketAddress(address)} replied more than ${maxReplyText} to '${commandName(command)}', the most a reply may hold; stopped reading`,
  );
}

/** The error for a command cut short by the certificate's deadline, whichever way it went. */
export function deadlinePassed(address: SocketAddress, command: string): HaproxySocketError {
  return new HaproxySocketError(
    'deadline',
    address,
    `the certificate's deadline passed before HAProxy socket ${formatSocketAddress(address)} answered '${commandName(command)}'`,
  );
}

async function explainSocketFailure(
  address: SocketAddress,
  error: unknown,
  command: string,
  requestBytes: number,
): Promise<HaproxySocketError> {
  const where = formatSocketAddress(address);
  const fail = (failure: SocketFailure, message: string) => new HaproxySocketError(failure, address, message);
  if (error instanceof ExchangeStopped) {
    const { stop } = error;
    switch (stop.kind) {
      case 'reply-too-large':
        return replyTooLarge(address, command);
      case 'deadline':
        return deadlinePassed(address, command);
      case 'timeout':
        return stop.phase === 'connect'
          ? fail('timeout', `timed out after ${stop.afterMs} ms connecting to HAProxy socket ${where}`)
          : fail(
              'timeout',
              `HAProxy socket ${where} did not finish replying within ${stop.afterMs} ms${bufferHint(requestBytes)}`,
            );
    }
  }
  const code = (error as NodeJS.ErrnoException).code;
  const detail = error instanceof Error ? error.message : String(error);
  switch (code) {
    case 'ENOENT':
    case 'ENOTDIR':
      return fail('missing', `HAProxy socket ${where} does not exist`);
    case 'EACCES':
    case 'EPERM':
      return fail('permission-denied', `permission denied on HAProxy socket ${where}`);
    case 'ECONNREFUSED':
      if (address.kind === 'tcp') return fail('refused', `connection refused by HAProxy socket ${where}`);
      return explainRefusedPath(address.path, fail);
    case 'EAGAIN':
      return fail('busy', `HAProxy socket ${where} accepts no more connections (too many CLI sessions open)`);
    case 'ECONNRESET':
    case 'EPIPE':
      return fail('reset', `HAProxy socket ${where} closed the connection without a reply${bufferHint(requestBytes)}`);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'ETIMEDOUT':
      return fail('unreachable', `can't reach HAProxy socket ${where}: ${code}`);
  }
  return fail('failed', `can't talk to HAProxy socket ${where}: ${detail}`);
}

async function explainRefusedPath(
  socketPath: string,
  fail: (failure: SocketFailure, message: string) => HaproxySocketError,
): Promise<HaproxySocketError> {
  // Linux answers ECONNREFUSED both for a file that is not a socket and for a
  // socket nobody listens on any more (HAProxy leaves it behind when stopped).
  const problem = await socketFileProblem(socketPath);
  if (problem) return fail(problem.failure, problem.message);
  return fail('not-listening', `nobody listens on HAProxy socket ${socketPath} (is HAProxy running?)`);
}

async function socketFileProblem(socketPath: string): Promise<{ failure: SocketFailure; message: string } | undefined> {
  const found = await stat(socketPath).catch((error: NodeJS.ErrnoException) => error);
  if (found instanceof Error) {
    return found.code === 'EACCES'
      ? { failure: 'permission-denied', message: `permission denied on HAProxy socket ${socketPath}` }
      : { failure: 'missing', message: `HAProxy socket ${socketPath} does not exist` };
  }
  if (found.isSocket()) return undefined;
  const kind = found.isFile() ? 'regular file' : found.isDirectory() ? 'directory' : 'special file';
  return { failure: 'not-a-socket', message: `HAProxy socket ${socketPath} is not a socket but a ${kind}` };
}

/**
 * Throws the error sendCommand would for a UNIX socket path that does not
 * exist or is not a socket: for clients (socat) that would create a file there.
 */
export async function requireSocketFile(address: SocketAddress & { kind: 'unix' }): Promise<void> {
  const problem = await socketFileProblem(address.path);
  if (problem) throw new HaproxySocketError(problem.failure, address, problem.message);
}

function bufferHint(requestBytes: number): string {
  return requestBytes > singleLineLimitBytes
    ? ` (the command is ${requestBytes} bytes: HAProxy's CLI takes at most tune.bufsize bytes, ${defaultBufsize} by default, and a master CLI about 15 KiB)`
    : '';
}

/**
 * HAProxy's reply on one line, for messages: control characters escaped (a
 * binary reply must not reach a terminal raw), and cut after 1000 characters.
 */
export function oneLine(reply: string): string {
  const trimmed = reply.trim();
  if (trimmed === '') return '(empty reply)';
  // Only the start is split and escaped: the rest of a reply of megabytes is never copied.
  const line = escapeControls(
    trimmed
      .slice(0, QUOTED_REPLY_CHARACTERS)
      .trimEnd()
      .split(/\s*\n\s*/)
      .join(' '),
  );
  if (line.length <= QUOTED_REPLY_CHARACTERS && trimmed.length <= QUOTED_REPLY_CHARACTERS) return line;
  // Neither half an escape sequence nor half a character made of two code units.
  const kept = line.slice(0, QUOTED_REPLY_CHARACTERS).replace(/\\u[0-9A-F]{0,3}$|[\uD800-\uDBFF]$/, '');
  return `${kept}… (${trimmed.length} characters in all)`;
}

/** Escapes what HAProxy's CLI parser would read as a word or command separator. */
export function escapeCliWord(word: string): string {
  return word.replace(/[\\\s;]/g, (character) => `\\${character}`);
}

/**
 * The payload form (HAProxy 2.2+): the command ends with `<<`, the payload
 * follows and an empty line ends it, so blank lines inside are dropped.
 */
export function withPayload(command: string, payload: string): string {
  const lines = payload.split(/\r?\n/).filter((line) => line.trim() !== '');
  return `${command} <<\n${lines.join('\n')}\n\n`;
}

export type CommandForm = 'single-line' | 'payload';

export interface OcspUpdateCommand {
  readonly form: CommandForm;
  /** What is written to the socket, final newline included. */
  readonly text: string;
}

/** `set ssl ocsp-response`, in the payload form when one line would be too long for HAProxy to read reliably. */
export function ocspUpdateCommand(base64Der: string): OcspUpdateCommand {
  const base64 = strictBase64(base64Der);
  const line = `set ssl ocsp-response ${base64}\n`;
  if (Buffer.byteLength(line) <= singleLineLimitBytes) return { form: 'single-line', text: line };
  return { form: 'payload', text: withPayload('set ssl ocsp-response', base64) };
}

function strictBase64(text: string): string {
  const base64 = text.replace(/\s+/g, '');
  // A stray newline or semicolon would end the command and start another one.
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) throw programError('the OCSP response to send to HAProxy is not base64');
  return base64;
}

const ocspUpdatedReply = 'OCSP Response updated!';
const certificateIdMismatchReply = 'Certificate ID does not match any certificate or issuer';

export interface OcspUpdate {
  readonly form: CommandForm;
}

/**
 * `set ssl ocsp-response`: replaces the response HAProxy staples for the
 * certificate the response is about. Throws OcspResponseRejectedError unless
 * HAProxy answers `OCSP Response updated!`.
 */
export async function setOcspResponse(
  address: SocketAddress,
  base64Der: string,
  options: CommandOptions = {},
): Promise<OcspUpdate> {
  const command = ocspUpdateCommand(base64Der);
  const reply = await sendCommand(address, command.text, options);
  if (reply.trim() === ocspUpdatedReply) return { form: command.form };
  const hint = reply.includes(certificateIdMismatchReply) ? '' : bufferHint(Buffer.byteLength(command.text));
  throw new OcspResponseRejectedError(
    reply,
    `HAProxy socket ${formatSocketAddress(address)} rejected the OCSP response: ${oneLine(reply)}${hint}`,
  );
}

export interface CertificateList {
  /** The names `show ssl cert` lists: the paths as HAProxy's configuration spells them. */
  readonly names: readonly string[];
  /** Certificates with an uncommitted transaction (`*NAME` under `# transaction`). */
  readonly inTransaction: readonly string[];
}

/** Parses `show ssl cert` without arguments. */
export function parseCertificateList(reply: string): CertificateList | undefined {
  const names: string[] = [];
  const inTransaction: string[] = [];
  let section: 'none' | 'transaction' | 'filename' = 'none';
  for (const line of linesOf(reply)) {
    if (line === '# transaction') section = 'transaction';
    else if (line === '# filename') section = 'filename';
    else if (line === '' || line.startsWith('#')) continue;
    else if (section === 'filename') names.push(line);
    else if (section === 'transaction') inTransaction.push(line.replace(/^\*/, ''));
    else return undefined;
  }
  return section === 'filename' ? { names, inTransaction } : undefined;
}

async function certificateList(address: SocketAddress, options: CommandOptions): Promise<CertificateList> {
  const command = 'show ssl cert';
  const reply = await sendCommand(address, command, options);
  const list = parseCertificateList(reply);
  if (!list) throw unexpectedReply(address, command, reply);
  return list;
}

/** `show ssl cert`: the names of the certificates HAProxy has loaded. */
export async function listCertificates(address: SocketAddress, options: CommandOptions = {}): Promise<string[]> {
  return [...(await certificateList(address, options)).names];
}

/**
 * The name HAProxy knows `certPath` by: the listed path that is the same file
 * (symbolic links resolved), else the first with the same file name, and in
 * both cases the same certificate when `sha1Fingerprint` is given. Relative
 * names are only compared by file name, as HAProxy resolved them against its
 * own working directory.
 */
export async function findCertificateName(
  address: SocketAddress,
  certPath: string,
  options: CommandOptions & { readonly sha1Fingerprint?: string } = {},
): Promise<string | undefined> {
  const names = await listCertificates(address, options);
  const wanted = await realpath(certPath).catch(() => path.resolve(certPath));
  // Another site's certificate may share the file name: only the same certificate will do.
  const isTheCertificate = async (name: string) =>
    options.sha1Fingerprint === undefined ||
    (await certificateFingerprint(address, name, options)) === options.sha1Fingerprint;
  const stopAtDeadline = () => throwIfDeadlinePassed(address, certPath, options);
  const tried = new Set<string>();
  for await (const name of sameFileNames(names, certPath, wanted, stopAtDeadline)) {
    tried.add(name);
    if (await isTheCertificate(name)) return name;
  }
  const fileName = path.basename(certPath);
  for (const name of names) {
    if (path.basename(name) !== fileName || tried.has(name)) continue;
    tried.add(name);
    if (await isTheCertificate(name)) return name;
  }
  return undefined;
}

function throwIfDeadlinePassed(address: SocketAddress, certPath: string, options: CommandOptions): void {
  if (!options.signal?.aborted) return;
  throw new HaproxySocketError(
    'deadline',
    address,
    `the certificate's deadline passed while looking for ${certPath} among the certificates HAProxy socket ${formatSocketAddress(address)} lists`,
  );
}

/** How many listed paths are resolved at once: HAProxy may list 100,000 certificates. */
const realpathBatch = 256;

/**
 * The absolute NAMES that are the file WANTED: first those spelled as the
 * certificate's path is (no file system access), then those that resolve to
 * it through symbolic links. `checkDeadline` throws once the lookup must stop.
 */
async function* sameFileNames(
  names: readonly string[],
  certPath: string,
  wanted: string,
  checkDeadline: () => void,
): AsyncGenerator<string> {
  const spelledAlike = new Set([path.resolve(certPath), wanted]);
  const alike = new Set(names.filter((name) => path.isAbsolute(name) && spelledAlike.has(path.normalize(name))));
  yield* alike;
  const others = names.filter((name) => path.isAbsolute(name) && !alike.has(name));
  for (let start = 0; start < others.length; start += realpathBatch) {
    checkDeadline();
    const batch = others.slice(start, start + realpathBatch);
    const resolved = await Promise.all(batch.map((name) => realpath(name).catch(() => name)));
    for (const [index, name] of batch.entries()) if (resolved[index] === wanted) yield name;
  }
}

/** The SHA-1 fingerprint (upper-case hex, no colons) `show ssl cert NAME` reports. */
async function certificateFingerprint(
  address: SocketAddress,
  name: string,
  options: CommandOptions,
): Promise<string | undefined> {
  const reply = await sendCommand(address, `show ssl cert ${escapeCliWord(name)}`, options);
  return /^SHA1 FingerPrint: ([0-9A-Fa-f]+)$/m.exec(reply)?.[1]?.toUpperCase();
}

/** Parses `show ssl ocsp-response`: the hex DER CertIDs, lower case. */
export function parseOcspResponseIds(reply: string): string[] | undefined {
  if (!reply.startsWith('# Certificate IDs')) return undefined;
  const ids: string[] = [];
  const idLine = /^Certificate ID key : ([0-9a-fA-F]+)$/gm;
  for (let match = idLine.exec(reply); match !== null; match = idLine.exec(reply)) {
    ids.push((match[1] ?? '').toLowerCase());
  }
  return ids;
}

/** `show ssl ocsp-response`: the certificate IDs HAProxy holds a response slot for. */
export async function showOcspResponseIds(address: SocketAddress, options: CommandOptions = {}): Promise<string[]> {
  const command = 'show ssl ocsp-response';
  const reply = await sendCommand(address, command, options);
  const ids = parseOcspResponseIds(reply);
  if (!ids) throw unexpectedReply(address, command, reply);
  return ids;
}

export interface TransactionOptions extends CommandOptions {
  /**
   * The issuer certificate (PEM), also set in the transaction. Needed when
   * the bundle does not contain it: HAProxy 2.6 reads a `.issuer` file at
   * start only for a certificate that has a `.ocsp` file, and the commit
   * otherwise fails with "impossible to compute the OCSP certificate ID".
   */
  readonly issuerPem?: string;
}

/**
 * Staples a first response with no reload: `set ssl cert NAME.ocsp` (and
 * `NAME.issuer`) then `commit ssl cert NAME`. Aborts the transaction on any
 * failure. Refuses to start while any transaction is open, because HAProxy 2.6
 * applies `set ssl cert` to whichever certificate's transaction is open.
 */
export async function stapleThroughTransaction(
  address: SocketAddress,
  name: string,
  base64Der: string,
  options: TransactionOptions = {},
): Promise<void> {
  const where = formatSocketAddress(address);
  const open = (await certificateList(address, options)).inTransaction;
  if (open.length > 0) {
    throw new HaposError(
      ExitCode.haproxy,
      `HAProxy socket ${where} has an uncommitted transaction for ${oneLine(open.slice(0, 2).join(', '))}${open.length > 2 ? ` and ${open.length - 2} more` : ''}; commit or abort it first (abort ssl cert NAME)`,
    );
  }
  const word = escapeCliWord(name);
  const steps: { command: string; text: string; succeeded: (reply: string) => boolean }[] = [
    {
      command: `set ssl cert ${name}.ocsp`,
      text: withPayload(`set ssl cert ${word}.ocsp`, strictBase64(base64Der)),
      succeeded: (reply) => reply.trim() === `Transaction created for certificate ${name}!`,
    },
  ];
  if (options.issuerPem !== undefined) {
    steps.push({
      command: `set ssl cert ${name}.issuer`,
      text: withPayload(`set ssl cert ${word}.issuer`, options.issuerPem),
      succeeded: (reply) => reply.trim() === `Transaction updated for certificate ${name}!`,
    });
  }
  steps.push({
    command: `commit ssl cert ${name}`,
    text: `commit ssl cert ${word}`,
    succeeded: (reply) => reply.startsWith(`Committing ${name}`) && reply.trim().endsWith('\nSuccess!'),
  });
  try {
    for (const step of steps) {
      const reply = await sendCommand(address, step.text, options);
      if (!step.succeeded(reply)) {
        throw new HaproxyReplyError(
          step.command,
          reply,
          `can't staple ${name} through a transaction on HAProxy socket ${where}: '${step.command}' answered ${oneLine(reply)}`,
        );
      }
    }
  } catch (error) {
    // Even past the deadline, briefly: an open transaction would block every later first staple on this HAProxy.
    const cleanup = {
      ...options,
      signal: undefined,
      timeoutMs: Math.min(options.timeoutMs ?? defaultTimeoutMs, 2_000),
    };
    // The original failure is what matters; an abort that fails changes nothing.
    await sendCommand(address, `abort ssl cert ${word}`, cleanup).catch(() => undefined);
    throw error;
  }
}

/** `show version`, e.g. `2.6.12-1+deb12u4`. */
export async function showVersion(address: SocketAddress, options: CommandOptions = {}): Promise<string> {
  const command = 'show version';
  const reply = await sendCommand(address, command, options);
  const version = reply.trim();
  if (!/^\d+\.\d+/.test(version)) throw unexpectedReply(address, command, reply);
  return version;
}

const showProcHeader = '#<PID>';

/** Whether the address is a master CLI (`haproxy -W -S`): only a master knows `show proc`. */
export async function isMasterCli(address: SocketAddress, options: CommandOptions = {}): Promise<boolean> {
  return (await masterWorkers(address, options)) !== undefined;
}

/** One `show proc`: a master CLI's current workers, or undefined when the address is not a master CLI. */
export async function masterWorkers(
  address: SocketAddress,
  options: CommandOptions = {},
): Promise<number[] | undefined> {
  return parseWorkerPids(await sendCommand(address, 'show proc', { ...options, workerPid: undefined }));
}

/** Parses `show proc` on a master CLI: the PIDs under `# workers` (not `# old workers`). */
export function parseWorkerPids(reply: string): number[] | undefined {
  if (!reply.startsWith(showProcHeader)) return undefined;
  const pids: number[] = [];
  let inWorkers = false;
  for (const line of linesOf(reply)) {
    if (line.startsWith('#')) inWorkers = line.trim() === '# workers';
    else if (inWorkers) {
      const pid = /^(\d+)\s+worker\b/.exec(line)?.[1];
      if (pid) pids.push(Number(pid));
    }
  }
  return pids;
}

/** The current workers of a master CLI; commands reach them with `workerPid`. */
export async function listWorkers(address: SocketAddress, options: CommandOptions = {}): Promise<number[]> {
  const command = 'show proc';
  const reply = await sendCommand(address, command, { ...options, workerPid: undefined });
  const pids = parseWorkerPids(reply);
  if (!pids) {
    throw new HaproxyReplyError(
      command,
      reply,
      `HAProxy socket ${formatSocketAddress(address)} is not a master CLI: 'show proc' answered ${oneLine(reply)}`,
    );
  }
  return pids;
}

/** The lines of TEXT, one at a time: a list of 200,000 lines is never split into an array at once. */
function* linesOf(text: string): Generator<string> {
  let start = 0;
  while (start <= text.length) {
    const end = text.indexOf('\n', start);
    if (end < 0) {
      yield text.slice(start);
      return;
    }
    yield text.slice(start, end);
    start = end + 1;
  }
}

function unexpectedReply(address: SocketAddress, command: string, reply: string): HaproxyReplyError {
  return new HaproxyReplyError(
    command,
    reply,
    `unexpected reply from HAProxy socket ${formatSocketAddress(address)} to '${command}': ${oneLine(reply)}`,
  );
}
