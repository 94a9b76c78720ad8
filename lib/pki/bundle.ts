import { X509Certificate } from 'node:crypto';
import { PEM_FILE_MAX_BYTES } from '../fs/caps.ts';
import { readRegularFileSync } from '../fs/read.ts';
import { LruCache } from '../util/lru-cache.ts';
import { shorten } from '../util/printable.ts';

/**
 * A certificate's subject or issuer on one line, cut when huge, for messages.
 * Node gives undefined for an empty name, whatever its typings say.
 */
export const describeName = (name: string | undefined): string =>
  name ? shorten(name.replace(/\n/g, ', '), 200) : 'empty name';

const BEGIN = '-----BEGIN ';
const END = '-----END ';
const DASHES = '-----';

/**
 * The PEM blocks of TEXT whose label ACCEPTS_LABEL takes, in file order: each
 * from a `-----BEGIN LABEL-----` line to the first `-----END LABEL-----`
 * after it, blocks never overlapping; text around them is ignored. It reads
 * TEXT a bounded number of times: a lazy regular expression instead rescans
 * the rest of the file from every BEGIN line that has no END, so that a few
 * megabytes of BEGIN lines took minutes.
 */
export function findPemBlocks(text: string, acceptsLabel: (label: string) => boolean): string[] {
  const lastEndOf = lastEndLines(text);
  const blocks: string[] = [];
  let from = 0;
  for (let begin = text.indexOf(BEGIN, from); begin !== -1; begin = text.indexOf(BEGIN, from)) {
    from = begin + 1;
    const labelStart = begin + BEGIN.length;
    const labelEnd = text.indexOf(DASHES, labelStart);
    if (labelEnd === -1) break;
    const label = text.slice(labelStart, labelEnd);
    let lineEnd = labelEnd + DASHES.length;
    if (text[lineEnd] === '\r') lineEnd++;
    if (text[lineEnd] !== '\n' || !acceptsLabel(label) || !((lastEndOf.get(label) ?? -1) > lineEnd)) continue;
    const endLine = `${END}${label}${DASHES}`;
    const end = text.indexOf(endLine, lineEnd + 1) + endLine.length;
    blocks.push(text.slice(begin, end));
    from = end;
  }
  return blocks;
}

/** Where the last `-----END LABEL-----` line of each label starts. */
function lastEndLines(text: string): Map<string, number> {
  const lastEndOf = new Map<string, number>();
  for (let end = text.indexOf(END); end !== -1; end = text.indexOf(END, end + 1)) {
    const labelStart = end + END.length;
    const labelEnd = text.indexOf(DASHES, labelStart);
    if (labelEnd === -1) break;
    lastEndOf.set(text.slice(labelStart, labelEnd), end);
  }
  return lastEndOf;
}

/** Every PEM certificate block of a bundle, in file order; text around them (keys, comments) is ignored. */
function splitPemCertificates(text: string): string[] {
  return findPemBlocks(text, (label) => label === 'CERTIFICATE').map((block) => `${block.replace(/\r\n/g, '\n')}\n`);
}

export interface BundleCertificate {
  readonly pem: string;
  readonly x509: X509Certificate;
  /** As `openssl x509 -fingerprint -noout` prints it: `SHA1 Fingerprint=AA:BB:…`. */
  readonly fingerprint: string;
}

/**
 * The intermediates of a batch repeat in every bundle (and its `.issuer`):
 * recently parsed blocks are kept so each is decoded once, not once per
 * certificate. Bounded, so that a batch's leaves do not pile up.
 */
const recentlyParsed = new LruCache<string, BundleCertificate | undefined>(64);

/** Parses one PEM block; undefined when the block is not a valid certificate. */
function parseCertificate(pem: string): BundleCertificate | undefined {
  return recentlyParsed.getOrCompute(pem, decodeCertificate);
}

function decodeCertificate(pem: string): BundleCertificate | undefined {
  try {
    const x509 = new X509Certificate(pem);
    return { pem, x509, fingerprint: `SHA1 Fingerprint=${x509.fingerprint}` };
  } catch {
    return undefined;
  }
}

/** One PEM certificate block of a bundle or chain file. */
export interface PemBlock {
  /** 1-based, in file order: how messages name it ("certificate n. 2"). */
  readonly position: number;
  readonly pem: string;
  /** Undefined when the block is not a valid certificate. */
  readonly certificate?: BundleCertificate;
}

/**
 * A certificate bundle (or a `.issuer` chain) as the update, `--check` and
 * the lints all see it. The EE is the first certificate, as HAProxy serves it
 * and the original updater extracted it (`endEntityOf`); which certificate
 * merely looks like the EE is `orderedChain`'s diagnosis.
 */
export interface Bundle {
  readonly text: string;
  readonly blocks: readonly PemBlock[];
  /** The blocks that are valid certificates, in file order. */
  readonly certificates: readonly BundleCertificate[];
}

/**
 * Reads a PEM file within its cap; a FileReadError says why it can't be.
 * Bundles and chains are a few kilobytes, read synchronously: in a batch, the
 * thread-pool round trips of an asynchronous read (open, stat, read, close)
 * cost more than the reading.
 */
export function readPemFile(path: string): string {
  return readRegularFileSync(path, { maxBytes: PEM_FILE_MAX_BYTES }).bytes.toString('latin1');
}

export function readBundle(path: string): Bundle {
  return parseBundle(readPemFile(path));
}

export function parseBundle(text: string): Bundle {
  const blocks = splitPemCertificates(text).map((pem, index) => ({
    position: index + 1,
    pem,
    certificate: parseCertificate(pem),
  }));
  return { text, blocks, certificates: blocks.flatMap((block) => block.certificate ?? []) };
}

/** The EE: the bundle's first block, when it is a valid certificate. */
export function endEntityOf(bundle: Bundle): BundleCertificate | undefined {
  return bundle.blocks[0]?.certificate;
}

/**
 * Whether `issuer` issued `child`: names and key identifiers agree (OpenSSL's
 * X509_check_issued, HAProxy's test) and the signature verifies with its key.
 */
export function isIssuedBy(child: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return child.checkIssued(issuer) && child.verify(issuer.publicKey);
  } catch {
    // node throws on key types it cannot verify with: no proof of issuance then.
    return false;
  }
}

type WithX509 = { readonly x509: X509Certificate };

/** The certificate among `candidates` that issued `child`, the first when several did. */
export function findIssuer<T extends WithX509>(child: WithX509, candidates: readonly T[]): T | undefined {
  return candidates.find((candidate) => candidate !== child && isIssuedBy(child.x509, candidate.x509));
}

export interface OrderedChain<T extends WithX509> {
  /** The certificate that looks like the EE: not a CA and the issuer of no other one (preferring the first). */
  readonly leaf: T;
  /** The leaf's issuer, that one's issuer, and so on, as far as the certificates given go. */
  readonly issuers: readonly T[];
  /** Certificates on no chain from the leaf. */
  readonly unrelated: readonly T[];
}

function issuesAnother<T extends WithX509>(candidate: T, certificates: readonly T[]): boolean {
  return certificates.some((other) => other !== candidate && isIssuedBy(other.x509, candidate.x509));
}

function pickLeaf<T extends WithX509>(certificates: readonly [T, ...T[]]): T {
  const [first] = certificates;
  const issuingNothing = certificates.filter((candidate) => !issuesAnother(candidate, certificates));
  const endEntities = issuingNothing.filter((candidate) => !candidate.x509.ca);
  const candidates = endEntities.length > 0 ? endEntities : issuingNothing;
  return candidates.includes(first) ? first : (candidates[0] ?? first);
}

/**
 * The chain the certificates make, whatever their order: the certificate that
 * looks like the EE, then each issuer in turn. Undefined when there are no
 * certificates.
 */
export function orderedChain<T extends WithX509>(certificates: readonly T[]): OrderedChain<T> | undefined {
  const [first, ...rest] = certificates;
  if (!first) return undefined;
  const leaf = pickLeaf([first, ...rest]);
  const chain: T[] = [leaf];
  for (;;) {
    const issuer = findIssuer(
      chain.at(-1)!,
      certificates.filter((candidate) => !chain.includes(candidate)),
    );
    if (issuer === undefined) break;
    chain.push(issuer);
  }
  return {
    leaf,
    issuers: chain.slice(1),
    unrelated: certificates.filter((certificate) => !chain.includes(certificate)),
  };
}
