/**
 * What DER elements hold, each read checked against its type: the universal
 * types OCSP and X.509 use, SEQUENCEs with optional fields, and explicit and
 * implicit tags. Like the element reader, every one is linear in its input.
 */
import { printableLine } from '../util/printable.ts';
import { DerError, UniversalTag, describeTag, readChildren, type DerElement } from './der.ts';

/** Constructed universal types; everything else used here is primitive in DER. */
const constructedUniversalTags: ReadonlySet<number> = new Set([UniversalTag.sequence, UniversalTag.set]);

function expectUniversal(element: DerElement, tagNumber: number, what: string): DerElement {
  const expected = { tagClass: 'universal' as const, tagNumber };
  if (element.tagClass !== 'universal' || element.tagNumber !== tagNumber) {
    throw new DerError(`${what}: expected ${describeTag(expected)}, found ${describeTag(element)}`, element.offset);
  }
  if (element.constructed !== constructedUniversalTags.has(tagNumber)) {
    throw new DerError(`${what}: ${describeTag(expected)} has the wrong constructed bit`, element.offset);
  }
  return element;
}

/** The elements of a SEQUENCE. */
export function readSequence(element: DerElement, what: string): DerElement[] {
  return readChildren(expectUniversal(element, UniversalTag.sequence, what), what);
}

/** Whether `element` is the context-specific tag `[tagNumber]`. */
export function isContextTag(element: DerElement, tagNumber: number): boolean {
  return element.tagClass === 'context' && element.tagNumber === tagNumber;
}

function expectContextTag(element: DerElement, tagNumber: number, what: string): void {
  if (!isContextTag(element, tagNumber)) {
    throw new DerError(`${what}: expected [${tagNumber}], found ${describeTag(element)}`, element.offset);
  }
}

/** Unwraps `[tagNumber] EXPLICIT X`: returns the single X inside. */
export function readExplicit(element: DerElement, tagNumber: number, what: string): DerElement {
  expectContextTag(element, tagNumber, what);
  const inner = readChildren(element, what);
  if (inner.length !== 1) {
    throw new DerError(`${what}: [${tagNumber}] must hold exactly one element, found ${inner.length}`, element.offset);
  }
  return inner[0]!;
}

/**
 * Reinterprets `[tagNumber] IMPLICIT X` as the universal type X, so the typed
 * readers below (which check tags) can decode it.
 */
export function readImplicit(element: DerElement, tagNumber: number, universalTag: number, what: string): DerElement {
  expectContextTag(element, tagNumber, what);
  const retagged: DerElement = {
    tagClass: 'universal',
    constructed: element.constructed,
    tagNumber: universalTag,
    value: element.value,
    der: element.der,
    offset: element.offset,
  };
  return expectUniversal(retagged, universalTag, what);
}

/**
 * Walks the children of a SEQUENCE in order, for structures with optional
 * fields: `next` takes a mandatory field, `optional` takes the next field only
 * if it carries the given tag (context-specific unless told), `end` rejects
 * leftovers.
 */
export class SequenceReader {
  private index = 0;
  private readonly children: DerElement[];

  constructor(
    private readonly sequence: DerElement,
    private readonly what: string,
  ) {
    this.children = readSequence(sequence, what);
  }

  next(field: string): DerElement {
    const child = this.children[this.index];
    if (!child) throw new DerError(`${this.what}: missing ${field}`, this.sequence.offset);
    this.index++;
    return child;
  }

  optional(tagNumber: number, tagClass: 'context' | 'universal' = 'context'): DerElement | undefined {
    const child = this.children[this.index];
    if (child?.tagClass !== tagClass || child.tagNumber !== tagNumber) return undefined;
    this.index++;
    return child;
  }

  end(): void {
    const extra = this.children[this.index];
    if (extra) throw new DerError(`${this.what}: unexpected ${describeTag(extra)}`, extra.offset);
  }
}

function readPrimitive(element: DerElement, tagNumber: number, what: string): Buffer {
  return expectUniversal(element, tagNumber, what).value;
}

function twosComplement(content: Buffer, what: string, offset: number): bigint {
  if (content.length === 0) throw new DerError(`${what}: empty integer`, offset);
  if (
    content.length > 1 &&
    ((content[0] === 0x00 && content[1]! < 0x80) || (content[0] === 0xff && content[1]! >= 0x80))
  ) {
    throw new DerError(`${what}: non-minimal integer`, offset);
  }
  const magnitude = BigInt(`0x${content.toString('hex')}`);
  return content[0]! >= 0x80 ? magnitude - (1n << BigInt(content.length * 8)) : magnitude;
}

export function readInteger(element: DerElement, what: string): bigint {
  return twosComplement(readPrimitive(element, UniversalTag.integer, what), what, element.offset);
}

/**
 * An INTEGER as uppercase hex of its value, an even number of digits and no
 * sign padding (`1001`, `80AB`, `05`, `-01`), which is how `openssl ocsp -text`
 * prints serial numbers.
 */
export function readIntegerHex(element: DerElement, what: string): string {
  return integerToHex(readInteger(element, what));
}

function integerToHex(value: bigint): string {
  const magnitude = value < 0n ? -value : value;
  const digits = magnitude.toString(16).toUpperCase();
  return `${value < 0n ? '-' : ''}${digits.length % 2 ? '0' : ''}${digits}`;
}

export function readEnumerated(element: DerElement, what: string): number {
  const value = twosComplement(readPrimitive(element, UniversalTag.enumerated, what), what, element.offset);
  if (value < 0n || value > 0xffffn) {
    throw new DerError(`${what}: enumerated value out of range`, element.offset);
  }
  return Number(value);
}

export function readBoolean(element: DerElement, what: string): boolean {
  const content = readPrimitive(element, UniversalTag.boolean, what);
  if (content.length !== 1 || (content[0] !== 0x00 && content[0] !== 0xff)) {
    throw new DerError(`${what}: a DER BOOLEAN is one byte, 00 or FF`, element.offset);
  }
  return content[0] === 0xff;
}

export function readNull(element: DerElement, what: string): null {
  if (readPrimitive(element, UniversalTag.null, what).length !== 0) {
    throw new DerError(`${what}: NULL must be empty`, element.offset);
  }
  return null;
}

export function readOctetString(element: DerElement, what: string): Buffer {
  return readPrimitive(element, UniversalTag.octetString, what);
}

export interface BitString {
  /** Unused bits in the last byte (0 for keys and signatures). */
  readonly unusedBits: number;
  /** The bits, without the leading unused-bits count byte. */
  readonly bytes: Buffer;
}

export function readBitString(element: DerElement, what: string): BitString {
  const content = readPrimitive(element, UniversalTag.bitString, what);
  const unusedBits = content[0];
  if (unusedBits === undefined) throw new DerError(`${what}: empty BIT STRING`, element.offset);
  const bytes = content.subarray(1);
  if (unusedBits > 7 || (bytes.length === 0 && unusedBits !== 0)) {
    throw new DerError(`${what}: invalid unused-bits count ${unusedBits}`, element.offset);
  }
  if (bytes.length > 0 && (bytes[bytes.length - 1]! & ((1 << unusedBits) - 1)) !== 0) {
    throw new DerError(`${what}: unused bits must be zero`, element.offset);
  }
  return { unusedBits, bytes };
}

export function readIa5String(element: DerElement, what: string): string {
  const content = readPrimitive(element, UniversalTag.ia5String, what);
  if (content.some((octet) => octet > 0x7f)) {
    throw new DerError(`${what}: non-ASCII IA5String`, element.offset);
  }
  return content.toString('latin1');
}

/**
 * The longest OBJECT IDENTIFIER accepted, in content bytes: the most OpenSSL
 * (3.0.9 and later) still translates to dotted text. Real ones are far
 * shorter: a UUID under 2.25, the longest kind in use, takes 20 bytes.
 */
const MAX_OID_CONTENT_BYTES = 586;

/**
 * An OBJECT IDENTIFIER's content octets, checked. OIDs are compared by these
 * bytes (with `oidFromDotted`'s) and put in dotted form only for messages
 * (`formatOid`): the decimal value of an arc of n bytes costs time quadratic
 * in n, so a hostile arc of a few hundred kilobytes would take minutes.
 */
export function readOid(element: DerElement, what: string): Buffer {
  const content = readPrimitive(element, UniversalTag.objectIdentifier, what);
  if (content.length === 0) throw new DerError(`${what}: empty OBJECT IDENTIFIER`, element.offset);
  if (content.length > MAX_OID_CONTENT_BYTES) {
    throw new DerError(
      `${what}: OBJECT IDENTIFIER of ${content.length} bytes, over the limit of ${MAX_OID_CONTENT_BYTES}`,
      element.offset,
    );
  }
  if (content[content.length - 1]! & 0x80) {
    throw new DerError(`${what}: truncated OBJECT IDENTIFIER`, element.offset);
  }
  let arcStart = true;
  for (const octet of content) {
    if (arcStart && octet === 0x80) throw new DerError(`${what}: non-minimal OID arc`, element.offset);
    arcStart = (octet & 0x80) === 0;
  }
  return content;
}

/**
 * Whether ELEMENT is the OBJECT IDENTIFIER whose content octets are OID (from
 * oidFromDotted). Nothing else is checked: an identifier that is not the one
 * looked for, however long or malformed, is simply another one.
 */
export function isOid(element: DerElement, oid: Buffer): boolean {
  return (
    element.tagClass === 'universal' &&
    element.tagNumber === UniversalTag.objectIdentifier &&
    !element.constructed &&
    element.value.equals(oid)
  );
}

/** The dotted form of OID content octets that readOid accepted, e.g. `1.3.6.1.5.5.7.48.1.1`. */
export function formatOid(content: Buffer): string {
  const arcs: bigint[] = [];
  let bits = '';
  for (const octet of content) {
    bits += (octet & 0x7f).toString(2).padStart(7, '0');
    if (octet & 0x80) continue;
    arcs.push(BigInt(`0b${bits}`));
    bits = '';
  }
  const [first = 0n, ...rest] = arcs;
  const [root, second] = first < 40n ? [0n, first] : first < 80n ? [1n, first - 40n] : [2n, first - 80n];
  return [root, second, ...rest].join('.');
}

/** The content octets of a dotted OID, to compare with what readOid returns. */
export function oidFromDotted(dotted: string): Buffer {
  if (!/^[0-2]\.\d+(\.\d+)*$/.test(dotted)) throw new RangeError(`invalid OID '${dotted}'`);
  const [root, second, ...rest] = dotted.split('.').map(BigInt) as [bigint, bigint, ...bigint[]];
  if (root < 2n && second >= 40n) throw new RangeError(`invalid OID '${dotted}'`);
  const octets: number[] = [];
  for (const arc of [root * 40n + second, ...rest]) {
    const base128: number[] = [Number(arc & 0x7fn)];
    for (let remaining = arc >> 7n; remaining > 0n; remaining >>= 7n) {
      base128.unshift(Number(remaining & 0x7fn) | 0x80);
    }
    octets.push(...base128);
  }
  return Buffer.from(octets);
}

/** Foreign text in a message: a real GeneralizedTime fits, a flood of digits does not. */
const quoted = (text: string) => printableLine(text, 64);

const generalizedTimePattern = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d*[1-9]))?Z$/;

/**
 * A GeneralizedTime as a UTC Date. DER (and RFC 5280) require the form
 * YYYYMMDDHHMMSS[.fff]Z: seconds present, `Z`, no trailing zeros in the
 * fraction. Sub-millisecond digits are dropped.
 */
export function readGeneralizedTime(element: DerElement, what: string): Date {
  const text = readPrimitive(element, UniversalTag.generalizedTime, what).toString('latin1');
  const match = generalizedTimePattern.exec(text);
  if (!match) throw new DerError(`${what}: malformed GeneralizedTime '${quoted(text)}'`, element.offset);
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const milliseconds = Number((match[7] ?? '').padEnd(3, '0').slice(0, 3));
  const date = new Date(Date.UTC(year, month - 1, day, hour, minute, second, milliseconds));
  // Date.UTC rolls over out-of-range fields (month 13, Feb 30): reject those.
  if (
    date.getUTCFullYear() !== year ||
    date.getUTCMonth() !== month - 1 ||
    date.getUTCDate() !== day ||
    date.getUTCHours() !== hour ||
    date.getUTCMinutes() !== minute ||
    date.getUTCSeconds() !== second
  ) {
    throw new DerError(`${what}: invalid date '${quoted(text)}'`, element.offset);
  }
  return date;
}
