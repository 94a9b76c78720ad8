import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from '../../lib/process/run.ts';
import { parseSocketAddress } from '../../lib/haproxy/address.ts';
import { sendCommand } from '../../lib/haproxy/client.ts';

/**
 * The version of the haproxy on PATH as `show version` gives it (`2.6.12-1+deb12u4`), so
 * that a test expects whichever HAProxy it runs against: the system's, or a newer
 * one put first in PATH.
 */
export function haproxyVersion(): Promise<string> {
  // PATH does not change while the tests run: asked once.
  versionOnPath ??= run('haproxy', ['-v']).then((result) => {
    const version = /^HAProxy version (\S+)/m.exec(result.stdout)?.[1];
    if (version === undefined) throw new Error(`haproxy -v printed no version: ${result.stdout}${result.stderr}`);
    return version;
  });
  return versionOnPath;
}

let versionOnPath: Promise<string> | undefined;

/** Whether the haproxy on PATH is MAJOR.MINOR or later, for expectations that differ between versions. */
export async function haproxyAtLeast(major: number, minor: number): Promise<boolean> {
  const [runningMajor = 0, runningMinor = 0] = (await haproxyVersion()).split('.').map(Number);
  return runningMajor > major || (runningMajor === major && runningMinor >= minor);
}

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

interface HaproxyOptions {
  /** Paths for the `crt` keywords of the TLS `bind` line; the first is the default certificate. */
  readonly certificates: readonly string[];
  /** `-W -S DIR/master.sock`: a master process, its master CLI and one worker. */
  readonly masterWorker?: boolean;
  /** `tune.bufsize`; HAProxy's default is 16384. */
  readonly bufsize?: number;
  /**
   * Certificates loaded from a crt-list with `[ocsp-update on]`: HAProxy
   * (2.8 and later) fetches their responses itself, from their AIA's URL.
   */
  readonly updatedByHaproxy?: readonly string[];
}

export interface RunningHaproxy {
  /** The process started: the master in master-worker mode. */
  readonly pid: number;
  /** `DIR/admin.sock`, `level admin`. */
  readonly socketPath: string;
  /** The same CLI over TCP: `ipv4@127.0.0.1:PORT`. */
  readonly tcpAddress: string;
  readonly masterSocket?: string;
  readonly tlsPort: number;
  /** What HAProxy printed so far. */
  output(): string;
  /** Stops HAProxy, waits for it to exit and removes its directory. */
  stop(): Promise<void>;
}

const startupTimeoutMs = 10_000;
const stopTimeoutMs = 5_000;

/** Runs HAProxy in the foreground (`-db`), resolving once its admin socket answers. */
export async function startHaproxy(options: HaproxyOptions): Promise<RunningHaproxy> {
  // Another test file may take a port between freePort() and HAProxy's bind.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startHaproxyOnce(options);
    } catch (error) {
      if (attempt >= 3 || !/cannot bind|Address already in use/i.test(String(error))) throw error;
    }
  }
}

async function startHaproxyOnce(options: HaproxyOptions): Promise<RunningHaproxy> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hapos-haproxy-'));
  const socketPath = path.join(dir, 'admin.sock');
  const masterSocket = options.masterWorker ? path.join(dir, 'master.sock') : undefined;
  const [tlsPort, cliPort] = [await freePort(), await freePort()];
  const tcpAddress = `ipv4@127.0.0.1:${cliPort}`;
  const configPath = path.join(dir, 'haproxy.cfg');
  const updatedByHaproxy = options.updatedByHaproxy ?? [];
  const crtList = updatedByHaproxy.length > 0 ? path.join(dir, 'ocsp-update.list') : undefined;
  if (crtList) await writeFile(crtList, updatedByHaproxy.map((file) => `${file} [ocsp-update on]\n`).join(''));
  await writeFile(configPath, haproxyConfig({ socketPath, tcpAddress, tlsPort, crtList, ...options }));
  const args = ['-db', ...(masterSocket ? ['-W', '-S', masterSocket] : []), '-f', configPath];
  // setpriv: HAProxy gets SIGTERM should this test process die without stopping it.
  const child = spawn('setpriv', ['--pdeathsig', 'TERM', 'haproxy', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const hasExited = () => child.exitCode !== null || child.signalCode !== null;

  const stop = async () => {
    if (!hasExited()) {
      child.kill('SIGTERM');
      const stopped = await Promise.race([exited.then(() => true), sleep(stopTimeoutMs).then(() => false)]);
      if (!stopped) {
        child.kill('SIGKILL');
        await exited;
      }
    }
    await rm(dir, { recursive: true, force: true });
  };

  try {
    await waitUntilReady(socketPath, masterSocket, hasExited);
  } catch (error) {
    await stop();
    throw new Error(`HAProxy did not start: ${(error as Error).message}\n${output}`);
  }
  return {
    pid: child.pid ?? -1,
    socketPath,
    tcpAddress,
    ...(masterSocket && { masterSocket }),
    tlsPort,
    output: () => output,
    stop,
  };
}

function haproxyConfig(settings: {
  socketPath: string;
  tcpAddress: string;
  tlsPort: number;
  certificates: readonly string[];
  crtList: string | undefined;
  bufsize?: number;
}): string {
  const quoted = (file: string) => {
    if (file.includes("'")) throw new Error(`a test certificate path can't contain a quote: ${file}`);
    return `'${file}'`;
  };
  return [
    'global',
    `  stats socket ${quoted(settings.socketPath)} level admin`,
    `  stats socket ${settings.tcpAddress} level admin`,
    ...(settings.bufsize === undefined ? [] : [`  tune.bufsize ${settings.bufsize}`]),
    'defaults',
    '  mode http',
    '  timeout connect 5s',
    '  timeout client 5s',
    '  timeout server 5s',
    'frontend tls',
    `  bind 127.0.0.1:${settings.tlsPort} ssl ${[
      ...settings.certificates.map((file) => `crt ${quoted(file)}`),
      ...(settings.crtList ? [`crt-list ${quoted(settings.crtList)}`] : []),
    ].join(' ')}`,
    '  http-request return status 200',
    '',
  ].join('\n');
}

async function waitUntilReady(
  socketPath: string,
  masterSocket: string | undefined,
  hasExited: () => boolean,
): Promise<void> {
  const deadline = Date.now() + startupTimeoutMs;
  const answers = async (socket: string, command: string, expected: RegExp) =>
    expected.test(await sendCommand(parseSocketAddress(socket), command, { timeoutMs: 1000 }).catch(() => ''));
  for (;;) {
    if (hasExited()) throw new Error('HAProxy exited');
    const ready =
      (await answers(socketPath, 'show version', /^\d/)) &&
      (!masterSocket || (await answers(masterSocket, 'show proc', /^# workers\n\d+\s+worker/m)));
    if (ready) return;
    if (Date.now() > deadline) throw new Error(`no answer on ${socketPath} within ${startupTimeoutMs} ms`);
    await sleep(10);
  }
}

interface StapledResponse {
  readonly stapled: boolean;
  readonly producedAt?: string;
  readonly certStatus?: string;
  /** The certificate serial number the response is about, upper-case hex. */
  readonly serialNumber?: string;
}

/** Reads what `openssl s_client -status` printed about the stapled response. */
function parseStapledResponse(sClientOutput: string): StapledResponse {
  if (!/^OCSP Response Status: /m.test(sClientOutput.replace(/^\s+/gm, ''))) return { stapled: false };
  const field = (name: string) => new RegExp(`^\\s*${name}: (.+)$`, 'm').exec(sClientOutput)?.[1]?.trim();
  return {
    stapled: true,
    ...optional('producedAt', field('Produced At')),
    ...optional('certStatus', field('Cert Status')),
    ...optional('serialNumber', field('Serial Number')),
  };
}

const optional = <K extends string>(key: K, value: string | undefined) =>
  (value === undefined ? {} : { [key]: value }) as Partial<Record<K, string>>;

/** Connects to 127.0.0.1:PORT as a TLS client asking for OCSP stapling. */
export async function fetchStapledResponse(port: number, serverName?: string): Promise<StapledResponse> {
  const result = await run(
    'openssl',
    ['s_client', '-connect', `127.0.0.1:${port}`, '-status', ...(serverName ? ['-servername', serverName] : [])],
    // `Q` makes s_client quit at once; run() leaves stdin open when the input is empty.
    { input: 'Q\n', timeoutMs: 10_000 },
  );
  if (!result.stdout.includes('CONNECTED')) throw new Error(`openssl s_client failed: ${result.stderr}`);
  return parseStapledResponse(result.stdout);
}
