import net, { type AddressInfo } from 'node:net';

/*
 * A TCP proxy on 127.0.0.1 that makes a loopback target look RTT away: this
 * kernel has no netem, so the delay is added in user space. Each direction is
 * delayed by RTT/2, and a new connection's first bytes wait one more RTT, the
 * handshake a real network charges before a client may send. Bandwidth is
 * unlimited and nothing is read more slowly than it arrives: this emulates
 * distance, not a slow link.
 */

export interface LatencyProxyOptions {
  /** The loopback server the proxy forwards to. */
  readonly targetHost: string;
  readonly targetPort: number;
  /** The round trip to emulate, in milliseconds. */
  readonly rttMs: number;
}

export interface LatencyProxy {
  /** `http://127.0.0.1:PORT/`, for a target that speaks HTTP. */
  readonly url: string;
  readonly port: number;
  /** Connections accepted so far: how many handshakes clients paid for. */
  readonly connections: number;
  /** Stops listening and destroys every connection, pending delays included. */
  close(): Promise<void>;
}

/** What a delayed direction carries: data, then at most one end of stream. */
type Delivery = Buffer | 'end';

/**
 * One direction of one connection: every chunk is delivered at its due time,
 * in the order it was pushed, by one timer that drains the queue.
 */
class DelayedPipe {
  readonly #queue: { readonly dueAt: number; readonly what: Delivery }[] = [];
  #timer: NodeJS.Timeout | undefined;
  /** Due times never decrease, so that a chunk can never overtake an earlier one. */
  #lastDueAt = 0;

  constructor(private readonly deliver: (what: Delivery) => void) {}

  push(what: Delivery, dueAt: number): void {
    this.#lastDueAt = Math.max(this.#lastDueAt, dueAt);
    this.#queue.push({ dueAt: this.#lastDueAt, what });
    if (this.#timer === undefined) this.#schedule();
  }

  cancel(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#queue.length = 0;
  }

  #schedule(): void {
    const head = this.#queue[0];
    if (head === undefined) return;
    this.#timer = setTimeout(() => this.#drain(), Math.max(0, head.dueAt - performance.now()));
  }

  #drain(): void {
    this.#timer = undefined;
    // A timer may fire a little early or late; everything due by now goes, in order.
    while (this.#queue.length > 0 && this.#queue[0]!.dueAt <= performance.now()) {
      this.deliver(this.#queue.shift()!.what);
    }
    this.#schedule();
  }
}

export async function startLatencyProxy(options: LatencyProxyOptions): Promise<LatencyProxy> {
  const half = options.rttMs / 2;
  const open = new Set<{ destroy(): void }>();
  let connections = 0;

  // Half-open allowed both ways: a client's end must travel (delayed) to the
  // target, not close the connection before the reply has come back.
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    connections++;
    const acceptedAt = performance.now();
    // Opened only when the request's first bytes are due at the server, as a
    // real server sees nothing before then: a target that serves one
    // connection at a time (openssl ocsp -port) is then not held idle by a
    // client that is still "on its way".
    let upstream: net.Socket | undefined;
    const destroy = () => {
      toServer.cancel();
      toClient.cancel();
      client.destroy();
      upstream?.destroy();
      open.delete(connection);
    };
    const connection = { destroy };
    open.add(connection);

    const toClient = new DelayedPipe((what) => (what === 'end' ? client.end() : client.write(what)));
    const toServer = new DelayedPipe((what) => {
      if (upstream === undefined) {
        upstream = net.connect({ port: options.targetPort, host: options.targetHost, allowHalfOpen: true });
        upstream.on('data', (chunk: Buffer) => toClient.push(chunk, performance.now() + half));
        upstream.on('end', () => toClient.push('end', performance.now() + half));
        upstream.on('error', destroy);
        upstream.on('close', () => {
          // Its end is on its way to the client; anything else is an abort.
          if (!upstream!.readableEnded) destroy();
        });
      }
      if (what === 'end') upstream.end();
      else upstream.write(what);
    });

    // A client may send only once the handshake's round trip is over.
    const dueAtServer = () => Math.max(performance.now(), acceptedAt + options.rttMs) + half;
    client.on('data', (chunk: Buffer) => toServer.push(chunk, dueAtServer()));
    client.on('end', () => toServer.push('end', dueAtServer()));
    client.on('error', destroy);
    client.on('close', destroy);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    get connections() {
      return connections;
    },
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const connection of [...open]) connection.destroy();
      await closed;
    },
  };
}
