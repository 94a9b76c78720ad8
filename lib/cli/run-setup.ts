// What the update and the check of a run both start from: the tools found on
// this machine, the certificates named on the command line, and what their
// certificates share while they are processed at once.
import { RunError } from './exit-codes.ts';
import { run } from '../process/run.ts';
import { Openssl } from '../openssl/openssl.ts';
import { collectCertificates, type CertificateInput } from '../sources/collect.ts';
import { CertificateSourceError } from '../sources/errors.ts';
import { createKeyedLimiter } from '../util/concurrency.ts';
import type { ResponderClient } from '../responder/fetch.ts';
import { sharedTempFilesIn, type UpdateContext, type UpdateOptions } from '../update/context.ts';
import { defaultRetryDelayMs } from '../update/fetch-response.ts';
import type { CliOptions } from './args.ts';
import { REQUESTS_PER_RESPONDER } from './defaults.ts';
import type { CliIo } from './io.ts';
import type { RunLog } from './run-log.ts';

/** The part of every certificate's update context that is the same for the whole run. */
type RunTools = Pick<UpdateContext, 'openssl' | 'httpClient' | 'sharedFiles' | 'throttleResponder'>;

/** A run with its tools and certificates found: all that its update or its check works with. */
export interface Run {
  readonly options: CliOptions;
  readonly io: CliIo;
  readonly log: RunLog;
  readonly tempDir: string;
  readonly inputs: readonly CertificateInput[];
  readonly tools: RunTools;
}

/** Finds openssl, then the certificates, then curl: this order decides which of several problems a run reports. */
export async function prepareRun(options: CliOptions, io: CliIo, log: RunLog, tempDir: string): Promise<Run> {
  const { env } = io;
  const openssl = await Openssl.detect(env.OPENSSL_BIN || 'openssl');
  if (openssl === undefined) throw new RunError('openssl binary not found; adjust OPENSSL_BIN variable in the script');
  const inputs = await findCertificates(options);
  const single = isSingleRun(inputs, options);
  const client = options.httpClient ?? defaultHttpClient(single, options);
  const curl = client === 'curl' ? await findCurl(env.CURL_BIN || 'curl') : undefined;
  if (options.ocspProxy !== undefined && client === 'openssl' && !openssl.supportsProxy) {
    throw new RunError(`--ocsp-proxy needs OpenSSL 3.0 or later (found ${openssl.version.text}); add --use-curl`);
  }
  const httpClient: ResponderClient =
    curl !== undefined
      ? { kind: 'curl', binary: curl }
      : client === 'builtin'
        ? { kind: 'builtin', connections: await keptAliveConnections(), getFirst: !single && !options.post }
        : { kind: 'openssl' };
  const tools = {
    openssl,
    httpClient,
    sharedFiles: sharedTempFilesIn(tempDir),
    throttleResponder: createKeyedLimiter(REQUESTS_PER_RESPONDER),
  };
  return { options, io, log, tempDir, inputs, tools };
}

/** The built-in client, loaded only when a run uses it: node:http would cost every single run a few milliseconds. */
async function keptAliveConnections() {
  const { KeptAliveConnections } = await import('../responder/http-client.ts');
  return new KeptAliveConnections(REQUESTS_PER_RESPONDER);
}

/** Ends what a run keeps open between certificates: the built-in client's connections. */
export function endRun(run: Run): void {
  if (run.tools.httpClient.kind === 'builtin') run.tools.httpClient.connections.close();
}

/** A run of one `--cert` behaves exactly as the original; anything more is a batch. */
export function isSingleRun(inputs: readonly CertificateInput[], options: CliOptions): boolean {
  return inputs.length === 1 && options.dirs.length === 0 && options.crtLists.length === 0;
}

/**
 * A single `--cert` asks through OpenSSL's client, as the original did; a
 * batch, and `--get` (which OpenSSL's client cannot send), through the
 * built-in one, whose kept-alive connections save a round trip per request.
 */
function defaultHttpClient(single: boolean, options: CliOptions): 'openssl' | 'builtin' {
  return single && !options.get ? 'openssl' : 'builtin';
}

async function findCertificates(options: CliOptions): Promise<CertificateInput[]> {
  let inputs: CertificateInput[];
  try {
    inputs = await collectCertificates({
      certs: options.certs,
      dirs: options.dirs,
      crtLists: options.crtLists,
      crtBase: options.crtBase,
    });
  } catch (error) {
    if (error instanceof CertificateSourceError) throw new RunError(error.message);
    throw error;
  }
  if (options.certs.length === 0 && options.dirs.length === 0 && options.crtLists.length === 0) {
    throw new RunError('certificate not provided (--cert argument)');
  }
  if (inputs.length === 0) throw new RunError('no certificate found in the given --dir and --crt-list');
  return inputs;
}

async function findCurl(binary: string): Promise<string> {
  const probe = await run(binary, ['--version']);
  if (probe.exitCode !== 0 || !probe.stdout.startsWith('curl')) {
    throw new RunError('curl binary not found; adjust CURL_BIN variable in the script');
  }
  return binary;
}

/** What differs from one certificate's update context to the next, or between an update and a check. */
type CertificateSide = Pick<
  UpdateContext,
  'log' | 'tempDir' | 'haproxy' | 'now' | 'verifiedChains' | 'responderChains'
>;

/** One certificate's update context: the run's tools with the certificate's own log, directory, clock and HAProxy. */
export function certificateContext(tools: RunTools, own: CertificateSide): UpdateContext {
  return { ...tools, ...own, retryDelayMs: defaultRetryDelayMs };
}

/** The update's options for CERT, as the command line set them. */
export function updateOptionsFor(cert: string, options: CliOptions): UpdateOptions {
  return {
    cert,
    dryRun: options.debug,
    goodOnly: options.goodOnly,
    ocspUrl: options.ocspUrl,
    ocspHost: options.ocspHost,
    ocspProxy: options.ocspProxy,
    partialChain: options.partialChain,
    vaFile: options.vaFile === '-' ? { useChain: true } : options.vaFile,
    verify: options.verify,
    skipUpdate: options.skipUpdate,
    timeoutSeconds: options.timeoutSeconds,
    retries: options.retries,
    lockTimeoutSeconds: options.lockTimeoutSeconds,
    deadlineSeconds: options.deadlineSeconds,
    skipFresh: options.skipFresh,
    nonce: options.nonce,
    get: options.get,
  };
}
