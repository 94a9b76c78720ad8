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

/** Why a connection failed, naming the proxy when there is one: the connection that failed was then the proxy's. */
export const connectFailure = (reason: string, proxy: string | undefined): string =>
  proxy === undefined ? reason : `${reason} (--ocsp-proxy ${proxy})`;

/** The words every client uses for a body that cannot be an OCSP response. */
export const EMPTY_BODY = 'an empty body instead of an OCSP response';
export const textBody = (contentType: string): string => `a ${contentType} body instead of an OCSP response`;

/**
 * The server answered, but not with an OCSP response (an HTTP error status,
 * a text or empty body): what a responder that does not take GET requests
 * answers one, so a GET that fails this way is asked again with POST.
 */
export class NotOcspAnswerError extends FetchError {}
