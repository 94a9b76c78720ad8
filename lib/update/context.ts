import type { BundleCertificate, Bundle } from '../pki/bundle.ts';
import type { CertificateDetails } from '../pki/certificate.ts';
import type { CertStatus, OcspResponse } from '../pki/ocsp-response.ts';
import type { OpensslRunner } from '../openssl/openssl.ts';
import type { ResponderClient } from '../responder/fetch.ts';
import type { ChainVerifier } from '../openssl/chain-verifier.ts';
import type { ResponderChains } from '../openssl/responder-chains.ts';
import { ContentFiles } from '../fs/content-files.ts';
import type { HaproxyNotifier, HaproxyTargetReport } from '../haproxy/notifier.ts';
import type { Log } from '../util/log.ts';
import type { Deadline } from './deadline.ts';

export interface UpdateOptions {
  readonly cert: string;
  /** `-d`: query and check, but write nothing and leave HAProxy alone. */
  readonly dryRun: boolean;
  readonly goodOnly: boolean;
  readonly ocspUrl?: string;
  readonly ocspHost?: string;
  readonly ocspProxy?: string;
  readonly partialChain: boolean;
  /** `--VAfile`: a file, or `chain` for `-` (the extracted chain or `.issuer`). */
  readonly vaFile?: string | { readonly useChain: true };
  readonly verify: boolean;
  readonly skipUpdate: boolean;
  readonly timeoutSeconds: number;
  /** Further attempts after a transient failure or `tryLater`. */
  readonly retries: number;
  readonly lockTimeoutSeconds: number;
  /** Everything after the lock (verification, fetch with its retries, HAProxy) must end within this. */
  readonly deadlineSeconds: number;
  /** Leave a valid response in place alone while most of its validity is ahead. */
  readonly skipFresh: boolean;
  /** `--nonce`: send a nonce and take only a response that echoes it. */
  readonly nonce: boolean;
  /** `--get`: ask with GET (RFC 5019) when the request fits in the URL. */
  readonly get: boolean;
  /** Trust anchors beside the system store (`--check --ca-file`), for a private root. */
  readonly extraCaFile?: string;
}

/** What the update of one certificate runs with: the tools, where it writes, and what it reports to. */
export interface UpdateContext {
  readonly openssl: OpensslRunner;
  /** What carries requests to responders. */
  readonly httpClient: ResponderClient;
  readonly log: Log;
  /** This certificate's own temporary files go here. */
  readonly tempDir: string;
  /** Chain and trust files, shared by the certificates of a run that have the same. */
  readonly sharedFiles: SharedTempFiles;
  readonly haproxy: HaproxyNotifier;
  readonly now: () => Date;
  /** Waits between retries; tests pass a faster one. */
  readonly retryDelayMs: (attempt: number) => number;
  /** EE certificates a batch already verified against their chain, in bulk. */
  readonly verifiedChains?: ChainVerifier;
  /** In a batch, which OCSP responders openssl trusts, verified once each: responses are then checked in-process. */
  readonly responderChains?: ResponderChains;
  /** Gates requests per responder host, so that a batch never hammers one CA. */
  readonly throttleResponder: <R>(host: string, request: () => Promise<R>) => Promise<R>;
}

/** The context once the certificate's lock is held: its deadline runs. */
export interface LockedContext extends UpdateContext {
  readonly deadline: Deadline;
}

export interface SharedTempFiles {
  readonly chains: ContentFiles;
  /** A chain with the extra anchors of `--ca-file`, when there are any. */
  readonly trusts: ContentFiles;
}

/** The shared files of one run, in its temporary directory. */
export function sharedTempFilesIn(tempDir: string): SharedTempFiles {
  return { chains: new ContentFiles(tempDir, 'chain.pem'), trusts: new ContentFiles(tempDir, 'trust.pem') };
}

export type UpdateAction = 'updated' | 'revoked' | 'checked' | 'kept-current' | 'skipped-fresh';

export interface UpdateResult {
  /**
   * `updated`, or `revoked` when the response installed says the certificate
   * is; `checked` in debug mode (nothing written), `kept-current` when the
   * response in place is newer, `skipped-fresh` when it was fresh enough.
   */
  readonly action: UpdateAction;
  readonly certStatus: CertStatus;
  readonly thisUpdate: Date;
  readonly nextUpdate?: Date;
  /** When the responder signed the response. */
  readonly producedAt?: Date;
  /** What each HAProxy did with the response, when one was notified. */
  readonly haproxy?: readonly HaproxyTargetReport[];
}

/** What is in place before anything is asked: the bundle, its EE and the response HAProxy has now. */
export interface InPlace {
  readonly cert: string;
  readonly bundle: Bundle;
  readonly ee: BundleCertificate;
  readonly details: CertificateDetails;
  /** The response in place, when it could be read. */
  readonly current?: OcspResponse;
}

export interface Chain {
  readonly certificates: readonly BundleCertificate[];
  /** The chain file's text, as openssl gets it. */
  readonly pem: string;
  /** Whether it came from an existing `CERT.issuer` rather than the bundle. */
  readonly fromIssuerFile: boolean;
}

/** The files openssl reads and writes for one certificate. */
export interface TempFiles {
  readonly ee: string;
  readonly request: string;
  readonly response: string;
  readonly chain: string;
  /** What openssl trusts: the chain file itself, or the chain with extra anchors. */
  readonly trust: string;
}
