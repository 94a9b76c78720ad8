import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { HaposError, ExitCode } from './errors.ts';
import { parseCertificate, splitPemCertificates, ocspUrls, type BundleCertificate } from './bundle.ts';
import type { Openssl } from './openssl.ts';
import { parseOcspResponse } from './ocsp-response.ts';
import {
  formatOpensslDate,
  parseOcspStatusBlock,
  parseVerificationOutcome,
  type CertStatus,
  type OcspStatusBlock,
} from './openssl-output.ts';
import { fetchOcspResponse, hostOfUrl, isHttpUrl, type Responder } from './ocsp-fetch.ts';
import type { RunLog } from './run-log.ts';

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
}

export interface HaproxyNotifier {
  /** Hands HAProxy the new response; `hadResponse` says whether `CERT.ocsp` existed before this run. */
  notify(update: { cert: string; responseDer: Buffer; hadResponse: boolean }): Promise<void>;
}

export interface UpdateContext {
  readonly openssl: Openssl;
  /** The curl binary, when `--use-curl` is set. */
  readonly curl?: string;
  readonly log: RunLog;
  readonly tempDir: string;
  readonly haproxy: HaproxyNotifier;
  readonly now: () => Date;
}

export interface UpdateResult {
  readonly certStatus: CertStatus;
  readonly thisUpdate?: Date;
  readonly nextUpdate?: Date;
  /** False in debug mode, where nothing is written. */
  readonly written: boolean;
}

/** The original updater's flow for one certificate bundle, steps 3 to 12 of the contract. */
export async function updateCertificate(options: UpdateOptions, context: UpdateContext): Promise<UpdateResult> {
  const { cert } = options;
  const files = tempFiles(context.tempDir);
  const hadResponse = existsSync(`${cert}.ocsp`);
  if (hadResponse) await reportCurrentResponse(cert, context);

  const ee = await extractEndEntity(cert, files.ee);
  const responder = resolveResponder(ee, options, context);
  const chainFromIssuerFile = await prepareChain(cert, ee, files.chain, context.log);
  await verifyEndEntity(cert, chainFromIssuerFile, files, options, context);

  await fetchOcspResponse(
    context.openssl,
    responder,
    { issuer: files.chain, cert: files.ee, request: files.request, response: files.response },
    { partialChain: options.partialChain, timeoutSeconds: options.timeoutSeconds, curl: context.curl },
  );
  const status = await checkResponse(files, options, context);

  if (options.dryRun) {
    context.log.debug('Debug mode: haproxy update skipped.');
    return { ...datesOf(status), written: false };
  }
  const responseDer = await readFile(files.response);
  await install(cert, responseDer, files.chain, chainFromIssuerFile);
  if (options.skipUpdate) {
    context.log.debug('Not notifying haproxy because skip-update is set.');
  } else {
    await context.haproxy.notify({ cert, responseDer, hadResponse });
  }
  return { ...datesOf(status), written: true };
}

function tempFiles(tempDir: string) {
  const inTemp = (name: string) => path.join(tempDir, name);
  return {
    ee: inTemp('ee.pem'),
    chain: inTemp('chain.pem'),
    request: inTemp('ocsp-request.der'),
    response: inTemp('ocsp.der'),
    status: inTemp('ocsp.txt'),
  };
}

type TempFiles = ReturnType<typeof tempFiles>;

const datesOf = (status: OcspStatusBlock) => ({
  certStatus: status.status,
  thisUpdate: status.thisUpdate,
  nextUpdate: status.nextUpdate,
});

/**
 * Step 3: says whether the response in place has expired. An unreadable file
 * is reported and replaced; the original silently ignored it.
 */
async function reportCurrentResponse(cert: string, context: UpdateContext): Promise<void> {
  const { log } = context;
  log.debug('An OCSP response already exists: checking its expiration.');
  let nextUpdate: Date | undefined;
  try {
    const current = parseOcspResponse(await readFile(`${cert}.ocsp`));
    nextUpdate = current.responseStatus === 'successful' ? current.responses[0]?.nextUpdate : undefined;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    await log.error(`current OCSP response ${cert}.ocsp is unreadable (${reason}): it will be replaced`);
    return;
  }
  if (nextUpdate === undefined) return;
  const expiration = formatOpensslDate(nextUpdate);
  if (nextUpdate.getTime() < context.now().getTime()) {
    log.debug(`Current OCSP response expiration: ${expiration} - expired`);
    await log.error('current OCSP response is expired: please consider running this script more frequently');
  } else {
    log.debug(`Current OCSP response expiration: ${expiration} - NOT expired`);
  }
}

/** Step 4: the bundle's first certificate is the EE. */
async function extractEndEntity(cert: string, eePath: string): Promise<BundleCertificate> {
  const fail = () => new HaposError(ExitCode.certificate, `can't extract EE certificate from ${cert}`);
  const bundleText = await readFile(cert, 'latin1').catch(() => {
    throw fail();
  });
  const [firstPem] = splitPemCertificates(bundleText);
  const ee = firstPem === undefined ? undefined : parseCertificate(firstPem);
  if (ee === undefined) throw fail();
  await writeFile(eePath, ee.pem);
  return ee;
}

/** Steps 5 and 6: where to send the request, and with which Host header. */
function resolveResponder(ee: BundleCertificate, options: UpdateOptions, context: UpdateContext): Responder {
  const { log } = context;
  let url = options.ocspUrl;
  if (url === undefined) {
    url = ocspUrls(ee.x509)[0];
    if (url === undefined) throw new HaposError(ExitCode.noOcspUrl, 'OCSP server URL not found in the EE certificate');
    log.debug(`OCSP server URL found: ${url}`);
  } else {
    log.debug(`Using OCSP server URL from command line: ${url}`);
  }
  if (!isHttpUrl(url)) throw new HaposError(ExitCode.parsing, 'OCSP server URL not in http[s]:// format');

  if (options.ocspHost === undefined) {
    log.debug(`OCSP server hostname: ${hostOfUrl(url)}`);
  } else {
    log.debug(`Using OCSP server hostname from command line: ${options.ocspHost}`);
  }
  if (options.ocspProxy !== undefined && !isHttpUrl(options.ocspProxy)) {
    throw new HaposError(ExitCode.parsing, 'OCSP server PROXY not in http[s]:// format');
  }
  const viaOpensslBefore11 = context.curl === undefined && context.openssl.needsExplicitHost;
  return {
    url,
    hostHeader: options.ocspHost ?? (viaOpensslBefore11 ? hostOfUrl(url) : undefined),
    proxy: options.ocspProxy,
  };
}

/** Step 7: the chain comes from `CERT.issuer` when present, else from the bundle; returns which. */
async function prepareChain(cert: string, ee: BundleCertificate, chainPath: string, log: RunLog): Promise<boolean> {
  const issuerFile = `${cert}.issuer`;
  if (existsSync(issuerFile)) {
    log.debug(`Using existing chain (${issuerFile})`);
    await copyFile(issuerFile, chainPath).catch(() => {
      throw new HaposError(ExitCode.parsing, `can't copy current chain from ${issuerFile}`);
    });
    return true;
  }
  log.debug('Extracting chain from certificates bundle');
  log.debug(`EE certificate's fingerprint: ${ee.fingerprint}`);
  const pems = splitPemCertificates(await readFile(cert, 'latin1'));
  if (pems.length <= 1) throw new HaposError(ExitCode.parsing, "can't obtain the number of certificates in the chain");
  log.debug(`${pems.length} certificates found in the bundle`);
  const chain: string[] = [];
  for (const [index, pem] of pems.entries()) {
    const certificate = parseCertificate(pem);
    if (certificate === undefined) {
      throw new HaposError(
        ExitCode.certificate,
        `can't obtain the fingerprint of the certificate n. ${index + 1} in the bundle`,
      );
    }
    const isEndEntity = certificate.fingerprint === ee.fingerprint;
    log.debug(
      `Bundle certificate n. ${index + 1} fingerprint: ${certificate.fingerprint} - ${isEndEntity ? 'EE certificate' : "it's part of the chain"}`,
    );
    if (!isEndEntity) chain.push(certificate.pem);
  }
  await writeFile(chainPath, chain.join(''));
  return false;
}

/** Step 8: the EE must chain up through the extracted (or existing) chain. */
async function verifyEndEntity(
  cert: string,
  chainFromIssuerFile: boolean,
  files: TempFiles,
  options: UpdateOptions,
  context: UpdateContext,
): Promise<void> {
  const verified = await context.openssl.verify({
    caFile: files.chain,
    cert: files.ee,
    partialChain: options.partialChain,
  });
  if (verified.exitCode === 0) return;
  throw new HaposError(
    ExitCode.certificate,
    chainFromIssuerFile
      ? `can't validate the EE certificate against the existing chain; if it has been changed recently consider removing the current ${cert}.issuer file and let this script to figure out a new one`
      : "can't validate the EE certificate against the extracted chain",
  );
}

/**
 * Steps 10 and 11. OpenSSL 1.1 and later exit non-zero when only the
 * signature is wrong; that is an OCSP error (4), and exit 1 is kept for a
 * response that could not be read at all.
 */
async function checkResponse(
  files: TempFiles,
  options: UpdateOptions,
  context: UpdateContext,
): Promise<OcspStatusBlock> {
  const { log } = context;
  const vaFile = options.vaFile === undefined || typeof options.vaFile === 'string' ? options.vaFile : files.chain;
  const checked = await context.openssl.checkResponse({
    issuer: files.chain,
    cert: files.ee,
    partialChain: options.partialChain,
    responseIn: files.response,
    caFile: files.chain,
    vaFile,
    verify: options.verify,
    statusOut: files.status,
  });
  const verdictText = `${checked.stdout}${checked.stderr}`.replace(/\s+$/, '');
  const outcome = parseVerificationOutcome(verdictText);
  const unreadable = checked.exitCode !== 0 && (!options.verify || outcome === 'absent');
  if (unreadable) throw new HaposError(ExitCode.certificate, "can't receive OCSP response");

  if (options.verify) {
    log.debug(`OCSP response verification results: ${verdictText}`);
    if (outcome === 'signer-not-found') {
      throw new HaposError(
        ExitCode.ocsp,
        "OCSP response verification failure: signer certificate not found; try with '--VAfile -' or '--VAfile OCSP-response-signing-certificate-file' arguments",
      );
    }
    if (outcome !== 'verified') throw new HaposError(ExitCode.ocsp, 'OCSP response verification failure.');
  }

  const statusText = await readFile(files.status, 'utf8').catch(() => '');
  const status = parseOcspStatusBlock(statusText);
  log.debug(`OCSP response: ${statusText.replace(/\s+$/, '')}`);
  if (status === undefined) throw new HaposError(ExitCode.certificate, "can't receive OCSP response");
  if (options.goodOnly && status.status !== 'good') {
    throw new HaposError(ExitCode.ocsp, 'OCSP response, certificate status not good');
  }
  return status;
}

/** Step 12, files: the response always, the chain only when there was no `.issuer` yet. */
async function install(
  cert: string,
  responseDer: Buffer,
  chainPath: string,
  chainFromIssuerFile: boolean,
): Promise<void> {
  await writeFile(`${cert}.ocsp`, responseDer).catch(() => {
    throw new HaposError(ExitCode.haproxy, `can't update ${cert}.ocsp file`);
  });
  if (chainFromIssuerFile) return;
  await copyFile(chainPath, `${cert}.issuer`).catch(() => {
    throw new HaposError(ExitCode.haproxy, `can't update ${cert}.issuer file`);
  });
}
