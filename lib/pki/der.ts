/**
 * A minimal, strict DER reader: the elements themselves, their tag, length
 * and content. Only definite, minimally encoded lengths are accepted: OCSP
 * responses and certificates are DER, and anything else is a sign that the
 * bytes are not what we think they are. What an element holds is read and
 * checked against its type in der-readers.ts.
 *
 * Reading is linear in the input, and nothing recurses: callers walk
 * structures of fixed depth one level at a time, so deep nesting costs no
 * stack.
 */
export class DerError extends Error {
  constructor(
    message: string,
    /** Offset of the offending element within the buffer given to `parseDer`. */
    readonly offset: number,
  ) {
    super(`${message} (at byte ${offset})`);
    this.name = 'DerError';
  }
}

export type TagClass = 'universal' | 'application' | 'context' | 'private';

const tagClasses: readonly TagClass[] = ['universal', 'application', 'context', 'private'];

/** Universal tag numbers used by OCSP and X.509. */
export const UniversalTag = {
  boolean: 1,
  integer: 2,
  bitString: 3,
  octetString: 4,
  null: 5,
  objectIdentifier: 6,
  enumerated: 10,
  sequence: 16,
  set: 17,
  ia5String: 22,
  generalizedTime: 24,
} as const;

const universalTagNames: ReadonlyMap<number, string> = new Map([
  [UniversalTag.boolean, 'BOOLEAN'],
  [UniversalTag.integer, 'INTEGER'],
  [UniversalTag.bitString, 'BIT STRING'],
  [UniversalTag.octetString, 'OCTET STRING'],
  [UniversalTag.null, 'NULL'],
  [UniversalTag.objectIdentifier, 'OBJECT IDENTIFIER'],
  [UniversalTag.enumerated, 'ENUMERATED'],
  [UniversalTag.sequence, 'SEQUENCE'],
  [UniversalTag.set, 'SET'],
  [UniversalTag.ia5String, 'IA5String'],
  [UniversalTag.generalizedTime, 'GeneralizedTime'],
]);

export interface DerElement {
  readonly tagClass: TagClass;
  readonly constructed: boolean;
  readonly tagNumber: number;
  /** The content octets (a view into the parsed buffer). */
  readonly value: Buffer;
  /** The whole encoding: identifier, length and content (a view into the parsed buffer). */
  readonly der: Buffer;
  /** Where the element starts, counted from the start of the buffer given to `parseDer`. */
  readonly offset: number;
}

/** Longest length field accepted: 4 bytes already allows 4 GiB. */
const maxLengthOctets = 4;

/**
 * Reads the element starting at `start` within `input`. `base` is added to
 * offsets so that errors and `offset` refer to the outermost buffer.
 */
function readElementAt(input: Buffer, start: number, base: number): ParsedElement {
  const offset = base + start;
  let position = start;
  if (position >= input.length) throw new DerError('truncated tag', offset);
  const identifier = input[position++]!;
  const tagClass = tagClasses[identifier >> 6]!;
  const constructed = (identifier & 0x20) !== 0;
  let tagNumber = identifier & 0x1f;
  if (tagNumber === 0x1f) {
    tagNumber = 0;
    let octet: number;
    do {
      if (position >= input.length) throw new DerError('truncated tag', offset);
      octet = input[position++]!;
      if (tagNumber === 0 && octet === 0x80) throw new DerError('non-minimal tag number', offset);
      if (tagNumber > 0xffffff) throw new DerError('tag number too large', offset);
      tagNumber = tagNumber * 128 + (octet & 0x7f);
    } while (octet & 0x80);
    if (tagNumber < 0x1f) throw new DerError('non-minimal tag number', offset);
  }

  if (position >= input.length) throw new DerError('truncated length', offset);
  const firstLengthOctet = input[position++]!;
  let length = firstLengthOctet;
  if (firstLengthOctet === 0x80) throw new DerError('indefinite length is not DER', offset);
  if (firstLengthOctet > 0x80) {
    const lengthOctets = firstLengthOctet & 0x7f;
    if (lengthOctets > maxLengthOctets) {
      throw new DerError(`length field of ${lengthOctets} bytes is too long`, offset);
    }
    if (position + lengthOctets > input.length) throw new DerError('truncated length', offset);
    length = 0;
    for (let i = 0; i < lengthOctets; i++) length = length * 256 + input[position++]!;
    if (length < 0x80 || input[position - lengthOctets] === 0) throw new DerError('non-minimal length', offset);
  }

  const end = position + length;
  if (end > input.length) {
    throw new DerError(`truncated: element needs ${length} content bytes, ${input.length - position} left`, offset);
  }
  return new ParsedElement(tagClass, constructed, tagNumber, base + start, input, start, position, end);
}

/**
 * An element as read. Its views into the buffer are made when first asked
 * for: making one costs more than reading the header, and most elements of a
 * long list (a hostile one above all) are never looked into.
 */
class ParsedElement implements DerElement {
  #value: Buffer | undefined;
  #der: Buffer | undefined;

  constructor(
    readonly tagClass: TagClass,
    readonly constructed: boolean,
    readonly tagNumber: number,
    readonly offset: number,
    private readonly input: Buffer,
    private readonly start: number,
    private readonly contentStart: number,
    /** Where the element ends within the buffer it was read from. */
    readonly end: number,
  ) {}

  get value(): Buffer {
    return (this.#value ??= this.input.subarray(this.contentStart, this.end));
  }

  get der(): Buffer {
    return (this.#der ??= this.input.subarray(this.start, this.end));
  }
}

function readAll(input: Buffer, base: number): DerElement[] {
  const elements: DerElement[] = [];
  for (let position = 0; position < input.length;) {
    const element = readElementAt(input, position, base);
    elements.push(element);
    position = element.end;
  }
  return elements;
}

/**
 * Parses a buffer that must hold exactly one DER element, with nothing after
 * it. `base` shifts reported offsets, for buffers nested in another one (the
 * content of an OCTET STRING that wraps DER).
 */
export function parseDer(input: Buffer, base = 0): DerElement {
  if (input.length === 0) throw new DerError('empty input', base);
  const element = readElementAt(input, 0, base);
  if (element.der.length !== input.length) {
    throw new DerError(
      `${input.length - element.der.length} unexpected bytes after the end`,
      base + element.der.length,
    );
  }
  return element;
}

/** Where the content octets of `element` start, in the same numbering as `offset`. */
export function contentOffset(element: DerElement): number {
  return element.offset + element.der.length - element.value.length;
}

/** Describes a tag for error messages, e.g. `SEQUENCE`, `[0]`. */
export function describeTag(element: Pick<DerElement, 'tagClass' | 'tagNumber'>): string {
  if (element.tagClass === 'context') return `[${element.tagNumber}]`;
  if (element.tagClass === 'universal') {
    return universalTagNames.get(element.tagNumber) ?? `universal ${element.tagNumber}`;
  }
  return `${element.tagClass} ${element.tagNumber}`;
}

/** The elements inside a constructed element (SEQUENCE, SET, explicit tag). */
export function readChildren(element: DerElement, what: string): DerElement[] {
  if (!element.constructed) {
    throw new DerError(`${what}: expected a constructed element`, element.offset);
  }
  return readAll(element.value, contentOffset(element));
}
