import { existsSync } from 'node:fs';
import { findIssuer, parseBundle, readPemFile, type Bundle, type BundleCertificate } from '../pki/bundle.ts';
import { computeCertId, type CertId } from '../pki/cert-id.ts';
import { CertificateParseError, type CertificateDetails } from '../pki/certificate.ts';
import { hostOfUrl, isHttpUrl, type Responder } from '../responder/fetch.ts';
import { FileReadError } from '../fs/read.ts';
import { escapeControls } from '../util/printable.ts';
import type { Log } from '../util/log.ts';
import type { Chain, UpdateContext, UpdateOptions } from './context.ts';
import { NoOcspUrlError, UpdateFailure } from './failure.ts';

/** Choose the responder: where to send the request, and with which Host header. */
export function chooseResponder(
  details: CertificateDetails,
  options: UpdateOptions,
  context: UpdateContext,
): Responder {
  const { log } = context;
  let url = options.ocspUrl;
  if (url === undefined) {
    // A URI that is not ASCII, say: no http[s]:// URL either.
    if (details.unreadableAia !== undefined) {
      throw new UpdateFailure('parsing', `OCSP server URL not in http[s]:// format (${details.unreadableAia})`);
    }
    url = details.ocspUrls[0];
    if (url === undefined) throw new NoOcspUrlError();
    log.debug(`OCSP server URL found: ${escapeControls(url)}`);
  } else {
    log.debug(`Using OCSP server URL from command line: ${escapeControls(url)}`);
  }
  if (!isHttpUrl(url)) throw new UpdateFailure('parsing', 'OCSP server URL not in http[s]:// format');

  if (options.ocspHost === undefined) {
    log.debug(`OCSP server hostname: ${escapeControls(hostOfUrl(url))}`);
  } else {
    log.debug(`Using OCSP server hostname from command line: ${escapeControls(options.ocspHost)}`);
  }
  if (options.ocspProxy !== undefined && !isHttpUrl(options.ocspProxy)) {
    throw new UpdateFailure('parsing', 'OCSP server PROXY not in http[s]:// format');
  }
  const viaOpensslBefore11 = context.httpClient.kind !== 'curl' && context.openssl.needsExplicitHost;
  return {
    url,
    hostHeader: options.ocspHost ?? (viaOpensslBefore11 ? hostOfUrl(url) : undefined),
    proxy: options.ocspProxy,
  };
}

/** Choose the chain: `CERT.issuer` when present, else the bundle's other certificates. */
export function chooseChain(cert: string, bundle: Bundle, ee: BundleCertificate, log: Log): Chain {
  const issuerFile = `${cert}.issuer`;
  if (existsSync(issuerFile)) {
    log.debug(`Using existing chain (${issuerFile})`);
    let issuerText: string;
    try {
      issuerText = readPemFile(issuerFile);
    } catch (error) {
      if (!(error instanceof FileReadError)) throw error;
      throw new UpdateFailure('parsing', `can't copy current chain from ${issuerFile} (${error.reason})`);
    }
    return { certificates: parseBundle(issuerText).certificates, pem: issuerText, fromIssuerFile: true };
  }
  log.debug('Extracting chain from certificates bundle');
  log.debug(`EE certificate's fingerprint: ${ee.fingerprint}`);
  if (bundle.blocks.length <= 1) {
    throw new UpdateFailure(
      'parsing',
      `can't obtain the number of certificates in the chain (the bundle holds only the EE certificate and there is no ${issuerFile})`,
    );
  }
  log.debug(`${bundle.blocks.length} certificates found in the bundle`);
  const chain: BundleCertificate[] = [];
  for (const { position, certificate } of bundle.blocks) {
    if (certificate === undefined) {
      throw new UpdateFailure(
        'certificate',
        `can't obtain the fingerprint of the certificate n. ${position} in the bundle`,
      );
    }
    const isEndEntity = certificate.fingerprint === ee.fingerprint;
    log.debug(
      `Bundle certificate n. ${position} fingerprint: ${certificate.fingerprint} - ${isEndEntity ? 'EE certificate' : "it's part of the chain"}`,
    );
    if (!isEndEntity) chain.push(certificate);
  }
  return { certificates: chain, pem: chainPemOf(ee, chain), fromIssuerFile: false };
}

/** A bundle's chain: every certificate but the EE, in bundle order. */
export function chainPemOf(ee: BundleCertificate, certificates: readonly BundleCertificate[]): string {
  return certificates
    .filter((certificate) => certificate.fingerprint !== ee.fingerprint)
    .map((certificate) => certificate.pem)
    .join('');
}

/** What openssl verify and ocsp trust as CAfile: the chain, with extra anchors appended when given. */
export function trustPemOf(chainPem: string, extraCaFile: string | undefined): string {
  if (extraCaFile === undefined) return chainPem;
  try {
    return chainPem + readPemFile(extraCaFile);
  } catch (error) {
    if (!(error instanceof FileReadError)) throw error;
    throw new UpdateFailure('run', `--ca-file ${extraCaFile}: ${error.reason}`);
  }
}

/** The EE's issuer among the chain: the CertID HAProxy files the response under is computed from it. */
export function issuerOf(ee: BundleCertificate, chain: readonly BundleCertificate[]): BundleCertificate {
  const issuer = findIssuer(ee, chain);
  if (issuer === undefined) {
    throw new UpdateFailure('certificate', "can't find the EE certificate's issuer in the chain");
  }
  return issuer;
}

/** The CertID HAProxy files the response under; a certificate whose DER can't be walked is exit 1. */
export function certIdOf(ee: BundleCertificate, issuer: BundleCertificate): CertId {
  try {
    return computeCertId(ee.x509, issuer.x509);
  } catch (error) {
    if (!(error instanceof CertificateParseError)) throw error;
    throw new UpdateFailure('certificate', error.message);
  }
}
