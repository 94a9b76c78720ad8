import http from 'node:http';
import { OCSP_RESPONSE_MAX_BYTES } from '../fs/caps.ts';
import { clipForeignText, oversizedResponse, systemErrorReason } from '../openssl/output.ts';
import { connectFailure, EMPTY_BODY, FetchError, NO_ANSWER, NotOcspAnswerError, textBody } from './errors.ts';

/** One request of the built-in client: a POST of the DER request, or a GET whose URL carries it. */
interface HttpExchange {
  /** The absolute http:// URL asked, the encoded request appended for a GET. */
  readonly url: string;
  readonly method: 'GET' | 'POST';
  /** The DER request, for a POST. */
  readonly body?: Buffer;
  /** `--ocsp-host`: the Host header to send instead of the URL's own. */
  readonly hostHeader?: string;
  /** `--ocsp-proxy`, an http:// URL: the request goes there in absolute form. */
  readonly proxy?: string;
  readonly timeoutMs: number;
  /** Stops the exchange when the certificate's deadline passes. */
  readonly signal?: AbortSignal;
}

/**
 * The built-in HTTP/1.1 client of a batch: its connections to each responder
 * host (or proxy) are kept alive for the whole run, so that after the first
 * request to a host each costs one round trip instead of two (TCP's
 * handshake), and no process is started to carry it. Requests per host are
 * capped by the caller; `maxSockets` only keeps the pool as small.
 */
export class KeptAliveConnections {
  readonly #agent: http.Agent;
  /** Responder hosts that answered a GET with anything but an OCSP response: asked by POST for the rest of the run. */
  readonly refusedGet = new Set<string>();

  constructor(maxPerHost: number) {
    // lifo: the connection used last is the one least likely to have been closed by the server meanwhile.
    this.#agent = new http.Agent({ keepAlive: true, maxSockets: maxPerHost, scheduling: 'lifo' });
  }

  /** The body of a 200 answer that may be an OCSP response; anything else is a FetchError. */
  async exchange(exchange: HttpExchange): Promise<Buffer> {
    try {
      return await this.#once(exchange);
    } catch (error) {
      // A server may close an idle kept-alive connection just as a request
      // goes out on it: that request was never answered, so it is sent once
      // more, on a new connection.
      if (!(error instanceof StaleConnectionError)) throw error;
      return this.#once(exchange, true);
    }
  }

  /** Closes every connection: the run is over. */
  close(): void {
    this.#agent.destroy();
  }

  #once(exchange: HttpExchange, freshConnection = false): Promise<Buffer> {
    const target = new URL(exchange.url);
    const via = exchange.proxy === undefined ? undefined : new URL(exchange.proxy);
    const server = via ?? target;
    const failure = (reason: string, transient: boolean, connecting = false) =>
      new FetchError(connecting ? connectFailure(reason, exchange.proxy) : reason, transient);
    // The server answered, with something other than an OCSP response.
    const notOcsp = (reason: string, transient = false) => new NotOcspAnswerError(reason, transient);
    return new Promise<Buffer>((resolve, reject) => {
      let settled = false;
      const settle = (outcome: Buffer | Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        exchange.signal?.removeEventListener('abort', onAbort);
        if (outcome instanceof Error) {
          request.destroy();
          reject(outcome);
        } else {
          resolve(outcome);
        }
      };
      const request = http.request({
        agent: freshConnection ? false : this.#agent,
        host: server.hostname.replace(/^\[|\]$/g, ''),
        port: server.port === '' ? 80 : Number(server.port),
        method: exchange.method,
        // Through a proxy the request line names the whole URL.
        path: via === undefined ? `${target.pathname}${target.search}` : exchange.url,
        headers: {
          Host: exchange.hostHeader ?? target.host,
          ...(exchange.body !== undefined && {
            'Content-Type': 'application/ocsp-request',
            'Content-Length': exchange.body.length,
          }),
        },
      });
      const timer = setTimeout(() => settle(new FetchError(NO_ANSWER, true)), exchange.timeoutMs);
      const onAbort = () => settle(new FetchError(NO_ANSWER, true));
      exchange.signal?.addEventListener('abort', onAbort, { once: true });
      if (exchange.signal?.aborted) onAbort();

      request.on('error', (error: NodeJS.ErrnoException) => {
        const stale = request.reusedSocket && (error.code === 'ECONNRESET' || error.code === 'EPIPE');
        if (stale) settle(new StaleConnectionError());
        else settle(describeRequestError(error, failure));
      });
      request.on('response', (response) => {
        const status = response.statusCode ?? 0;
        if (status !== 200) {
          const reason = `HTTP ${status} ${clipForeignText(response.statusMessage ?? '')}`.trim();
          settle(notOcsp(reason, status >= 500));
          return;
        }
        const contentType = clipForeignText((response.headers['content-type'] ?? '').split(';')[0]!);
        if (/^text\//i.test(contentType)) {
          settle(notOcsp(textBody(contentType)));
          return;
        }
        const declared = Number(response.headers['content-length'] ?? 0);
        if (declared > OCSP_RESPONSE_MAX_BYTES) {
          settle(notOcsp(oversizedResponse(OCSP_RESPONSE_MAX_BYTES)));
          return;
        }
        const chunks: Buffer[] = [];
        let received = 0;
        response.on('data', (chunk: Buffer) => {
          received += chunk.length;
          if (received > OCSP_RESPONSE_MAX_BYTES) settle(notOcsp(oversizedResponse(OCSP_RESPONSE_MAX_BYTES)));
          else chunks.push(chunk);
        });
        response.on('error', () => settle(notOcsp(TRUNCATED)));
        response.on('end', () => {
          if (!response.complete) settle(notOcsp(TRUNCATED));
          else if (received === 0) settle(notOcsp(EMPTY_BODY));
          else settle(Buffer.concat(chunks));
        });
      });
      request.end(exchange.body);
    });
  }
}

const TRUNCATED = 'an empty or truncated body instead of an OCSP response';

/** A request that went out on a kept-alive connection the server had just closed. */
class StaleConnectionError extends Error {}

/** The C library's words for the errors a connect or an exchange may end with, by code. */
const systemErrors: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'Connection refused',
  ECONNRESET: 'Connection reset by peer',
  EHOSTUNREACH: 'No route to host',
  ENETUNREACH: 'Network is unreachable',
  ETIMEDOUT: 'Connection timed out',
  EPIPE: 'Broken pipe',
};

/** Errors that happen before the connection exists, and so are the proxy's when there is one. */
const connectCodes = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN']);

function describeRequestError(
  error: NodeJS.ErrnoException,
  failure: (reason: string, transient: boolean, connecting?: boolean) => FetchError,
): FetchError {
  const code = error.code ?? '';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return failure('could not resolve the host name', true, true);
  // Node's HTTP parser names what it could not read: HPE_INVALID_CONSTANT, HPE_HEADER_OVERFLOW…
  if (code.startsWith('HPE_')) return failure('a malformed HTTP answer', false);
  // Node's words (code ECONNRESET) for a server that closed the connection without answering.
  if (error.message === 'socket hang up') return failure('the connection was closed without an answer', true);
  const said = systemErrors[code];
  if (said !== undefined) return failure(systemErrorReason(said), true, connectCodes.has(code));
  return failure(clipForeignText(error.message), true);
}
