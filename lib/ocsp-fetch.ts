import { HaposError, ExitCode } from './errors.ts';
import { run } from './exec.ts';
import type { Openssl } from './openssl.ts';

export interface Responder {
  readonly url: string;
  /** `--ocsp-host`: the Host header to send instead of the URL's own. */
  readonly hostHeader?: string;
  readonly proxy?: string;
}

export interface FetchFiles {
  readonly issuer: string;
  readonly cert: string;
  readonly request: string;
  readonly response: string;
}

export interface FetchSettings {
  readonly partialChain: boolean;
  readonly timeoutSeconds: number;
  /** The curl binary when `--use-curl` is set. */
  readonly curl?: string;
}

/** Step 9: asks the responder about the EE and leaves the DER answer in `files.response`. */
export async function fetchOcspResponse(
  openssl: Openssl,
  responder: Responder,
  files: FetchFiles,
  settings: FetchSettings,
): Promise<void> {
  if (settings.curl !== undefined) {
    await fetchWithCurl(openssl, settings.curl, responder, files, settings);
    return;
  }
  const fetched = await openssl.fetchResponse({
    issuer: files.issuer,
    cert: files.cert,
    partialChain: settings.partialChain,
    url: responder.url,
    hostHeader: responder.hostHeader,
    proxy: responder.proxy,
    responseOut: files.response,
    timeoutSeconds: settings.timeoutSeconds,
  });
  if (fetched.exitCode !== 0) throw new HaposError(ExitCode.certificate, "can't receive the OCSP server response");
}

async function fetchWithCurl(
  openssl: Openssl,
  curl: string,
  responder: Responder,
  files: FetchFiles,
  settings: FetchSettings,
): Promise<void> {
  const request = await openssl.writeRequest({
    issuer: files.issuer,
    cert: files.cert,
    partialChain: settings.partialChain,
    requestOut: files.request,
  });
  if (request.exitCode !== 0) throw new HaposError(ExitCode.certificate, "can't create the OCSP request");
  const fetched = await run(curl, [
    '--silent',
    '--show-error',
    '--max-time',
    String(settings.timeoutSeconds),
    '--header',
    'Content-Type: application/ocsp-request',
    ...(responder.hostHeader === undefined ? [] : ['--header', `Host: ${responder.hostHeader}`]),
    ...(responder.proxy === undefined ? [] : ['--proxy', responder.proxy]),
    '--data-binary',
    `@${files.request}`,
    '--output',
    files.response,
    '--write-out',
    '%{http_code}',
    responder.url,
  ]);
  if (fetched.exitCode !== 0 || fetched.stdout.trim() !== '200') {
    throw new HaposError(ExitCode.certificate, "can't receive the OCSP server response");
  }
}

/** The `host[:port]` part of an http(s) URL, as it would appear in a Host header. */
export function hostOfUrl(url: string): string {
  return url.split('/')[2] ?? '';
}

export const isHttpUrl = (url: string): boolean => /^https?:\/\//i.test(url);
