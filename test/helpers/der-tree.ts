// DER as a tree that mutations can edit and encode again, for the property
// tests and `make fuzz`: real responses and certificates are parsed once,
// then changed either keeping every length right (so that the decoder gets
// past the framing into the fields it reads) or breaking the framing itself.
import fc from 'fast-check';
import { DerError, UniversalTag, parseDer, readChildren } from '../../lib/pki/der.ts';
import { oidWithHugeArc } from './certificate-surgery.ts';
import { lengthField } from './der-encode.ts';

export type DerNode =
  | { readonly kind: 'primitive'; readonly identifier: Buffer; readonly content: Buffer }
  | { readonly kind: 'constructed'; readonly identifier: Buffer; readonly children: readonly DerNode[] }
  /** An OCTET STRING or BIT STRING holding DER (extnValue, responseBytes); prefix: a BIT STRING's unused-bits byte. */
  | { readonly kind: 'wrapping'; readonly identifier: Buffer; readonly prefix: Buffer; readonly inner: DerNode }
  /** INNER inside DEPTH SEQUENCEs, each holding the next. */
  | { readonly kind: 'nested'; readonly depth: number; readonly inner: DerNode };

/** Seeds nest a dozen levels; a mutated one is not walked deeper than this. */
const maxParseDepth = 64;

/** The tree of DER that holds exactly one element; undefined for anything else. */
export function parseTree(der: Buffer): DerNode | undefined {
  try {
    return nodeOf(der, 0);
  } catch (error) {
    if (error instanceof DerError) return undefined;
    throw error;
  }
}

function nodeOf(der: Buffer, depth: number): DerNode {
  const element = parseDer(der);
  const identifier = der.subarray(0, identifierLength(der));
  if (depth < maxParseDepth && element.constructed) {
    try {
      return {
        kind: 'constructed',
        identifier,
        children: readChildren(element, 'node').map((child) => nodeOf(child.der, depth + 1)),
      };
    } catch (error) {
      if (!(error instanceof DerError)) throw error;
    }
  }
  const wrapsDer =
    depth < maxParseDepth &&
    element.tagClass === 'universal' &&
    !element.constructed &&
    (element.tagNumber === UniversalTag.octetString ||
      (element.tagNumber === UniversalTag.bitString && element.value[0] === 0));
  if (wrapsDer) {
    const prefix = element.value.subarray(0, element.tagNumber === UniversalTag.bitString ? 1 : 0);
    const inner = element.value.subarray(prefix.length);
    // Only constructed content is taken for DER: a hash or a key is just bytes.
    if (inner.length > 0 && (inner[0]! & 0x20) !== 0) {
      try {
        return { kind: 'wrapping', identifier, prefix, inner: nodeOf(inner, depth + 1) };
      } catch (error) {
        if (!(error instanceof DerError)) throw error;
      }
    }
  }
  return { kind: 'primitive', identifier, content: element.value };
}

function identifierLength(der: Buffer): number {
  if ((der[0]! & 0x1f) !== 0x1f) return 1;
  let length = 1;
  while (der[length]! & 0x80) length++;
  return length + 1;
}

/**
 * The encoding of NODE. LENGTH_OVERRIDE replaces the length field of the
 * node that comes INDEX-th in preorder (see nodesOf), to break the framing.
 */
export function encodeTree(node: DerNode, lengthOverride?: { readonly index: number; readonly field: Buffer }): Buffer {
  const parts: Buffer[] = [];
  let counter = 0;
  const encode = (current: DerNode): number => {
    const index = counter++;
    const headerAt = parts.length;
    parts.push(Buffer.alloc(0));
    let length = 0;
    switch (current.kind) {
      case 'primitive':
        parts.push(current.content);
        length = current.content.length;
        break;
      case 'constructed':
        for (const child of current.children) length += encode(child);
        break;
      case 'wrapping':
        parts.push(current.prefix);
        length = current.prefix.length + encode(current.inner);
        break;
      case 'nested': {
        const innerLength = encode(current.inner);
        // Headers from the inside out, each over what it wraps: linear however deep.
        const headers: Buffer[] = [];
        let wrapped = innerLength;
        for (let level = 0; level < current.depth; level++) {
          const header = Buffer.concat([Buffer.from([0x30]), lengthField(wrapped)]);
          headers.push(header);
          wrapped += header.length;
        }
        parts[headerAt] = Buffer.concat(headers.reverse());
        return wrapped;
      }
    }
    const field = lengthOverride?.index === index ? lengthOverride.field : lengthField(length);
    parts[headerAt] = Buffer.concat([current.identifier, field]);
    return parts[headerAt]!.length + length;
  };
  encode(node);
  return Buffer.concat(parts);
}

/** Every node of TREE in preorder, the numbering encodeTree's override and replaceNode use. */
export function nodesOf(tree: DerNode): DerNode[] {
  const nodes: DerNode[] = [];
  const stack: DerNode[] = [tree];
  while (stack.length > 0) {
    const node = stack.pop()!;
    nodes.push(node);
    if (node.kind === 'constructed') stack.push(...[...node.children].reverse());
    else if (node.kind === 'wrapping' || node.kind === 'nested') stack.push(node.inner);
  }
  return nodes;
}

/** TREE with its INDEX-th node (preorder) replaced by what REPLACE makes of it. */
export function replaceNode(tree: DerNode, index: number, replace: (node: DerNode) => DerNode): DerNode {
  let counter = 0;
  const visit = (node: DerNode): DerNode => {
    if (counter++ === index) return replace(node);
    switch (node.kind) {
      case 'primitive':
        return node;
      case 'constructed':
        return { ...node, children: node.children.map(visit) };
      case 'wrapping':
      case 'nested':
        return { ...node, inner: visit(node.inner) };
    }
  };
  return visit(tree);
}

export const primitive = (tag: number, content: Buffer): DerNode => ({
  kind: 'primitive',
  identifier: Buffer.from([tag]),
  content,
});

/** A mutation, drawn as numbers and interpreted on the tree it meets (indexes taken modulo its size). */
type Mutation =
  | { readonly kind: 'content'; readonly at: number; readonly bytes: Uint8Array }
  | { readonly kind: 'splice'; readonly at: number; readonly donor: number; readonly from: number }
  | { readonly kind: 'duplicate' | 'remove' | 'swap'; readonly at: number; readonly which: number }
  | { readonly kind: 'tag'; readonly at: number; readonly identifier: Uint8Array }
  | { readonly kind: 'nest'; readonly at: number; readonly depth: number }
  | { readonly kind: 'oid'; readonly at: number; readonly content: Buffer }
  | { readonly kind: 'integer'; readonly at: number; readonly size: number }
  | { readonly kind: 'many'; readonly at: number; readonly count: number }
  | { readonly kind: 'length'; readonly at: number; readonly field: Uint8Array }
  | { readonly kind: 'flip'; readonly at: number; readonly bit: number }
  | { readonly kind: 'insert'; readonly at: number; readonly bytes: Uint8Array }
  | { readonly kind: 'delete'; readonly at: number; readonly count: number }
  | { readonly kind: 'truncate'; readonly at: number };

/** Sizes that are mostly modest and sometimes huge: the huge ones find the quadratic code. */
const size = (modest: number, huge: number) =>
  fc.oneof({ weight: 20, arbitrary: fc.nat(modest) }, { weight: 1, arbitrary: fc.integer({ min: modest, max: huge }) });

const oidContent = fc.oneof(
  { weight: 3, arbitrary: fc.uint8Array({ minLength: 0, maxLength: 40 }).map((bytes) => Buffer.from(bytes)) },
  // One arc around the 586 bytes readOid takes, then far beyond it.
  { weight: 1, arbitrary: fc.integer({ min: 2, max: 700 }).map(oidWithHugeArc) },
  { weight: 1, arbitrary: fc.integer({ min: 700, max: 1024 * 1024 }).map(oidWithHugeArc) },
  // Many short arcs: long, yet each arc cheap.
  { weight: 1, arbitrary: size(700, 200_000).map((count) => Buffer.alloc(count + 1, 0x01)) },
);

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('content' as const), at: fc.nat(), bytes: fc.uint8Array({ maxLength: 64 }) }),
  fc.record({ kind: fc.constant('splice' as const), at: fc.nat(), donor: fc.nat(), from: fc.nat() }),
  fc.record({
    kind: fc.constantFrom('duplicate' as const, 'remove' as const, 'swap' as const),
    at: fc.nat(),
    which: fc.nat(),
  }),
  fc.record({
    kind: fc.constant('tag' as const),
    at: fc.nat(),
    identifier: fc.uint8Array({ minLength: 1, maxLength: 4 }),
  }),
  fc.record({ kind: fc.constant('nest' as const), at: fc.nat(), depth: size(50, 20_000) }),
  fc.record({ kind: fc.constant('oid' as const), at: fc.nat(), content: oidContent }),
  fc.record({ kind: fc.constant('integer' as const), at: fc.nat(), size: size(40, 1024 * 1024) }),
  fc.record({ kind: fc.constant('many' as const), at: fc.nat(), count: size(100, 100_000) }),
  fc.record({
    kind: fc.constant('length' as const),
    at: fc.nat(),
    field: fc.uint8Array({ minLength: 1, maxLength: 6 }),
  }),
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7) }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
  }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
);

/**
 * Long lists stop at 100 KiB, the most OpenSSL's HTTP client (and so a
 * fetched response) takes: decoding costs about a microsecond an element, so
 * a megabyte of two-byte elements takes half a second, linear as it is.
 */
const maxManyBytes = 100 * 1024;

/** What a mutation works on: the tree until the framing is broken, then plain bytes. */
type Draft = { readonly tree: DerNode } | { readonly bytes: Buffer };

function applyMutation(draft: Draft, change: Mutation, donors: readonly DerNode[]): Draft {
  if ('bytes' in draft) return { bytes: mutateBytes(draft.bytes, change) };
  const { tree } = draft;
  const nodes = nodesOf(tree);
  const at = change.at % nodes.length;
  const edit = (replace: (node: DerNode) => DerNode): Draft => ({ tree: replaceNode(tree, at, replace) });
  switch (change.kind) {
    case 'content':
      return edit((node) =>
        node.kind === 'primitive'
          ? { ...node, content: Buffer.from(change.bytes) }
          : primitive(0x04, Buffer.from(change.bytes)),
      );
    case 'splice': {
      const donorNodes = nodesOf(donors[change.donor % donors.length]!);
      return edit(() => donorNodes[change.from % donorNodes.length]!);
    }
    case 'duplicate':
    case 'remove':
    case 'swap':
      return edit((node) => {
        if (node.kind !== 'constructed' || node.children.length === 0) return node;
        const children = [...node.children];
        const which = change.which % children.length;
        if (change.kind === 'duplicate') children.splice(which, 0, children[which]!);
        else if (change.kind === 'remove') children.splice(which, 1);
        else [children[0], children[which]] = [children[which]!, children[0]!];
        return { ...node, children };
      });
    case 'tag':
      return edit((node) => (node.kind === 'nested' ? node : { ...node, identifier: Buffer.from(change.identifier) }));
    case 'nest':
      return edit((node) => ({ kind: 'nested', depth: change.depth, inner: node }));
    case 'oid': {
      // An OID the decoder reads, when the tree has any: a random spot rarely is one.
      const oids = nodes.flatMap((node, index) =>
        node.kind === 'primitive' && node.identifier[0] === UniversalTag.objectIdentifier ? [index] : [],
      );
      const target = oids.length > 0 ? oids[change.at % oids.length]! : at;
      return { tree: replaceNode(tree, target, () => primitive(UniversalTag.objectIdentifier, change.content)) };
    }
    case 'integer':
      return edit(() => primitive(UniversalTag.integer, Buffer.alloc(change.size, 0x5a)));
    case 'many':
      return edit((node) => ({
        kind: 'constructed',
        identifier: Buffer.from([0x30]),
        children: Array.from(
          { length: Math.min(change.count, Math.floor(maxManyBytes / encodeTree(node).length)) },
          () => node,
        ),
      }));
    case 'length':
      return { bytes: encodeTree(tree, { index: at, field: Buffer.from(change.field) }) };
    default:
      return { bytes: mutateBytes(encodeTree(tree), change) };
  }
}

function mutateBytes(bytes: Buffer, change: Mutation): Buffer {
  const at = bytes.length === 0 ? 0 : change.at % bytes.length;
  switch (change.kind) {
    case 'flip': {
      const flipped = Buffer.from(bytes);
      if (flipped.length > 0) flipped[at]! ^= 1 << change.bit;
      return flipped;
    }
    case 'insert':
      return Buffer.concat([bytes.subarray(0, at), Buffer.from(change.bytes), bytes.subarray(at)]);
    case 'delete':
      return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + change.count)]);
    case 'truncate':
      return bytes.subarray(0, at);
    default:
      return bytes;
  }
}

/** SEEDS (DER), each changed by one to four mutations; DONORS lend the subtrees spliced in. */
export function mutatedDer(seeds: readonly Buffer[], donors: readonly Buffer[] = seeds): fc.Arbitrary<Buffer> {
  const seedTrees = seeds.map((seed) => parseTree(seed) ?? primitive(0x04, seed));
  const donorTrees = donors.flatMap((donor) => parseTree(donor) ?? []);
  return fc
    .tuple(fc.nat(seedTrees.length - 1), fc.array(mutation, { minLength: 1, maxLength: 4 }))
    .map(([seed, changes]) => {
      const draft = changes.reduce<Draft>((current, change) => applyMutation(current, change, donorTrees), {
        tree: seedTrees[seed]!,
      });
      return 'bytes' in draft ? draft.bytes : encodeTree(draft.tree);
    });
}

/** DER made up from nothing: random tags, primitive and constructed, a few levels deep. */
export const generatedDer: fc.Arbitrary<Buffer> = fc
  .letrec<{ node: DerNode }>((tie) => ({
    node: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc
        .tuple(
          fc.integer({ min: 0, max: 30 }),
          fc.constantFrom(0x00, 0x40, 0x80, 0xc0),
          fc.uint8Array({ maxLength: 24 }),
        )
        .map(([tag, tagClass, content]) => primitive(tagClass | tag, Buffer.from(content))),
      fc
        .record({ kind: fc.constant('oid' as const), content: oidContent })
        .map(({ content }) => primitive(UniversalTag.objectIdentifier, content)),
      fc
        .tuple(fc.constantFrom(0x30, 0x31, 0xa0, 0xa1, 0xa2, 0xa3), fc.array(tie('node'), { maxLength: 5 }))
        .map(([identifier, children]): DerNode => ({
          kind: 'constructed',
          identifier: Buffer.from([identifier]),
          children,
        })),
    ),
  }))
  .node.map((node) => encodeTree(node));
