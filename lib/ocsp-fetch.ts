import { rmSync } from 'node:fs';
import { run, type CommandResult } from './exec.ts';
import { FileReadError, formatByteCount, OCSP_RESPONSE_MAX_BYTES, readRegularFileSync } from './files.ts';
import type { Openssl, Verification } from './openssl.ts';
import { describeFetchFailure } from './openssl-output.ts';

export interface Responder {
  readonly url: string;
  /** `--ocsp-host`: the Host header to send instead of the URL's own. */
  readonly hostHeader?: string;
  readonly proxy?: string;
}

export interface FetchFiles {
  readonly issuer: string;
  readonly cert: string;
  readonly request: string;
  readonly response: string;
}

export interface FetchSettings {
  readonly partialChain: boolean;
  readonly timeoutSeconds: number;
  /** The curl binary when `--use-curl` is set. */
  readonly curl?: string;
  /** How OpenSSL's client judges the answer in the same process. */
  readonly verification: Verification;
  /** Stops the exchange when the certificate's deadline passes. */
  readonly signal?: AbortSignal;
}

export interface Fetched {
  readonly body: Buffer;
  /** OpenSSL's verdict on the answer when its client fetched it; curl leaves that to a separate check. */
  readonly verdict?: CommandResult;
}

/** The responder gave no OCSP response; `transient` failures are worth retrying. */
export class FetchError extends Error {
  constructor(
    readonly reason: string,
    readonly transient: boolean,
  ) {
    super(reason);
    this.name = 'FetchError';
  }
}

/** The request could not even be built (bad chain or certificate). */
export class RequestError extends Error {}

/** Step 9: asks the responder about the EE and returns the body of its answer. */
export async function fetchOcspResponse(
  openssl: Openssl,
  responder: Responder,
  files: FetchFiles,
  settings: FetchSettings,
): Promise<Fetched> {
  rmSync(files.response, { force: true });
  if (settings.curl !== undefined) {
    return { body: await fetchWithCurl(openssl, settings.curl, responder, files, settings) };
  }
  const fetched = await openssl.fetchResponse({
    issuer: files.issuer,
    cert: files.cert,
    partialChain: settings.partialChain,
    url: responder.url,
    hostHeader: responder.hostHeader,
    proxy: responder.proxy,
    responseOut: files.response,
    timeoutSeconds: settings.timeoutSeconds,
    verification: settings.verification,
    signal: settings.signal,
  });
  // openssl saves a response before judging it, so a `tryLater` answer or
  // one that fails verification is on disk even though openssl exits 1.
  const body = readSavedResponse(files.response);
  if (body !== undefined && body.length > 0) return { body, verdict: fetched };
  const failure = describeFetchFailure(fetched.stderr);
  throw new FetchError(failure.reason, failure.transient);
}

const CURL_TIMEOUT = 28;
const CURL_CONNECT_FAILED = 7;
const CURL_RESOLVE_FAILED = 6;

async function fetchWithCurl(
  openssl: Openssl,
  curl: string,
  responder: Responder,
  files: FetchFiles,
  settings: FetchSettings,
): Promise<Buffer> {
  const request = await openssl.writeRequest({
    issuer: files.issuer,
    cert: files.cert,
    partialChain: settings.partialChain,
    requestOut: files.request,
    signal: settings.signal,
  });
  if (request.exitCode !== 0) throw new RequestError("can't create the OCSP request");
  const fetched = await run(
    curl,
    [
      '--silent',
      '--show-error',
      '--max-time',
      String(settings.timeoutSeconds),
      '--header',
      'Content-Type: application/ocsp-request',
      ...(responder.hostHeader === undefined ? [] : ['--header', `Host: ${responder.hostHeader}`]),
      ...(responder.proxy === undefined ? [] : ['--proxy', responder.proxy]),
      '--data-binary',
      `@${files.request}`,
      '--output',
      files.response,
      '--write-out',
      '%{http_code} %{content_type}',
      responder.url,
    ],
    // It waits on the network: a run killed meanwhile must not leave it behind.
    { signal: settings.signal, dieWithParent: true },
  );
  switch (fetched.exitCode) {
    case 0:
      break;
    case CURL_TIMEOUT:
      throw new FetchError('no answer before the timeout', true);
    case CURL_CONNECT_FAILED:
      throw new FetchError('could not connect', true);
    case CURL_RESOLVE_FAILED:
      throw new FetchError('could not resolve the host name', true);
    default:
      throw new FetchError(fetched.stderr.trim().split('\n')[0] || `curl exited with ${fetched.exitCode}`, true);
  }
  const [status = '', ...contentTypeWords] = fetched.stdout.trim().split(' ');
  const contentType = contentTypeWords.join(' ').split(';')[0]!.trim();
  if (status !== '200') throw new FetchError(`HTTP ${status}`, status.startsWith('5'));
  const body = readSavedResponse(files.response) ?? Buffer.alloc(0);
  if (body.length === 0) throw new FetchError('an empty body instead of an OCSP response', false);
  if (/^text\//i.test(contentType)) throw new FetchError(`a ${contentType} body instead of an OCSP response`, false);
  return body;
}

/** The `host[:port]` part of an http(s) URL, as it would appear in a Host header. */
export function hostOfUrl(url: string): string {
  return url.split('/')[2] ?? '';
}

export const isHttpUrl = (url: string): boolean => /^https?:\/\//i.test(url);

/** The answer openssl or curl saved, `undefined` when there is none; one larger than any response is refused. */
function readSavedResponse(path: string): Buffer | undefined {
  try {
    return readRegularFileSync(path, { maxBytes: OCSP_RESPONSE_MAX_BYTES }).bytes;
  } catch (error) {
    if (!(error instanceof FileReadError)) throw error;
    if (error.problem.kind === 'too-large') {
      throw new FetchError(
        `a body larger than ${formatByteCount(OCSP_RESPONSE_MAX_BYTES)} instead of an OCSP response`,
        false,
      );
    }
    return undefined;
  }
}
