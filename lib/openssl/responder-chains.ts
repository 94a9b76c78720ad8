import { ContentFiles } from '../fs/content-files.ts';
import type { OpensslRunner } from './openssl.ts';

/** How long one `openssl verify` of a responder's certificate may take: it reads local files only. */
const VERIFY_TIMEOUT_MS = 30_000;

/**
 * Whether openssl trusts an OCSP responder's certificate for signing
 * responses, as `openssl ocsp` checks it before it takes a response (`openssl
 * verify -purpose ocsphelper`, the response's other certificates untrusted,
 * the same trust). A batch's thousand responses come from a handful of
 * responders: each is verified once per run, not once per response.
 */
export class ResponderChains {
  /** Responders found trusted; one that was not is asked about again, so that a slow run's timeout is not held against it. */
  private readonly trusted = new Map<string, Promise<boolean>>();
  private readonly files: ContentFiles;

  constructor(
    private readonly openssl: OpensslRunner,
    workDir: string,
  ) {
    this.files = new ContentFiles(workDir, 'responder.pem');
  }

  /** SIGNER_PEM's chain, with UNTRUSTED_PEM (possibly empty) to build it from, against the CA file TRUST_FILE. */
  trusts(signerPem: string, untrustedPem: string, trustFile: string): Promise<boolean> {
    const key = `${trustFile}\n${signerPem}\n${untrustedPem}`;
    let verdict = this.trusted.get(key);
    if (verdict === undefined) {
      verdict = this.verify(signerPem, untrustedPem, trustFile);
      this.trusted.set(key, verdict);
      verdict.then(
        (trusted) => trusted || this.trusted.delete(key),
        () => this.trusted.delete(key),
      );
    }
    return verdict;
  }

  private async verify(signerPem: string, untrustedPem: string, trustFile: string): Promise<boolean> {
    const signerFile = await this.files.pathFor(signerPem);
    const untrusted = untrustedPem === '' ? [] : ['-untrusted', await this.files.pathFor(untrustedPem)];
    const result = await this.openssl.verifyWith(
      ['-purpose', 'ocsphelper', '-CAfile', trustFile, ...untrusted, signerFile],
      AbortSignal.timeout(VERIFY_TIMEOUT_MS),
    );
    return result.exitCode === 0 && result.stdout.trim() === `${signerFile}: OK`;
  }
}
