/** The responder gave no OCSP response; `transient` failures are worth retrying. */
export class FetchError extends Error {
  constructor(
    readonly reason: string,
    readonly transient: boolean,
  ) {
    super(reason);
    this.name = 'FetchError';
  }
}

/** The request could not even be built (bad chain or certificate). */
export class RequestError extends Error {}

/** Why a fetch that ran out of time failed, whichever client made it. */
export const NO_ANSWER = 'no answer before the timeout';

/**
 * The server answered, but not with an OCSP response (an HTTP error status,
 * a text or empty body): what a responder that does not take GET requests
 * answers one, so a GET that fails this way is asked again with POST.
 */
export class NotOcspAnswerError extends FetchError {}
