/**
 * The few DER encoders needed to rebuild an OCSP CertID as OpenSSL and
 * HAProxy encode it, and the request that carries one.
 */
import { UniversalTag } from './der.ts';
import { oidFromDotted } from './der-readers.ts';

function encodeLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const octets: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) octets.unshift(rest % 256);
  return Buffer.from([0x80 | octets.length, ...octets]);
}

/** Encodes one universal element: every type the CertID holds has a single-byte identifier. */
function encodeUniversal(constructed: boolean, tagNumber: number, content: Buffer): Buffer {
  const identifier = (constructed ? 0x20 : 0) | tagNumber;
  return Buffer.concat([Buffer.from([identifier]), encodeLength(content.length), content]);
}

export function encodeSequence(elements: readonly Buffer[]): Buffer {
  return encodeUniversal(true, UniversalTag.sequence, Buffer.concat(elements));
}

export function encodeOctetString(content: Buffer): Buffer {
  return encodeUniversal(false, UniversalTag.octetString, content);
}

export function encodeNull(): Buffer {
  return encodeUniversal(false, UniversalTag.null, Buffer.alloc(0));
}

export function encodeOid(dotted: string): Buffer {
  return encodeOidOctets(oidFromDotted(dotted));
}

/** An OBJECT IDENTIFIER from its content octets, as OcspOid holds them. */
export function encodeOidOctets(content: Buffer): Buffer {
  return encodeUniversal(false, UniversalTag.objectIdentifier, content);
}

/** A context-specific constructed tag around ELEMENT: `[number] EXPLICIT`. */
export function encodeExplicit(tagNumber: number, element: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0xa0 | tagNumber]), encodeLength(element.length), element]);
}
