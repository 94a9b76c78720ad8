import { rmSync, writeFileSync } from 'node:fs';
import { DerError } from '../pki/der.ts';
import { encodeOcspRequest, newRequestNonce, readRequestNonce } from '../pki/ocsp-request.ts';
import { OcspParseError, parseOcspResponse } from '../pki/ocsp-response.ts';
import { runForBytes, type CommandResult } from '../process/run.ts';
import { OCSP_RESPONSE_MAX_BYTES } from '../fs/caps.ts';
import { FileReadError, readRegularFileSync } from '../fs/read.ts';
import type { OpensslRunner, Verification } from '../openssl/openssl.ts';
import { clipForeignText, describeFetchFailure, oversizedResponse, systemErrorReason } from '../openssl/output.ts';
import type { Log } from '../util/log.ts';
import {
  connectFailure,
  EMPTY_BODY,
  FetchError,
  NO_ANSWER,
  NotOcspAnswerError,
  RequestError,
  textBody,
} from './errors.ts';
import type { KeptAliveConnections } from './http-client.ts';

export interface Responder {
  readonly url: string;
  /** `--ocsp-host`: the Host header to send instead of the URL's own. */
  readonly hostHeader?: string;
  readonly proxy?: string;
}

/**
 * Who carries the request: OpenSSL's client (the original's, and a single
 * `--cert`'s default), curl (`--use-curl`), or the built-in client that keeps
 * its connections alive across a batch.
 */
export type ResponderClient =
  | { readonly kind: 'openssl' }
  | { readonly kind: 'curl'; readonly binary: string }
  | {
      readonly kind: 'builtin';
      readonly connections: KeptAliveConnections;
      /** A batch's default: GET first, where the responder host has not refused one this run. */
      readonly getFirst: boolean;
    };

interface FetchFiles {
  readonly issuer: string;
  readonly cert: string;
  readonly request: string;
  readonly response: string;
}

interface FetchSettings {
  readonly partialChain: boolean;
  /** `--nonce`: the request carries a nonce, which the response must echo. */
  readonly nonce: boolean;
  /** `--get`: ask with GET (RFC 5019) when the request fits in the URL, POST when that fails. */
  readonly get: boolean;
  readonly timeoutSeconds: number;
  readonly client: ResponderClient;
  /** The certificate's CertID, from which the built-in client encodes its request. */
  readonly certIdDer: Buffer;
  /** How OpenSSL's client judges the answer in the same process. */
  readonly verification: Verification;
  /** Stops the exchange when the certificate's deadline passes. */
  readonly signal?: AbortSignal;
  readonly log: Log;
}

export interface Fetched {
  readonly body: Buffer;
  /** OpenSSL's verdict on the answer when its client fetched it; the other clients leave that to a separate check. */
  readonly verdict?: CommandResult;
  /** With `--nonce`, the nonce the request carried, for the response to echo. */
  readonly sentNonce?: Buffer;
}

/** Fetch: asks the responder about the EE and returns the body of its answer. */
export async function fetchOcspResponse(
  openssl: OpensslRunner,
  responder: Responder,
  files: FetchFiles,
  settings: FetchSettings,
): Promise<Fetched> {
  rmSync(files.response, { force: true });
  // An earlier attempt's request must not pass for this one's.
  rmSync(files.request, { force: true });
  const { client } = settings;
  if (client.kind === 'builtin' && carriesBuiltin(responder)) {
    return fetchBuiltin(client, responder, files, settings);
  }
  if (client.kind === 'builtin') {
    settings.log.debug(`The built-in HTTP client speaks plain http:// only: OpenSSL's client asks ${responder.url}`);
  }
  if (client.kind === 'curl') {
    const body = await fetchWithCurl(openssl, client.binary, responder, files, settings);
    return { body, ...sentNonceOf(files.request, settings) };
  }
  const fetched = await openssl.fetchResponse({
    issuer: files.issuer,
    cert: files.cert,
    partialChain: settings.partialChain,
    nonce: settings.nonce,
    // Only with a nonce is there anything in the request to read back.
    requestOut: settings.nonce ? files.request : undefined,
    url: responder.url,
    hostHeader: responder.hostHeader,
    proxy: responder.proxy,
    responseOut: files.response,
    timeoutSeconds: settings.timeoutSeconds,
    verification: settings.verification,
    signal: settings.signal,
  });
  if (fetched.stopped === 'timeout') throw new FetchError(NO_ANSWER, true);
  // openssl saves a response before judging it, so a `tryLater` answer or
  // one that fails verification is on disk even though openssl exits 1.
  const body = readSavedResponse(files.response);
  if (body !== undefined && body.length > 0) return { body, verdict: fetched, ...sentNonceOf(files.request, settings) };
  const failure = describeFetchFailure(fetched.stderr);
  throw new FetchError(viaProxy(failure.reason, failure.connecting, responder), failure.transient);
}

/** Through a proxy, a connection that failed is the proxy's. */
function viaProxy(reason: string, connecting: boolean, responder: Responder): string {
  return connecting ? connectFailure(reason, responder.proxy) : reason;
}

const CURL_COULD_NOT_RESOLVE_PROXY = 5;
const CURL_COULD_NOT_RESOLVE_HOST = 6;
const CURL_COULD_NOT_CONNECT = 7;
const CURL_TIMEOUT = 28;
const CURL_FILE_TOO_LARGE = 63;

/**
 * What curl may print besides the body: its verbose log on stderr (which
 * names why a connect failed) and the status line written after the body.
 */
const CURL_LOG_ALLOWANCE = 16 * 1024;

async function fetchWithCurl(
  openssl: OpensslRunner,
  curl: string,
  responder: Responder,
  files: FetchFiles,
  settings: FetchSettings,
): Promise<Buffer> {
  const request = await openssl.writeRequest({
    issuer: files.issuer,
    cert: files.cert,
    partialChain: settings.partialChain,
    nonce: settings.nonce,
    requestOut: files.request,
    signal: settings.signal,
  });
  if (request.exitCode !== 0) throw new RequestError("can't create the OCSP request");
  const der = settings.get
    ? readRegularFileSync(files.request, { maxBytes: OCSP_RESPONSE_MAX_BYTES }).bytes
    : undefined;
  const body = await withGetFirst(der, responder.url, settings.get, settings.log, (method, url) =>
    curlExchange(curl, method, url, responder, files.request, settings),
  );
  // For the check that follows (`openssl ocsp -respin`).
  writeFileSync(files.response, body);
  return body;
}

/** One request through curl: a POST of the request file, or a GET of URL. */
async function curlExchange(
  curl: string,
  method: 'GET' | 'POST',
  url: string,
  responder: Responder,
  requestFile: string,
  settings: FetchSettings,
): Promise<Buffer> {
  // The body comes through a pipe, never into a file: an endless one is
  // stopped past the limit instead of filling the disk.
  const fetched = await runForBytes(
    curl,
    [
      '--silent',
      '--show-error',
      // Only the verbose log says why a connect failed ("Connection refused").
      '--verbose',
      '--max-time',
      String(settings.timeoutSeconds),
      '--max-filesize',
      String(OCSP_RESPONSE_MAX_BYTES),
      ...(method === 'POST'
        ? ['--header', 'Content-Type: application/ocsp-request', '--data-binary', `@${requestFile}`]
        : []),
      ...(responder.hostHeader === undefined ? [] : ['--header', `Host: ${responder.hostHeader}`]),
      ...(responder.proxy === undefined ? [] : ['--proxy', responder.proxy]),
      '--output',
      '-',
      // After the body, on a line of its own: a header value holds no line feed.
      '--write-out',
      '\n%{http_code} %{content_type}',
      url,
    ],
    {
      signal: settings.signal,
      maxOutputBytes: OCSP_RESPONSE_MAX_BYTES + CURL_LOG_ALLOWANCE,
      // It waits on the network: a run killed meanwhile must not leave it behind.
      dieWithParent: true,
    },
  );
  const oversized = new NotOcspAnswerError(oversizedResponse(OCSP_RESPONSE_MAX_BYTES), false);
  if (fetched.stopped === 'output-limit') throw oversized;
  switch (fetched.exitCode) {
    case 0:
      break;
    case CURL_TIMEOUT:
      throw new FetchError(NO_ANSWER, true);
    case CURL_COULD_NOT_CONNECT:
      throw new FetchError(viaProxy(curlConnectFailure(fetched.stderr), true, responder), true);
    case CURL_COULD_NOT_RESOLVE_HOST:
      throw new FetchError('could not resolve the host name', true);
    case CURL_COULD_NOT_RESOLVE_PROXY:
      throw new FetchError(viaProxy('could not resolve the host name', true, responder), true);
    case CURL_FILE_TOO_LARGE:
      throw oversized;
    default:
      throw new FetchError(curlError(fetched.stderr) ?? `curl exited with ${fetched.exitCode}`, true);
  }
  const output = fetched.stdoutBytes;
  const statusStart = output.lastIndexOf(0x0a);
  const body = output.subarray(0, Math.max(statusStart, 0));
  const [status = '', ...contentTypeWords] = output
    .subarray(statusStart + 1)
    .toString('latin1')
    .trim()
    .split(' ');
  const contentType = clipForeignText(contentTypeWords.join(' ').split(';')[0]!);
  if (status !== '200') throw new NotOcspAnswerError(`HTTP ${status}`, status.startsWith('5'));
  if (body.length > OCSP_RESPONSE_MAX_BYTES) throw oversized;
  if (body.length === 0) throw new NotOcspAnswerError(EMPTY_BODY, false);
  if (/^text\//i.test(contentType)) {
    throw new NotOcspAnswerError(textBody(contentType), false);
  }
  return body;
}

/** Whether the built-in client can carry a request to RESPONDER: plain http, directly or through an http proxy. */
function carriesBuiltin(responder: Responder): boolean {
  const plainHttp = (url: string) => /^http:\/\//i.test(url);
  return plainHttp(responder.url) && (responder.proxy === undefined || plainHttp(responder.proxy));
}

/**
 * Fetch through the built-in client: the request is encoded here (no openssl
 * process) and goes out on a kept-alive connection; openssl judges the
 * answer afterwards, as it does curl's.
 */
async function fetchBuiltin(
  { connections, getFirst }: Extract<ResponderClient, { kind: 'builtin' }>,
  responder: Responder,
  files: FetchFiles,
  settings: FetchSettings,
): Promise<Fetched> {
  const sentNonce = settings.nonce ? newRequestNonce() : undefined;
  const der = encodeOcspRequest(settings.certIdDer, sentNonce);
  const host = hostOfUrl(responder.url);
  const get = settings.get || (getFirst && !connections.refusedGet.has(host));
  const body = await withGetFirst(
    der,
    responder.url,
    get,
    settings.log,
    (method, url) =>
      connections.exchange({
        url,
        method,
        ...(method === 'POST' && { body: der }),
        hostHeader: responder.hostHeader,
        proxy: responder.proxy,
        timeoutMs: settings.timeoutSeconds * 1000,
        signal: settings.signal,
      }),
    () => connections.refusedGet.add(host),
  );
  // For the check that follows (`openssl ocsp -respin`).
  writeFileSync(files.response, body);
  return { body, ...(sentNonce !== undefined && { sentNonce }) };
}

/** RFC 5019: a request goes by GET only when the whole URL, request included, is at most this long. */
const GET_URL_MAX_LENGTH = 255;

/**
 * The GET URL for request DER (RFC 6960 appendix A.1): the base64 of the DER,
 * URL-encoded, after the responder's URL and one slash; undefined when it
 * would be too long for a GET.
 */
function getUrlFor(url: string, der: Buffer): string | undefined {
  const getUrl = `${url.endsWith('/') ? url : `${url}/`}${encodeURIComponent(der.toString('base64'))}`;
  return getUrl.length <= GET_URL_MAX_LENGTH ? getUrl : undefined;
}

/**
 * With GET, asks by GET first when the request fits in the URL, and again by
 * POST when the server answers that GET with anything but an OCSP response it
 * could read (an error status, a text body, `malformedRequest`): many
 * responders take POST only, and REFUSED hears of it. A GET that got no
 * answer at all is not repeated: a POST would fare no better.
 */
async function withGetFirst(
  der: Buffer | undefined,
  url: string,
  get: boolean,
  log: Log,
  ask: (method: 'GET' | 'POST', url: string) => Promise<Buffer>,
  refused?: () => void,
): Promise<Buffer> {
  const getUrl = der === undefined || !get ? undefined : getUrlFor(url, der);
  if (getUrl === undefined) {
    if (get) log.debug(`OCSP request too long for a GET (over ${GET_URL_MAX_LENGTH} bytes): sent with POST`);
    return ask('POST', url);
  }
  let why: string;
  try {
    const body = await ask('GET', getUrl);
    why = unreadableByGet(body) ?? '';
    if (why === '') return body;
  } catch (error) {
    if (!(error instanceof NotOcspAnswerError)) throw error;
    why = error.reason;
  }
  log.debug(`OCSP request with GET answered ${why}; asking again with POST`);
  refused?.();
  return ask('POST', url);
}

/** Why a GET's answer shows the responder could not take the request that way, if it does. */
function unreadableByGet(body: Buffer): string | undefined {
  try {
    const response = parseOcspResponse(body);
    return response.responseStatus === 'malformedRequest' ? 'malformedRequest' : undefined;
  } catch (error) {
    if (!(error instanceof OcspParseError)) throw error;
    return 'a body that is not an OCSP response';
  }
}

/**
 * Why curl could not connect, from its verbose log: `* connect to 127.0.0.1
 * port 1 failed: Connection refused` (7.x), `… from 127.0.0.1 port 4711
 * failed: …` (8.x), `* Immediate connect fail for 10.0.0.1: No route to host`.
 */
function curlConnectFailure(log: string): string {
  const said = /^\* (?:connect to .* failed|Immediate connect fail for .*): (.+)$/m.exec(log)?.[1];
  return said === undefined ? 'could not connect' : systemErrorReason(said);
}

/** curl's own error line, `curl: (56) Recv failure: Connection reset by peer`, without its prefix. */
function curlError(log: string): string | undefined {
  const said = /^curl: \(\d+\) (.+)$/m.exec(log)?.[1];
  return said === undefined ? undefined : clipForeignText(said);
}

/** The `host[:port]` part of an http(s) URL, as it would appear in a Host header. */
export function hostOfUrl(url: string): string {
  return url.split('/')[2] ?? '';
}

/**
 * An http(s) URL as a certificate or the command line may give it: nothing
 * after the scheme but printable ASCII, no space. A control character there
 * would reach openssl's request line and every message that names the URL.
 */
export const isHttpUrl = (url: string): boolean => /^https?:\/\/[\x21-\x7e]+$/i.test(url);

/**
 * With `--nonce`, the nonce of the request openssl wrote to REQUEST and sent.
 * openssl adds one unless told not to; a request without one, or none at
 * all, means this openssl did not do what it was asked.
 */
function sentNonceOf(request: string, settings: FetchSettings): Pick<Fetched, 'sentNonce'> {
  if (!settings.nonce) return {};
  let nonce: Buffer | undefined;
  try {
    nonce = readRequestNonce(readRegularFileSync(request, { maxBytes: OCSP_RESPONSE_MAX_BYTES }).bytes);
  } catch (error) {
    if (!(error instanceof FileReadError || error instanceof DerError)) throw error;
    throw new RequestError(`can't create the OCSP request with a nonce (openssl wrote no readable request)`);
  }
  if (nonce === undefined) throw new RequestError("can't create the OCSP request with a nonce (openssl added none)");
  return { sentNonce: nonce };
}

/** The answer openssl or curl saved, `undefined` when there is none; one larger than any response is refused. */
function readSavedResponse(path: string): Buffer | undefined {
  try {
    return readRegularFileSync(path, { maxBytes: OCSP_RESPONSE_MAX_BYTES }).bytes;
  } catch (error) {
    if (!(error instanceof FileReadError)) throw error;
    if (error.problem.kind === 'too-large') throw new FetchError(oversizedResponse(OCSP_RESPONSE_MAX_BYTES), false);
    return undefined;
  }
}
