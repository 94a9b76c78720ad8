import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { OpensslRunner } from './openssl.ts';
import { appendTo } from '../util/multimap.ts';

export interface VerificationRequest {
  readonly eePem: string;
  /** What openssl verify trusts: the chain, plus any extra anchors. */
  readonly trustPem: string;
  readonly partialChain: boolean;
}

/** How many EE files one `openssl verify` call takes. */
const filesPerProcess = 200;

/**
 * Verifies many EE certificates that share a chain in a few `openssl verify`
 * processes instead of one each: in a batch of a thousand certificates under
 * one intermediate, a process per certificate is most of the cost. Only
 * successes are remembered; anything else is verified again, one by one, by
 * the update flow, which then reports the failure in its own words.
 */
export class ChainVerifier {
  private readonly verified = new Set<string>();

  constructor(
    private readonly openssl: OpensslRunner,
    private readonly workDir: string,
  ) {}

  has(request: VerificationRequest): boolean {
    return this.verified.has(keyOf(request));
  }

  async prime(requests: readonly VerificationRequest[]): Promise<void> {
    const groups = new Map<string, VerificationRequest[]>();
    for (const request of requests) {
      const group = `${request.partialChain}\n${request.trustPem}`;
      appendTo(groups, group, request);
    }
    await mkdir(this.workDir, { recursive: true, mode: 0o700 });
    let fileNumber = 0;
    for (const group of groups.values()) {
      const [first] = group;
      if (first === undefined) continue;
      const trustFile = path.join(this.workDir, `trust-${++fileNumber}.pem`);
      await writeFile(trustFile, first.trustPem);
      for (let start = 0; start < group.length; start += filesPerProcess) {
        const chunk = group.slice(start, start + filesPerProcess);
        const eeFiles = await Promise.all(
          chunk.map(async (request) => {
            const eeFile = path.join(this.workDir, `ee-${++fileNumber}.pem`);
            await writeFile(eeFile, request.eePem);
            return eeFile;
          }),
        );
        const result = await this.openssl.verifyWith([
          ...(first.partialChain ? ['-partial_chain'] : []),
          '-CAfile',
          trustFile,
          ...eeFiles,
        ]);
        const passed = new Set(
          result.stdout.split('\n').flatMap((line) => (line.endsWith(': OK') ? [line.slice(0, -4)] : [])),
        );
        chunk.forEach((request, index) => {
          if (passed.has(eeFiles[index]!)) this.verified.add(keyOf(request));
        });
      }
    }
  }
}

function keyOf(request: VerificationRequest): string {
  return createHash('sha256').update(`${request.partialChain}\n${request.trustPem}\n${request.eePem}`).digest('hex');
}
