/**
 * What the lints read of a bundle: its certificates, each with its place in
 * the file, how they chain, and the files HAProxy loads beside it.
 */
import { PEM_FILE_MAX_BYTES } from '../fs/caps.ts';
import { FileReadError, readRegularFileSync } from '../fs/read.ts';
import {
  describeName,
  isIssuedBy,
  parseBundle,
  type BundleCertificate,
  type OrderedChain,
  type PemBlock,
} from '../pki/bundle.ts';

/** A valid certificate of a bundle, with its block's place in the file: how messages name it. */
export interface Entry extends BundleCertificate {
  readonly position: PemBlock['position'];
}

/** The blocks that are valid certificates, in file order. */
export function entriesOf(blocks: readonly PemBlock[]): Entry[] {
  return blocks.flatMap(({ position, certificate }) => (certificate ? [{ ...certificate, position }] : []));
}

export const describeEntry = (entry: Entry) => `certificate ${entry.position} (${describeName(entry.x509.subject)})`;

export type ExtraFile =
  | { readonly state: 'absent' }
  | { readonly state: 'read'; readonly bytes: Buffer }
  | { readonly state: 'failed'; readonly reason: string };

/** Reads a file HAProxy would look for; like HAProxy's stat(), a dangling link counts as absent. */
export function readExtraFile(path: string, maxBytes = PEM_FILE_MAX_BYTES): ExtraFile {
  try {
    return { state: 'read', bytes: readRegularFileSync(path, { maxBytes }).bytes };
  } catch (error) {
    if (!(error instanceof FileReadError)) throw error;
    if (error.problem.kind === 'missing') return { state: 'absent' };
    return { state: 'failed', reason: readFailureReason(error) };
  }
}

/** The system's code when it refused (as the lints have always said it), else why the file was not read. */
export const readFailureReason = (error: FileReadError) => error.code ?? error.reason;

/** CRT.issuer: hapos-upd uses all of it as the chain, HAProxy only its first certificate. */
export interface IssuerFile {
  readonly path: string;
  readonly file: ExtraFile;
  /** Its PEM certificate blocks, valid or not. */
  readonly blocks: readonly PemBlock[];
  /** The first certificate, when it issued the EE certificate. */
  readonly issuer: BundleCertificate | undefined;
}

export function readIssuerFile(certPath: string, leaf: Entry): IssuerFile {
  const path = `${certPath}.issuer`;
  const file = readExtraFile(path);
  const { blocks } = parseBundle(file.state === 'read' ? file.bytes.toString('latin1') : '');
  const first = blocks[0]?.certificate;
  return { path, file, blocks, issuer: first && isIssuedBy(leaf.x509, first.x509) ? first : undefined };
}

export interface BundleContext {
  readonly certPath: string;
  readonly text: string;
  readonly entries: readonly [Entry, ...Entry[]];
  readonly chain: OrderedChain<Entry>;
  readonly issuerFile: IssuerFile;
  readonly ocspFile: ExtraFile;
}
