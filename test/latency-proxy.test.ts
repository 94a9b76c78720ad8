import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import net, { type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { startLatencyProxy, type LatencyProxy } from './helpers/latency-proxy.ts';

const rttMs = 100;

/** A TCP echo server on 127.0.0.1: what the proxy delays is then only the proxy's doing. */
async function startEchoServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.pipe(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function withProxy(body: (proxy: LatencyProxy) => Promise<void>): Promise<void> {
  const echo = await startEchoServer();
  const proxy = await startLatencyProxy({ targetHost: '127.0.0.1', targetPort: echo.port, rttMs });
  try {
    await body(proxy);
  } finally {
    await proxy.close();
    await echo.close();
  }
}

/** Writes MESSAGE and resolves with the milliseconds until as many bytes have come back. */
function exchange(socket: net.Socket, message: Buffer): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    let received = 0;
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received < message.length) return;
      socket.off('data', onData).off('error', reject);
      resolve(performance.now() - started);
    };
    socket.on('data', onData).on('error', reject);
    socket.write(message);
  });
}

test('a request over a new connection costs two round trips, over a kept-alive one a single one', async () => {
  await withProxy(async (proxy) => {
    const started = performance.now();
    const socket = net.connect(proxy.port, '127.0.0.1');
    try {
      await once(socket, 'connect');
      await exchange(socket, Buffer.from('first'));
      // The handshake's round trip, then the request's and the reply's halves.
      const firstMs = performance.now() - started;
      assert.ok(firstMs >= 2 * rttMs - 10, `new connection: ${firstMs} ms`);
      assert.ok(firstMs < 3 * rttMs, `new connection: ${firstMs} ms`);
      const secondMs = await exchange(socket, Buffer.from('second'));
      assert.ok(secondMs >= rttMs - 10 && secondMs < 1.8 * rttMs, `kept-alive connection: ${secondMs} ms`);
      assert.equal(proxy.connections, 1);
    } finally {
      socket.destroy();
    }
  });
});

test('a megabyte goes through both ways intact and in order', async () => {
  await withProxy(async (proxy) => {
    const sent = randomBytes(1024 * 1024);
    const socket = net.connect(proxy.port, '127.0.0.1');
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    // Many small writes, so that many chunks are queued and must keep their order.
    for (let offset = 0; offset < sent.length; offset += 4096) socket.write(sent.subarray(offset, offset + 4096));
    socket.end();
    await once(socket, 'close');
    const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
    assert.equal(sha256(Buffer.concat(received)), sha256(sent));
  });
});

test('close() destroys open connections, delays still pending included', async () => {
  await withProxy(async (proxy) => {
    const socket = net.connect(proxy.port, '127.0.0.1');
    socket.on('error', () => {});
    await once(socket, 'connect');
    // Still waiting out the handshake's round trip when the proxy closes.
    socket.write('never delivered');
    // Not once(): it would reject on the reset that this destroy causes.
    const closed = new Promise((resolve) => socket.on('close', resolve));
    await proxy.close();
    await closed;
  });
});
