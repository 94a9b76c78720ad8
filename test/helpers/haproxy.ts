import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { run } from '../../lib/process/run.ts';
import { parseSocketAddress } from '../../lib/haproxy/address.ts';
import { sendCommand } from '../../lib/haproxy/client.ts';

async function openssl(cwd: string, args: readonly string[]): Promise<string> {
  const result = await run('openssl', args, { cwd });
  if (result.exitCode !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

export interface TestCertificate {
  /** `NAME.test` is its subject CN and DNS name: the SNI that selects it. */
  readonly name: string;
  readonly serverName: string;
  /** Upper-case hex, as OpenSSL and HAProxy print it. */
  readonly serialHex: string;
  readonly certPath: string;
  /** What HAProxy's `crt` loads: certificate, key and, unless left out, the CA. */
  readonly bundlePath: string;
}

/**
 * A throwaway ECDSA CA whose leaves HAProxy serves, with an `openssl ca`
 * index so that `openssl ocsp` can answer for them offline. Everything lives
 * in `dir`.
 */
export class HaproxyTestPki {
  private responses = 0;

  private constructor(
    readonly dir: string,
    readonly caPath: string,
    private readonly caKeyPath: string,
    private readonly indexPath: string,
  ) {}

  static async create(dir: string): Promise<HaproxyTestPki> {
    await openssl(dir, [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-noenc',
      '-keyout', 'ca.key', '-out', 'ca.pem', '-subj', '/CN=hapos-upd HAProxy test CA', '-days', '2',
      '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
    ]); // prettier-ignore
    const indexPath = path.join(dir, 'index.txt');
    await writeFile(indexPath, '');
    return new HaproxyTestPki(dir, path.join(dir, 'ca.pem'), path.join(dir, 'ca.key'), indexPath);
  }

  /** Issues NAME.crt and writes the bundle to `bundleFileName` (NAME.pem by default). */
  async issue(
    name: string,
    options: { readonly issuerInBundle?: boolean; readonly bundleFileName?: string } = {},
  ): Promise<TestCertificate> {
    const serverName = `${name}.test`;
    // A first byte in 0x10-0x7f keeps the serial positive and its hex free of a leading zero.
    const serial = (0x10 + ((randomBytes(1)[0] ?? 0) % 0x70)).toString(16) + randomBytes(15).toString('hex');
    const certPath = path.join(this.dir, `${name}.crt`);
    const keyPath = path.join(this.dir, `${name}.key`);
    await openssl(this.dir, [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-noenc',
      '-keyout', keyPath, '-out', certPath, '-subj', `/CN=${serverName}`, '-days', '2',
      '-CA', this.caPath, '-CAkey', this.caKeyPath, '-set_serial', `0x${serial}`,
      '-addext', 'basicConstraints=CA:FALSE', '-addext', `subjectAltName=DNS:${serverName}`,
    ]); // prettier-ignore
    const serialHex = serial.toUpperCase();
    await appendFile(this.indexPath, `V\t491231235959Z\t\t${serialHex}\tunknown\t/CN=${serverName}\n`);
    const bundlePath = path.join(this.dir, options.bundleFileName ?? `${name}.pem`);
    const parts = [certPath, keyPath, ...(options.issuerInBundle === false ? [] : [this.caPath])];
    await writeFile(bundlePath, (await Promise.all(parts.map((part) => readFile(part, 'utf8')))).join(''));
    return { name, serverName, serialHex, certPath, bundlePath };
  }

  /**
   * A `good` DER response for the certificate, valid 7 days. `paddedTo`
   * makes it at least that many bytes by adding copies of the CA certificate
   * to it (still a valid response).
   */
  async ocspResponse(certificate: TestCertificate, options: { readonly paddedTo?: number } = {}): Promise<Buffer> {
    const plain = await this.respond(certificate, 0);
    if (options.paddedTo === undefined || plain.length >= options.paddedTo) return plain;
    const caPem = await readFile(this.caPath, 'utf8');
    const caDerBytes = Buffer.from(caPem.replace(/-----[^-]+-----|\s/g, ''), 'base64').length;
    return this.respond(certificate, Math.ceil((options.paddedTo - plain.length) / caDerBytes));
  }

  private async respond(certificate: TestCertificate, extraCertificates: number): Promise<Buffer> {
    const id = ++this.responses;
    const request = path.join(this.dir, `request-${id}.der`);
    const response = path.join(this.dir, `response-${id}.der`);
    await openssl(this.dir, [
      'ocsp',
      '-issuer',
      this.caPath,
      '-cert',
      certificate.certPath,
      '-no_nonce',
      '-reqout',
      request,
    ]);
    const extras = path.join(this.dir, `extra-${id}.pem`);
    if (extraCertificates > 0) await writeFile(extras, (await readFile(this.caPath, 'utf8')).repeat(extraCertificates));
    await openssl(this.dir, [
      'ocsp', '-index', this.indexPath, '-CA', this.caPath, '-rsigner', this.caPath, '-rkey', this.caKeyPath,
      '-reqin', request, '-respout', response, '-ndays', '7', ...(extraCertificates > 0 ? ['-rother', extras] : []),
    ]); // prettier-ignore
    return readFile(response);
  }
}

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface HaproxyOptions {
  /** Paths for the `crt` keywords of the TLS `bind` line; the first is the default certificate. */
  readonly certificates: readonly string[];
  /** `-W -S DIR/master.sock`: a master process, its master CLI and one worker. */
  readonly masterWorker?: boolean;
  /** `tune.bufsize`; HAProxy's default is 16384. */
  readonly bufsize?: number;
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
  await writeFile(configPath, haproxyConfig({ socketPath, tcpAddress, tlsPort, ...options }));
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
    `  bind 127.0.0.1:${settings.tlsPort} ssl ${settings.certificates.map((file) => `crt ${quoted(file)}`).join(' ')}`,
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

export interface StapledResponse {
  readonly stapled: boolean;
  readonly producedAt?: string;
  readonly certStatus?: string;
  /** The certificate serial number the response is about, upper-case hex. */
  readonly serialNumber?: string;
}

/** Reads what `openssl s_client -status` printed about the stapled response. */
export function parseStapledResponse(sClientOutput: string): StapledResponse {
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
