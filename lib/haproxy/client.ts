// One command over HAProxy's runtime API: connect, write, read the reply up
// to a cap, and say in words why a socket could not be used. What the
// commands mean is commands.ts's business.
import { stat } from 'node:fs/promises';
import net from 'node:net';
import { printableLine } from '../util/printable.ts';
import { formatSocketAddress, type SocketAddress } from './address.ts';
import { HaproxyCommandTooBigError, HaproxySocketError, type SocketFailure } from './errors.ts';
import { oneLine, QUOTED_REPLY_CHARACTERS } from './replies.ts';

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

/** How long HAProxy has to answer a command, from connection to closing it after its reply. */
export const DEFAULT_TIMEOUT_MS = 10_000;
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

/*
 * How much of a command HAProxy takes, measured on 2.6, 3.0, 3.2 and 3.4.
 * HAProxy reads a command, payload included, into one buffer of tune.bufsize
 * bytes (16384 by default) and refuses one that does not fit: 2.6 closes the
 * connection without a reply, and so did 3.0.11 for a payload here (its
 * source also has 'The command is too big for the buffer size…'); 3.2 and
 * later answer 'The command line is too big…'. 3.4 reads a payload past the buffer, but
 * `set ssl ocsp-response` decodes it into one buffer (commands.ts).
 *
 * Some commands are never answered, and their connection is then held until
 * HAProxy restarts, one of the socket's few CLI sessions lost for good: on
 * 3.4, a command with a payload of more than 3 × tune.bufsize bytes in all
 * (by default 49,153 bytes are answered, 49,154 are not); on 2.6, now and
 * then, a single line longer than 15,360 bytes (tune.bufsize less 1024,
 * tune.maxrewrite), where the payload form is answered up to the full buffer.
 * Hence the payload form past 14 KiB, and no command over 49,152 bytes,
 * whatever tune.bufsize may be.
 *
 * A master CLI forwards lines of at most 15,360 bytes, newline and `@!PID `
 * included, whatever tune.bufsize: it answers a longer command line with its
 * help, and hands the worker `help` in place of a longer payload line. Hence
 * no longer line through it.
 */
export const SINGLE_LINE_LIMIT_BYTES = 14 * 1024;
export const DEFAULT_BUFSIZE = 16_384;
const maxRequestBytes = 3 * DEFAULT_BUFSIZE;
const masterCliLineBytes = 15_360;

/** How HAProxy 3.0 and later answer a command longer than tune.bufsize. */
const tooBigReply = /^The command (line )?is too big for the buffer size/;

/** What is written for COMMAND: addressed to a master CLI's worker when one is given, and ended by a newline. */
export function routedRequest(command: string, workerPid: number | undefined): string {
  const routed = workerPid === undefined ? command : `@!${workerPid} ${command}`;
  return routed.endsWith('\n') ? routed : `${routed}\n`;
}

/**
 * Sends one command and returns HAProxy's whole reply. HAProxy's
 * non-interactive mode answers one command per connection; a master CLI only
 * closes once the client has closed its side, hence the half-close after
 * writing. A command HAProxy would not take whole is not sent, and one it
 * refused for its size is a HaproxyCommandTooBigError.
 */
export async function sendCommand(
  address: SocketAddress,
  command: string,
  options: CommandOptions = {},
): Promise<string> {
  const request = routedRequest(command, options.workerPid);
  refuseUnsafeRequest(address, command, request, options.workerPid);
  // No reply at all to a command the default buffer cannot hold: 2.6 refusing it.
  const beyondDefaultBuffer = Buffer.byteLength(request) >= DEFAULT_BUFSIZE;
  const unanswered = () => commandTooBig(address, command, options, 'it closed the connection without a reply');
  let reply: string;
  try {
    reply =
      options.transport === undefined
        ? await sendNatively(address, command, request, options)
        : await options.transport(address, command, options);
  } catch (error) {
    if (beyondDefaultBuffer && error instanceof HaproxySocketError && error.failure === 'reset') throw unanswered();
    throw error;
  }
  if (beyondDefaultBuffer && reply === '') throw unanswered();
  if (tooBigReply.test(reply)) throw commandTooBig(address, command, options, `it answered ${oneLine(reply)}`);
  return reply;
}

/** Throws rather than send a request HAProxy 3.4 would never answer, or a master CLI would not forward whole. */
function refuseUnsafeRequest(
  address: SocketAddress,
  command: string,
  request: string,
  workerPid: number | undefined,
): void {
  const bytes = Buffer.byteLength(request);
  const name = commandName(command);
  const where = formatSocketAddress(address);
  if (bytes > maxRequestBytes) {
    throw new HaproxyCommandTooBigError(
      `'${name}' not sent to HAProxy socket ${where}: the command is ${bytes} bytes, and none over ${maxRequestBytes} is sent, as HAProxy 3.4 never answers one of more than 3 × tune.bufsize (${DEFAULT_BUFSIZE} by default) and holds its connection for good`,
    );
  }
  if (workerPid !== undefined && longestLineBytes(request) > masterCliLineBytes) {
    throw new HaproxyCommandTooBigError(
      `'${name}' not sent through HAProxy master CLI ${where}: the command is ${bytes} bytes, and a master CLI forwards no line longer than ${masterCliLineBytes} bytes, whatever tune.bufsize; send it to the worker's own stats socket`,
    );
  }
}

/** The longest line of REQUEST in bytes, its newline included. */
function longestLineBytes(request: string): number {
  return request.split('\n').reduce((longest, line) => Math.max(longest, Buffer.byteLength(line) + 1), 0);
}

/** The error for a command HAProxy could not take whole; HOW says how HAProxy told. */
export function commandTooBig(
  address: SocketAddress,
  command: string,
  options: Pick<CommandOptions, 'workerPid'>,
  how: string,
): HaproxyCommandTooBigError {
  const bytes = Buffer.byteLength(routedRequest(command, options.workerPid));
  return new HaproxyCommandTooBigError(
    `HAProxy socket ${formatSocketAddress(address)} can't take '${commandName(command)}' of ${bytes} bytes, more than its tune.bufsize holds (${DEFAULT_BUFSIZE} by default): ${how}`,
  );
}

async function sendNatively(
  address: SocketAddress,
  command: string,
  request: string,
  options: CommandOptions,
): Promise<string> {
  if (options.signal?.aborted) throw deadlinePassed(address, command);
  try {
    return await exchange(address, request, {
      connectTimeoutMs: options.connectTimeoutMs ?? defaultConnectTimeoutMs,
      replyTimeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      signal: options.signal,
    });
  } catch (error) {
    throw await explainSocketFailure(address, error, command);
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
    `HAProxy socket ${formatSocketAddress(address)} replied more than ${maxReplyText} to '${commandName(command)}', the most a reply may hold; stopped reading`,
  );
}

/** The error for a command cut short by the certificate's deadline, whichever way it went. */
export function deadlinePassed(address: SocketAddress, command: string): HaproxySocketError {
  return new HaproxySocketError(
    'deadline',
    `the certificate's deadline passed before HAProxy socket ${formatSocketAddress(address)} answered '${commandName(command)}'`,
  );
}

async function explainSocketFailure(
  address: SocketAddress,
  error: unknown,
  command: string,
): Promise<HaproxySocketError> {
  const where = formatSocketAddress(address);
  const fail = (failure: SocketFailure, message: string) => new HaproxySocketError(failure, message);
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
          : fail('timeout', `HAProxy socket ${where} did not finish replying within ${stop.afterMs} ms`);
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
      return fail('reset', `HAProxy socket ${where} closed the connection without a reply`);
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
  if (problem) throw new HaproxySocketError(problem.failure, problem.message);
}
