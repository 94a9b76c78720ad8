import net from 'node:net';
import { run, runForBytes } from '../process/run.ts';
import { formatSocketAddress, type SocketAddress } from './address.ts';
import {
  deadlinePassed,
  DEFAULT_TIMEOUT_MS,
  MAX_REPLY_BYTES,
  replyTooLarge,
  requireSocketFile,
  routedRequest,
  type CommandOptions,
} from './client.ts';
import { HaproxySocketError, type SocketFailure } from './errors.ts';

/** `SOCAT_BIN`, as the original's variable of that name. */
const DEFAULT_SOCAT = 'socat';

export async function socatAvailable(binary = DEFAULT_SOCAT): Promise<boolean> {
  return (await run(binary, ['-V'])).exitCode === 0;
}

/** socat's address for HAProxy's socket; socat reads `\` + any character as that character. */
function socatAddress(address: SocketAddress): string {
  const escape = (text: string) => text.replace(/[^A-Za-z0-9/._-]/g, (character) => `\\${character}`);
  if (address.kind === 'unix') return `unix-connect:${escape(address.path)}`;
  if (address.family === 6) {
    return `tcp6:${net.isIPv6(address.host) ? `[${address.host}]` : escape(address.host)}:${address.port}`;
  }
  return `tcp4:${escape(address.host)}:${address.port}`;
}

/**
 * sendCommand through `socat stdio`. The path must already be a socket:
 * given a missing path, socat's bare-path address creates a regular file and
 * writes the command into it.
 */
export async function sendCommandWithSocat(
  address: SocketAddress,
  command: string,
  options: Pick<CommandOptions, 'timeoutMs' | 'workerPid' | 'signal'> & { readonly binary?: string } = {},
): Promise<string> {
  if (options.signal?.aborted) throw deadlinePassed(address, command);
  if (address.kind === 'unix') await requireSocketFile(address);
  const request = routedRequest(command, options.workerPid);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const started = Date.now();
  // After its input ends socat waits -t seconds for the reply (0.5 s by default).
  const result = await runForBytes(
    options.binary ?? DEFAULT_SOCAT,
    ['-t', String(timeoutMs / 1000), 'stdio', socatAddress(address)],
    {
      input: request,
      timeoutMs,
      signal: options.signal,
      maxOutputBytes: MAX_REPLY_BYTES,
    },
  );
  if (result.stopped === 'output-limit') throw replyTooLarge(address, command);
  if (result.stopped === 'aborted') throw deadlinePassed(address, command);
  // Decoded once from the bytes: a character split between two reads stays whole.
  if (result.exitCode === 0) return result.stdoutBytes.toString('utf8');
  const where = formatSocketAddress(address);
  if (result.stopped === 'timeout' || Date.now() - started >= timeoutMs) {
    throw new HaproxySocketError('timeout', `HAProxy socket ${where} did not finish replying within ${timeoutMs} ms`);
  }
  const complaint = socatComplaint(result.stderr);
  throw new HaproxySocketError(
    socatFailure(complaint, address),
    `socat can't talk to HAProxy socket ${where}: ${complaint || `exit code ${result.exitCode}`}`,
  );
}

/** socat's last error without its date, program and PID, e.g. `connect(…): Connection refused`. */
function socatComplaint(stderr: string): string {
  const lines = stderr.trim().split('\n').filter(Boolean);
  const last = lines.at(-1) ?? '';
  return last.replace(/^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d socat\[\d+\] [A-Z] /, '').trim();
}

function socatFailure(complaint: string, address: SocketAddress): SocketFailure {
  if (/Permission denied/.test(complaint)) return 'permission-denied';
  if (/Connection refused/.test(complaint)) return address.kind === 'unix' ? 'not-listening' : 'refused';
  if (/No such file or directory/.test(complaint)) return 'missing';
  // HAProxy 2.6 hangs up on a command longer than its buffer, while socat is still writing or reading.
  if (/Broken pipe|Connection reset/.test(complaint)) return 'reset';
  return 'failed';
}
