// A stand-in for HAProxy's admin socket, for the replies a real HAProxy
// cannot be made to give: floods, binary bytes, endless lists, silence. It
// listens on a UNIX socket in a temporary directory and on 127.0.0.1, and
// answers each connection's command, read up to the client's half-close,
// with what the script says. Every connection and every flood ends by itself.
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export type FakeReply =
  /** Sent whole, then the connection is closed. */
  | { readonly kind: 'text'; readonly content: string | Buffer }
  /** CHUNK again and again until TOTAL_BYTES are sent or the client has gone, then closed. */
  | { readonly kind: 'flood'; readonly chunk: Buffer; readonly totalBytes: number }
  /** Nothing: the connection stays open until the client closes it (or the connection's lifetime ends). */
  | { readonly kind: 'silence' }
  /** The connection is closed without a reply. */
  | { readonly kind: 'close' };

/** The reply to COMMAND, which is what the client wrote, payload and final newline included. */
export type FakeScript = (command: string) => FakeReply;

export interface FakeHaproxyOptions {
  /** How long any one connection may last before the fake drops it; 60 s by default. */
  readonly connectionLifetimeMs?: number;
}

export interface FakeHaproxy {
  readonly socketPath: string;
  /** `127.0.0.1:PORT`. */
  readonly tcpAddress: string;
  /** The first line of every command received, in order. */
  readonly commands: readonly string[];
  /** Reply bytes handed to the kernel so far: how far a flood got before the client stopped it. */
  sentBytes(): number;
  close(): Promise<void>;
}

/** More than any command hapos-upd sends (HAProxy itself reads at most tune.bufsize). */
const maxCommandBytes = 1024 * 1024;
const defaultLifetimeMs = 60_000;

export const text = (content: string | Buffer): FakeReply => ({ kind: 'text', content });

/** HAProxy 2.6's answer to a command it does not know (a worker asked `show proc`, say). */
export const unknownCommand = text(
  'Unknown command, but maybe one of the following ones is a better match:\n  help           : full commands list\n',
);

export async function startFakeHaproxy(script: FakeScript, options: FakeHaproxyOptions = {}): Promise<FakeHaproxy> {
  const lifetimeMs = options.connectionLifetimeMs ?? defaultLifetimeMs;
  const dir = await mkdtemp(path.join(tmpdir(), 'hapos-fake-haproxy-'));
  const socketPath = path.join(dir, 'admin.sock');
  const commands: string[] = [];
  const connections = new Set<net.Socket>();
  let sentBytes = 0;

  const serve = (connection: net.Socket) => {
    connections.add(connection);
    const lifetime = setTimeout(() => connection.destroy(), lifetimeMs);
    connection.once('close', () => {
      clearTimeout(lifetime);
      connections.delete(connection);
    });
    connection.on('error', () => connection.destroy());
    const received: Buffer[] = [];
    let receivedBytes = 0;
    connection.on('data', (chunk: Buffer) => {
      receivedBytes += chunk.length;
      if (receivedBytes > maxCommandBytes) connection.destroy();
      else received.push(chunk);
    });
    connection.once('end', () => {
      const command = Buffer.concat(received).toString('utf8');
      commands.push(command.split('\n', 1)[0] ?? '');
      void reply(connection, script(command), (bytes) => (sentBytes += bytes));
    });
  };
  const unixServer = net.createServer({ allowHalfOpen: true }, serve);
  const tcpServer = net.createServer({ allowHalfOpen: true }, serve);
  await new Promise<void>((resolve) => unixServer.listen(socketPath, resolve));
  await new Promise<void>((resolve) => tcpServer.listen(0, '127.0.0.1', resolve));
  const { port } = tcpServer.address() as net.AddressInfo;

  return {
    socketPath,
    tcpAddress: `127.0.0.1:${port}`,
    commands,
    sentBytes: () => sentBytes,
    async close() {
      for (const connection of connections) connection.destroy();
      await Promise.all([unixServer, tcpServer].map((server) => new Promise((resolve) => server.close(resolve))));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function reply(connection: net.Socket, answer: FakeReply, countSent: (bytes: number) => void): Promise<void> {
  switch (answer.kind) {
    case 'text':
      connection.end(answer.content);
      countSent(Buffer.byteLength(answer.content));
      return;
    case 'close':
      connection.destroy();
      return;
    case 'silence':
      return;
    case 'flood': {
      const writes = Math.ceil(answer.totalBytes / answer.chunk.length);
      for (let written = 0; written < writes && !connection.destroyed; written++) {
        countSent(answer.chunk.length);
        if (!connection.write(answer.chunk)) await drainedOrClosed(connection);
      }
      connection.end();
    }
  }
}

function drainedOrClosed(connection: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      connection.off('drain', done);
      connection.off('close', done);
      resolve();
    };
    connection.on('drain', done);
    connection.on('close', done);
  });
}
