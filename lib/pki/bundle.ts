import { X509Certificate } from 'node:crypto';
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
export function splitPemCertificates(text: string): string[] {
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
export function parseCertificate(pem: string): BundleCertificate | undefined {
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
