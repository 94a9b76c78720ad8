// The commands the notifier sends. One that changes HAProxy has succeeded
// only when HAProxy's reply says so: any other reply is an error that names
// the socket and quotes HAProxy, never a silent no-op.
import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { formatSocketAddress, type SocketAddress } from './address.ts';
import {
  commandTooBig,
  DEFAULT_BUFSIZE,
  DEFAULT_TIMEOUT_MS,
  sendCommand,
  SINGLE_LINE_LIMIT_BYTES,
  type CommandOptions,
} from './client.ts';
import {
  HaproxyArgumentError,
  HaproxyReplyError,
  HaproxySocketError,
  OcspResponseRejectedError,
  UncommittedTransactionError,
} from './errors.ts';
import {
  isUnknownCommand,
  oneLine,
  parseBase64Response,
  parseCertificateList,
  parseOcspResponseIds,
  parseOcspUpdates,
  parseWorkerPids,
  type CertificateList,
} from './replies.ts';

/** Escapes what HAProxy's CLI parser would read as a word or command separator. */
export function escapeCliWord(word: string): string {
  return word.replace(/[\\\s;]/g, (character) => `\\${character}`);
}

/**
 * The payload form (HAProxy 2.2+): the command ends with `<<`, the payload
 * follows and an empty line ends it, so blank lines inside are dropped.
 */
function withPayload(command: string, payload: string): string {
  const body = `${payload
    .split(/\r?\n/)
    .filter((line) => line.trim() !== '')
    .join('\n')}\n\n`;
  const text = `${command} <<\n${body}`;
  // HAProxy 2.6 spins on a payload command of exactly its buffer's size
  // until its watchdog kills it: one more space keeps clear of the default.
  return Buffer.byteLength(text) === DEFAULT_BUFSIZE ? `${command}  <<\n${body}` : text;
}

type CommandForm = 'single-line' | 'payload';

interface OcspUpdateCommand {
  readonly form: CommandForm;
  /** What is written to the socket, final newline included. */
  readonly text: string;
}

/** `set ssl ocsp-response`, in the payload form when one line would be too long for HAProxy to read reliably. */
function ocspUpdateCommand(base64Der: string): OcspUpdateCommand {
  const base64 = strictBase64(base64Der);
  const line = `set ssl ocsp-response ${base64}\n`;
  if (Buffer.byteLength(line) <= SINGLE_LINE_LIMIT_BYTES) return { form: 'single-line', text: line };
  return { form: 'payload', text: withPayload('set ssl ocsp-response', base64) };
}

function strictBase64(text: string): string {
  const base64 = text.replace(/\s+/g, '');
  // A stray newline or semicolon would end the command and start another one.
  // Padded to whole groups, as HAProxy decodes it: its 'invalid base64' then means a response too big.
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64) || base64.length % 4 !== 0)
    throw new HaproxyArgumentError('the OCSP response to send to HAProxy is not base64');
  return base64;
}

const ocspUpdatedReply = 'OCSP Response updated!';
/** HAProxy 3.4's answer to a response larger than tune.bufsize, which it decodes into a buffer of that size. */
const tooBigToDecodeReply = "'set ssl ocsp-response' received invalid base64 encoded response";

interface OcspUpdate {
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
  if (reply.startsWith(tooBigToDecodeReply))
    throw commandTooBig(address, command.text, options, `it answered ${oneLine(reply)}`);
  throw new OcspResponseRejectedError(
    reply,
    `HAProxy socket ${formatSocketAddress(address)} rejected the OCSP response: ${oneLine(reply)}`,
  );
}

async function certificateList(address: SocketAddress, options: CommandOptions): Promise<CertificateList> {
  const command = 'show ssl cert';
  const reply = await sendCommand(address, command, options);
  const list = parseCertificateList(reply);
  if (!list) throw unexpectedReply(address, command, reply);
  return list;
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
  const { names } = await certificateList(address, options);
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

/** `show ssl ocsp-response`: the certificate IDs HAProxy holds a response slot for. */
export async function showOcspResponseIds(address: SocketAddress, options: CommandOptions = {}): Promise<string[]> {
  const command = 'show ssl ocsp-response';
  const reply = await sendCommand(address, command, options);
  const ids = parseOcspResponseIds(reply);
  if (!ids) throw unexpectedReply(address, command, reply);
  return ids;
}

/**
 * `show ssl ocsp-updates`: the CertIDs of the certificates HAProxy updates
 * itself, or undefined from a version without the command (before 2.8),
 * which also cannot show a response's bytes.
 */
export async function showOcspUpdates(
  address: SocketAddress,
  options: CommandOptions = {},
): Promise<ReadonlySet<string> | undefined> {
  const command = 'show ssl ocsp-updates';
  const reply = await sendCommand(address, command, options);
  if (isUnknownCommand(reply)) return undefined;
  const ids = parseOcspUpdates(reply);
  if (!ids) throw unexpectedReply(address, command, reply);
  return ids;
}

/**
 * `show ssl ocsp-response base64 ID` (HAProxy 2.8+): the bytes HAProxy
 * staples for the certificate with that ID, or undefined when it holds none.
 */
export async function showStapledResponse(
  address: SocketAddress,
  certIdHex: string,
  options: CommandOptions = {},
): Promise<Buffer | undefined> {
  if (!/^[0-9a-f]+$/i.test(certIdHex)) throw new HaproxyArgumentError('a certificate ID must be hexadecimal');
  const command = `show ssl ocsp-response base64 ${certIdHex}`;
  const reply = await sendCommand(address, command, options);
  const response = parseBase64Response(reply);
  if (response === undefined) throw unexpectedReply(address, 'show ssl ocsp-response base64', reply);
  return response === 'none' ? undefined : response;
}

interface TransactionOptions extends CommandOptions {
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
    throw new UncommittedTransactionError(
      open,
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
      timeoutMs: Math.min(options.timeoutMs ?? DEFAULT_TIMEOUT_MS, 2_000),
    };
    // The original failure is what matters; an abort that fails changes nothing.
    await sendCommand(address, `abort ssl cert ${word}`, cleanup).catch(() => undefined);
    throw error;
  }
}

/** One `show proc`: a master CLI's current workers, or undefined when the address is not a master CLI. */
export async function masterWorkers(
  address: SocketAddress,
  options: CommandOptions = {},
): Promise<number[] | undefined> {
  return parseWorkerPids(await sendCommand(address, 'show proc', { ...options, workerPid: undefined }));
}

export function unexpectedReply(address: SocketAddress, command: string, reply: string): HaproxyReplyError {
  return new HaproxyReplyError(
    command,
    reply,
    `unexpected reply from HAProxy socket ${formatSocketAddress(address)} to '${command}': ${oneLine(reply)}`,
  );
}
