// DER of any tag class, for tests that build what no CA or responder would
// write (context tags, OBJECT IDENTIFIERs of any content, hostile
// extensions): lib/pki encodes only the universal types a CertID holds.
import type { TagClass } from '../../lib/pki/der.ts';

const tagClasses: readonly TagClass[] = ['universal', 'application', 'context', 'private'];

/** The definite, minimal length field of LENGTH content bytes. */
export function lengthField(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const octets: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) octets.unshift(rest % 256);
  return Buffer.from([0x80 | octets.length, ...octets]);
}

/** Encodes one element with a single-byte identifier (tag number below 31). */
export function encodeElement(tagClass: TagClass, constructed: boolean, tagNumber: number, content: Buffer): Buffer {
  if (tagNumber >= 0x1f) throw new RangeError('multi-byte tag numbers are not supported');
  const identifier = (tagClasses.indexOf(tagClass) << 6) | (constructed ? 0x20 : 0) | tagNumber;
  return Buffer.concat([Buffer.from([identifier]), lengthField(content.length), content]);
}
