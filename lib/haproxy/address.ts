import net from 'node:net';
import path from 'node:path';
import { HaproxyArgumentError } from './errors.ts';

/** Where HAProxy's runtime API listens: a UNIX socket or a TCP `stats socket`. */
export type SocketAddress =
  | { readonly kind: 'unix'; readonly path: string }
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number; readonly family: 4 | 6 };

const supportedAddresses = 'a UNIX socket path, unix@PATH, ipv4@HOST:PORT, ipv6@HOST:PORT, IPv4:PORT or [IPv6]:PORT';

/**
 * Reads a socket address the way HAProxy's `stats socket` lines spell them.
 * Only IP literals make an unprefixed `HOST:PORT` a TCP address: anything
 * else is a path, resolved against `cwd`.
 */
export function parseSocketAddress(spec: string, cwd: string = process.cwd()): SocketAddress {
  if (spec.trim() === '') throw new HaproxyArgumentError('empty HAProxy socket address');
  const prefixed = /^([a-z0-9]+)@(.*)$/i.exec(spec);
  if (prefixed) {
    const [, scheme = '', rest = ''] = prefixed;
    switch (scheme.toLowerCase()) {
      case 'unix':
        if (rest === '') break;
        return { kind: 'unix', path: path.resolve(cwd, rest) };
      case 'ipv4':
        return parseHostPort(rest, 4, spec);
      case 'ipv6':
        return parseHostPort(rest, 6, spec);
    }
    throw new HaproxyArgumentError(`unsupported HAProxy socket address: ${spec} (use ${supportedAddresses})`);
  }
  const bracketed = /^\[([^\]]+)\]:(\d+)$/.exec(spec);
  if (bracketed && net.isIPv6(bracketed[1] ?? '')) return parseHostPort(spec, 6, spec);
  const dotted = /^([\d.]+):(\d+)$/.exec(spec);
  if (dotted && net.isIPv4(dotted[1] ?? '')) return parseHostPort(spec, 4, spec);
  return { kind: 'unix', path: path.resolve(cwd, spec) };
}

function parseHostPort(hostPort: string, family: 4 | 6, spec: string): SocketAddress {
  const bracketed = /^\[([^\]]+)\]:([^:]*)$/.exec(hostPort);
  const separator = hostPort.lastIndexOf(':');
  const host = bracketed ? bracketed[1] : hostPort.slice(0, Math.max(separator, 0));
  const portText = bracketed ? bracketed[2] : separator < 0 ? '' : hostPort.slice(separator + 1);
  const port = Number(portText);
  const wrongFamily = family === 4 ? net.isIPv6(host ?? '') : net.isIPv4(host ?? '');
  if (!host || wrongFamily || !/^\d+$/.test(portText ?? '') || port < 1 || port > 65535) {
    throw new HaproxyArgumentError(`invalid HAProxy socket address: ${spec} (use ${supportedAddresses})`);
  }
  return { kind: 'tcp', host, port, family };
}

/** The address as messages show it: the path, `HOST:PORT` or `[IPv6]:PORT`. */
export function formatSocketAddress(address: SocketAddress): string {
  if (address.kind === 'unix') return address.path;
  return net.isIPv6(address.host) ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}
