import { setTimeout as sleep } from 'node:timers/promises';
import { OcspParseError, parseOcspResponse, type OcspResponse } from '../pki/ocsp-response.ts';
import { fetchOcspResponse, hostOfUrl, type Fetched, type Responder } from '../responder/fetch.ts';
import { FetchError, RequestError } from '../responder/errors.ts';
import type { Verification } from '../openssl/openssl.ts';
import type { CommandResult } from '../process/run.ts';
import type { CertId } from '../pki/cert-id.ts';
import type { LockedContext, TempFiles, UpdateOptions } from './context.ts';
import { UpdateFailure } from './failure.ts';

/** Exponential backoff with jitter: about 1 s, 2 s, 4 s… */
export const defaultRetryDelayMs = (attempt: number): number => 1000 * 2 ** attempt * (0.5 + Math.random());

export interface Received {
  readonly der: Buffer;
  readonly response: OcspResponse;
  /** OpenSSL's verdict when its client fetched the response; curl leaves that to the check. */
  readonly verdict?: CommandResult;
  /** With `--nonce`, the nonce the request carried. */
  readonly sentNonce?: Buffer;
}

/**
 * Fetch, with retries: transport failures and `tryLater` are retried with
 * backoff; anything that is not an OCSP response at all is exit 1.
 */
export async function fetchResponse(
  responder: Responder,
  certId: CertId,
  files: TempFiles,
  verification: Verification,
  options: UpdateOptions,
  context: LockedContext,
): Promise<Received> {
  const { deadline } = context;
  const fetchFiles = { issuer: files.chain, cert: files.ee, request: files.request, response: files.response };
  const settings = {
    partialChain: options.partialChain,
    nonce: options.nonce,
    get: options.get,
    timeoutSeconds: options.timeoutSeconds,
    client: context.httpClient,
    certIdDer: certId.der,
    verification,
    signal: deadline.signal,
    log: context.log,
  };
  const notReceived = (why: string) =>
    new UpdateFailure('certificate', `can't receive the OCSP server response: ${why}`);
  for (let attempt = 0; ; attempt++) {
    const retry = async (why: string) => {
      const delayMs = context.retryDelayMs(attempt);
      // A pause that would outlast the deadline leaves no time for another attempt: fail now.
      if (delayMs >= deadline.remainingMs()) {
        throw notReceived(
          `${why}; no time left for another attempt before the ${deadline.seconds} s deadline (--deadline)`,
        );
      }
      context.log.debug(`OCSP request failed (${why}); retrying in ${(delayMs / 1000).toFixed(1)} s`);
      await sleep(delayMs, undefined, { signal: deadline.signal }).catch(() => {
        throw notReceived(deadline.reason);
      });
    };
    let fetched: Fetched;
    try {
      fetched = await context.throttleResponder(hostOfUrl(responder.url), () =>
        fetchOcspResponse(context.openssl, responder, fetchFiles, settings),
      );
    } catch (error) {
      if (deadline.passed) throw notReceived(deadline.reason);
      if (error instanceof RequestError) throw new UpdateFailure('certificate', error.message);
      if (!(error instanceof FetchError)) throw error;
      if (error.transient && attempt < options.retries) {
        await retry(error.reason);
        continue;
      }
      throw notReceived(error.reason);
    }
    let response: OcspResponse;
    try {
      response = parseOcspResponse(fetched.body);
    } catch (error) {
      if (!(error instanceof OcspParseError)) throw error;
      throw notReceived(error.message);
    }
    if (response.responseStatus === 'tryLater' && attempt < options.retries) {
      await retry('the responder answered tryLater');
      continue;
    }
    return { der: fetched.body, response, verdict: fetched.verdict, sentNonce: fetched.sentNonce };
  }
}
