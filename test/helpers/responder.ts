import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { Socket, type AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { parseDer, UniversalTag } from '../../lib/pki/der.ts';
import { readSequence } from '../../lib/pki/der-readers.ts';
import { readRequestNonce } from '../../lib/pki/ocsp-request.ts';
import { encodeElement } from './der-encode.ts';

export interface OcspResponderOptions {
  /** 0 (the default) lets the kernel pick a free port; the real one is reported back. */
  readonly port?: number;
  /** An `openssl ca` database; later changes are seen one request late (see below). */
  readonly index: string;
  /** The issuer of the certificates listed in `index`. */
  readonly ca: string;
  readonly signerCert: string;
  readonly signerKey: string;
  /** Next Update = now + nmin minutes; 7 days when not given. */
  readonly nmin?: number;
  /** Responses without a Next Update field at all. */
  readonly omitNextUpdate?: boolean;
  /** `-resp_no_certs`: the signer's certificate is left out of the responses. */
  readonly noCerts?: boolean;
}

export interface OcspResponder {
  /** `http://127.0.0.1:PORT/`; the responder listens on every address. */
  readonly url: string;
  readonly port: number;
  /** The first line of each request received, e.g. `POST / HTTP/1.0`, in order. */
  readonly requests: readonly string[];
  stop(): Promise<void>;
}

const startupTimeoutMs = 10_000;
// The port is printed on stdout, the rest on stderr.
const acceptLine = /^ACCEPT \S+:(\d+) PID=\d+$/;
const readyLine = 'ocsp: waiting for OCSP client connections...';
const requestLine = /^ocsp: Received request, 1st line: (.*)$/;

/**
 * Runs `openssl ocsp` as an OCSP responder and resolves once it accepts
 * connections.
 *
 * OpenSSL 3.0 reloads a changed index only after serving one more request
 * from the old one, so write the index completely before starting.
 */
export async function startOcspResponder(options: OcspResponderOptions): Promise<OcspResponder> {
  const validity = options.omitNextUpdate
    ? []
    : options.nmin === undefined
      ? ['-ndays', '7']
      : ['-nmin', String(options.nmin)];
  const args = [
    'ocsp',
    '-port',
    String(options.port ?? 0),
    '-index',
    options.index,
    '-CA',
    options.ca,
    '-rsigner',
    options.signerCert,
    '-rkey',
    options.signerKey,
    ...validity,
    ...(options.noCerts ? ['-resp_no_certs'] : []),
    // Without it the responder exits on the first malformed request.
    '-ignore_err',
  ];
  const child = spawnTiedToThisProcess('openssl', args);
  const output: string[] = [];
  const requests: string[] = [];
  let acceptedPort: number | undefined;
  let listening = false;
  const lines = (stream: Readable) => createInterface({ input: stream, crlfDelay: Infinity });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const port = await new Promise<number>((resolve, reject) => {
    const fail = (reason: string) => {
      clearTimeout(timer);
      child.kill();
      reject(new Error(`openssl ocsp ${reason}:\n${output.join('\n')}`));
    };
    const timer = setTimeout(() => fail(`not ready after ${startupTimeoutMs} ms`), startupTimeoutMs);
    const onLine = (line: string) => {
      output.push(line);
      const accepted = acceptLine.exec(line);
      if (accepted) acceptedPort = Number(accepted[1]);
      if (line === readyLine) listening = true;
      const request = requestLine.exec(line);
      if (request) requests.push(request[1]);
      if (acceptedPort !== undefined && listening) {
        clearTimeout(timer);
        child.off('close', onEarlyExit);
        resolve(acceptedPort);
      }
    };
    const onEarlyExit = (code: number | null) => fail(`exited (${code}) before accepting connections`);
    lines(child.stdout).on('line', onLine);
    lines(child.stderr).on('line', onLine);
    child.once('close', onEarlyExit);
    child.once('error', (error) => fail(`could not be started: ${error.message}`));
  });
  unrefAll(child);

  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    requests,
    async stop() {
      // Unreferenced, it would not keep this process alive until it is gone.
      child.ref();
      child.kill();
      await exited;
    },
  };
}

/**
 * A crashed or timed-out test file must not leave responders listening
 * forever, so the kernel sends them SIGTERM when this process dies.
 */
function spawnTiedToThisProcess(program: string, args: readonly string[]) {
  return spawn('setpriv', ['--pdeathsig', 'TERM', program, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function unrefAll(child: ChildProcess): void {
  child.unref();
  for (const stream of [child.stdout, child.stderr]) {
    if (stream instanceof Socket) stream.unref();
  }
}

interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  readonly httpVersion: string;
  /** Header names in lower case; repeated headers are joined (see rawHeaders). */
  readonly headers: http.IncomingHttpHeaders;
  /** Names and values alternating, as received: shows duplicates and spelling. */
  readonly rawHeaders: readonly string[];
  readonly body: Buffer;
}

type FakeReply =
  /** Status 200 and `Content-Type: application/ocsp-response` unless given. */
  | { readonly status?: number; readonly headers?: Readonly<Record<string, string>>; readonly body?: Buffer | string }
  /** Written to the connection as is, which is then closed: for malformed HTTP. */
  | { readonly raw: Buffer | string }
  /** A 200 OCSP-typed body sent in pieces with no Content-Length, so that the client cannot know its size beforehand. */
  | { readonly streamed: StreamedBody }
  /** Never answered; the connection stays open until close(). */
  | 'hang';

interface StreamedBody {
  /** The body's first bytes (an ASN.1 header, say); the rest is filler. */
  readonly start?: Buffer;
  /** How much is sent at most, start included: as good as endless when the client must stop first. */
  readonly bytes: number;
  /** The body ends after this long even if the client is still reading. */
  readonly maxMs: number;
}

export type FakeHandler = (request: RecordedRequest) => FakeReply | Promise<FakeReply>;

/** The DER OCSP request REQUEST carries: a POST's body, or a GET's last path segment (RFC 6960 appendix A.1). */
export function ocspRequestOf(request: RecordedRequest): Buffer {
  if (request.method !== 'GET') return request.body;
  return Buffer.from(decodeURIComponent(request.url.slice(request.url.lastIndexOf('/') + 1)), 'base64');
}

/** What the real responder at UPSTREAM answers to the OCSP request REQUEST carries, asked by POST. */
export async function answerOf(upstream: string, request: RecordedRequest): Promise<{ body: Buffer }> {
  const answer = await fetch(upstream, {
    method: 'POST',
    headers: { 'Content-Type': 'application/ocsp-request' },
    body: new Uint8Array(ocspRequestOf(request)),
  });
  return { body: Buffer.from(await answer.arrayBuffer()) };
}

export interface FakeHttpServer {
  /** `http://127.0.0.1:PORT/` */
  readonly url: string;
  readonly port: number;
  readonly requests: readonly RecordedRequest[];
  /** Bytes of streamed bodies handed to the kernel so far: where a client that stops reading early stopped them. */
  readonly streamedBytes: number;
  /** TCP connections accepted so far: fewer than requests when clients keep them alive. */
  readonly connections: number;
  close(): Promise<void>;
}

/** An HTTP server on 127.0.0.1 that records every request and answers as HANDLER says. */
export async function startFakeHttpServer(handler: FakeHandler): Promise<FakeHttpServer> {
  const requests: RecordedRequest[] = [];
  let streamedBytes = 0;
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const recorded: RecordedRequest = {
      method: req.method ?? '',
      url: req.url ?? '',
      httpVersion: req.httpVersion,
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      body: Buffer.concat(chunks),
    };
    requests.push(recorded);
    let reply: FakeReply;
    try {
      reply = await handler(recorded);
    } catch (error) {
      res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`fake server handler failed: ${error}`);
      return;
    }
    if (reply === 'hang') return;
    if ('raw' in reply) {
      req.socket.end(reply.raw);
      return;
    }
    if ('streamed' in reply) {
      streamBody(res, reply.streamed, (bytes) => (streamedBytes += bytes));
      return;
    }
    res.writeHead(reply.status ?? 200, {
      'Content-Type': 'application/ocsp-response',
      ...reply.headers,
    });
    res.end(reply.body);
  });
  let connections = 0;
  server.on('connection', () => connections++);
  const port = await listenOnLoopback(server);
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    requests,
    get streamedBytes() {
      return streamedBytes;
    },
    get connections() {
      return connections;
    },
    close: () => closeServer(server),
  };
}

const streamPieceBytes = 64 * 1024;

/**
 * Writes BODY piece by piece, as fast as the client reads, until all of it is
 * sent, the client hangs up, or maxMs pass: bounded in bytes and in time.
 */
function streamBody(res: http.ServerResponse, body: StreamedBody, onSent: (bytes: number) => void): void {
  res.writeHead(200, { 'Content-Type': 'application/ocsp-response' });
  const filler = Buffer.alloc(streamPieceBytes, 0x41);
  const start = body.start ?? Buffer.alloc(0);
  let sent = 0;
  const timer = setTimeout(() => res.destroy(), body.maxMs);
  timer.unref();
  res.on('close', () => clearTimeout(timer));
  const writeMore = () => {
    while (sent < body.bytes && !res.destroyed) {
      const piece = sent === 0 ? Buffer.concat([start, filler]) : filler;
      const chunk = piece.subarray(0, Math.min(piece.length, body.bytes - sent));
      sent += chunk.length;
      onSent(chunk.length);
      if (!res.write(chunk)) {
        res.once('drain', writeMore);
        return;
      }
    }
    if (!res.destroyed) res.end();
  };
  writeMore();
}

/** What the nonce-requiring responder does with the nonce of a request before a real responder answers it. */
export type NonceAnswer =
  /** Nothing: the real responder echoes it. */
  | 'echo'
  /** Its last byte changed: a real response, signed for a nonce other than the one sent. */
  | 'another-nonce'
  /** Taken out of the request: a real response that carries no nonce. */
  | 'no-nonce';

interface NonceResponder {
  /** `http://127.0.0.1:PORT/` */
  readonly url: string;
  /** The nonce of each request received, as its extnValue octets; undefined for a request without one. */
  readonly nonces: readonly (Buffer | undefined)[];
  close(): Promise<void>;
}

/** An OCSPResponse with status unauthorized (6): what responders that require a nonce answer a request without one. */
const UNAUTHORIZED = Buffer.from([0x30, 0x03, 0x0a, 0x01, 0x06]);

/**
 * An OCSP responder on 127.0.0.1 that requires a nonce, in front of a real
 * one (UPSTREAM, an `openssl ocsp -port`, which echoes the nonce it gets): a
 * request without a nonce is answered `unauthorized`; one with a nonce is
 * forwarded after ANSWER is applied to its nonce, and the real, signed
 * response comes back as is. Answering for another nonce, or without the
 * nonce, is what no real responder can be made to do.
 */
export async function startNonceResponder(upstream: string, answer: NonceAnswer): Promise<NonceResponder> {
  const nonces: (Buffer | undefined)[] = [];
  const server = await startFakeHttpServer(async (request) => {
    const der = ocspRequestOf(request);
    const nonce = readRequestNonce(der);
    nonces.push(nonce);
    if (nonce === undefined) return { body: UNAUTHORIZED };
    const forwarded = await fetch(upstream, {
      method: 'POST',
      headers: { 'Content-Type': 'application/ocsp-request' },
      body: new Uint8Array(requestWithNonce(der, nonce, answer)),
    });
    return { body: Buffer.from(await forwarded.arrayBuffer()) };
  });
  return { url: server.url, nonces, close: () => server.close() };
}

/** REQUEST (an unsigned one, as openssl writes it, whose nonce is its last extension and last bytes) as ANSWER wants it. */
function requestWithNonce(request: Buffer, nonce: Buffer, answer: NonceAnswer): Buffer {
  if (!request.subarray(request.length - nonce.length).equals(nonce)) {
    throw new Error('the nonce is not at the end of the request');
  }
  switch (answer) {
    case 'echo':
      return request;
    case 'another-nonce': {
      const changed = Buffer.from(request);
      changed[changed.length - 1]! ^= 0xff;
      return changed;
    }
    case 'no-nonce': {
      // TBSRequest without its requestExtensions [2], the only place a nonce goes.
      const [tbsRequest] = readSequence(parseDer(request), 'OCSPRequest');
      const fields = readSequence(tbsRequest!, 'TBSRequest').filter(
        (field) => !(field.tagClass === 'context' && field.tagNumber === 2),
      );
      const sequence = (content: Buffer) => encodeElement('universal', true, UniversalTag.sequence, content);
      return sequence(sequence(Buffer.concat(fields.map((field) => field.der))));
    }
  }
}

interface KeepAliveFront {
  /** `http://127.0.0.1:PORT/` */
  readonly url: string;
  readonly port: number;
  /** Client connections accepted: fewer than requests when clients keep them alive. */
  readonly connections: number;
  /** Requests passed on to the responders, each on a connection of its own. */
  readonly requests: number;
  close(): Promise<void>;
}

/**
 * What a CDN edge is to a CA's responder: an HTTP/1.1 server on 127.0.0.1
 * that keeps its clients' connections alive and passes each request (method,
 * path, media type and body, GET included) to one of UPSTREAMS in turn, real
 * `openssl ocsp -port` responders that each answer one request at a time,
 * and its answer back. Put behind the latency proxy, it lets a client that
 * reuses connections show what reusing them saves.
 */
export async function startKeepAliveFront(
  upstreams: readonly { readonly host: string; readonly port: number }[],
): Promise<KeepAliveFront> {
  let connections = 0;
  let requests = 0;
  const server = http.createServer({ keepAliveTimeout: 60_000 }, async (req, res) => {
    const upstream = upstreams[requests++ % upstreams.length]!;
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    // openssl's responder reads a Content-Length, not a chunked body.
    const headers =
      req.method === 'POST' ? { 'Content-Type': req.headers['content-type'] ?? '', 'Content-Length': body.length } : {};
    const forwarded = http.request(
      { host: upstream.host, port: upstream.port, method: req.method, path: req.url, agent: false, headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, {
          'Content-Type': answer.headers['content-type'] ?? 'application/octet-stream',
          ...(answer.headers['content-length'] !== undefined && { 'Content-Length': answer.headers['content-length'] }),
        });
        answer.pipe(res);
      },
    );
    forwarded.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
    forwarded.end(body);
  });
  server.on('connection', () => connections++);
  const port = await listenOnLoopback(server);
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    get connections() {
      return connections;
    },
    get requests() {
      return requests;
    },
    close: () => closeServer(server),
  };
}

interface ProxiedRequest {
  /** As received, e.g. `POST http://127.0.0.1:PORT/ HTTP/1.0`. */
  readonly requestLine: string;
  readonly host: string | undefined;
  readonly headers: http.IncomingHttpHeaders;
  /** False when the proxy refused the target (not 127.0.0.1 or ::1). */
  readonly forwarded: boolean;
}

interface RecordingProxy {
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  readonly port: number;
  readonly requests: readonly ProxiedRequest[];
  close(): Promise<void>;
}

const loopbackHosts = new Set(['127.0.0.1', '[::1]']);
const hopByHopHeaders = ['connection', 'proxy-connection', 'keep-alive', 'proxy-authorization'];

/**
 * A minimal HTTP forward proxy on 127.0.0.1. It forwards absolute-URI
 * requests to 127.0.0.1 or ::1 only, keeping the client's Host header, and
 * answers 403 to any other target so tests never reach the network.
 * CONNECT is not supported (the connection is closed).
 */
export async function startRecordingProxy(): Promise<RecordingProxy> {
  const requests: ProxiedRequest[] = [];
  const server = http.createServer((req, res) => {
    const target = parseAbsoluteHttpUrl(req.url ?? '');
    const forwarded = target !== undefined && loopbackHosts.has(target.hostname);
    requests.push({
      requestLine: `${req.method} ${req.url} HTTP/${req.httpVersion}`,
      host: req.headers.host,
      headers: req.headers,
      forwarded,
    });
    if (!forwarded) {
      res.writeHead(target === undefined ? 400 : 403).end();
      return;
    }
    const headers = { ...req.headers };
    for (const name of hopByHopHeaders) delete headers[name];
    const upstream = http.request(
      {
        host: target.hostname.replace(/^\[|\]$/g, ''),
        port: target.port || 80,
        method: req.method,
        path: `${target.pathname}${target.search}`,
        headers,
      },
      (upstreamRes) => {
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
        upstreamRes.pipe(res);
      },
    );
    upstream.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
    req.pipe(upstream);
  });
  const port = await listenOnLoopback(server);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: () => closeServer(server),
  };
}

function parseAbsoluteHttpUrl(text: string): URL | undefined {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' ? url : undefined;
  } catch {
    return undefined;
  }
}

async function listenOnLoopback(server: http.Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  // Idle keep-alive connections must not keep a finished test file running.
  server.unref();
  return (server.address() as AddressInfo).port;
}

async function closeServer(server: http.Server): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  await closed;
}
