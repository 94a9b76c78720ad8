import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FileReadError } from '../fs/read.ts';
import { endEntityOf, parseBundle, readPemFile } from '../pki/bundle.ts';
import { UpdateFailure } from '../update/failure.ts';
import type { Finding, FindingCode, FindingKind } from './findings.ts';
import { lintBundle } from './lints.ts';
import { explicitTrustOnlyArgs, type OpensslRunner } from '../openssl/openssl.ts';
import { parseVerifyError } from '../openssl/output.ts';
import type { UpdateResult } from '../update/context.ts';

interface CheckSettings {
  readonly now: Date;
  readonly warnDays: number;
  readonly requireOcsp: boolean;
  /** Trust anchors instead of the system store. */
  readonly caFile?: string;
  /** Accept a chain that is complete up to one of its own intermediates. */
  readonly partialChain: boolean;
}

/** Findings that leave nothing sensible to query a responder about. */
const BLOCKING: ReadonlySet<FindingCode> = new Set([
  'bundle-unreadable',
  'no-certificate',
  'certificate-unparseable',
  'chain-order',
  'issuer-missing',
  'no-ocsp-url',
  'ocsp-url-format',
]);

/**
 * `--check` for one bundle: the static lints, then whether the chain reaches
 * a trusted root, then a dry run of the update (query, verify, HAProxy's
 * acceptance rules) whose failure becomes a finding instead of an exit.
 */
export async function checkBundle(
  cert: string,
  settings: CheckSettings,
  context: { openssl: OpensslRunner; tempDir: string; dryRun: () => Promise<UpdateResult> },
): Promise<Finding[]> {
  const findings = await lintBundle(cert, {
    now: settings.now,
    warnDays: settings.warnDays,
    requireOcsp: settings.requireOcsp,
  });
  const add = (code: FindingCode, kind: FindingKind, message: string) =>
    findings.push({ cert, code, severity: 'error', message, kind });
  if (findings.some((finding) => BLOCKING.has(finding.code))) return findings;

  const incomplete = await chainProblem(cert, settings, context);
  if (incomplete !== undefined) {
    add('chain-incomplete', 'certificate', incomplete);
    return findings;
  }
  try {
    const result = await context.dryRun();
    if (result.certStatus === 'revoked')
      add('ocsp-revoked', 'ocsp', 'the OCSP responder says the certificate is revoked');
  } catch (error) {
    if (!(error instanceof UpdateFailure)) throw error;
    add('ocsp-failed', findingKindOf(error), error.message);
  }
  return findings;
}

/** A failed dry run's class of problem; one that is neither a parsing nor an OCSP one concerns the certificate. */
function findingKindOf({ kind }: UpdateFailure): FindingKind {
  return kind === 'no-ocsp-url' || kind === 'parsing' || kind === 'ocsp' ? kind : 'certificate';
}

/** Why the EE does not chain up to a trusted root (or, with --partial-chain, to its own chain); undefined when it does. */
async function chainProblem(
  cert: string,
  settings: CheckSettings,
  context: { openssl: OpensslRunner; tempDir: string },
): Promise<string | undefined> {
  // The lints read the bundle a moment ago; a bundle that is no longer readable has nothing to check.
  const bundle = parseBundle(readPemFileIfAny(cert) ?? '');
  const issuerFile = readPemFileIfAny(`${cert}.issuer`) ?? '';
  const ee = endEntityOf(bundle);
  if (ee === undefined) return undefined;
  const rest = bundle.certificates.slice(1);
  const chainPems = rest.length > 0 ? rest.map((certificate) => certificate.pem).join('') : issuerFile;
  const eeFile = path.join(context.tempDir, 'check-ee.pem');
  const chainFile = path.join(context.tempDir, 'check-chain.pem');
  await writeFile(eeFile, ee.pem);
  await writeFile(chainFile, chainPems);
  // --ca-file replaces the system store rather than adding to it. openssl
  // gets a copy: it would wait forever on a FIFO, or read a device without end.
  const anchorsFile = path.join(context.tempDir, 'check-anchors.pem');
  if (settings.caFile !== undefined) await writeFile(anchorsFile, readCaFile(settings.caFile), 'latin1');
  const anchors =
    settings.caFile === undefined ? [] : ['-CAfile', anchorsFile, ...explicitTrustOnlyArgs(context.openssl.version)];
  const trust = settings.partialChain
    ? ['-partial_chain', '-CAfile', chainFile]
    : [...anchors, '-untrusted', chainFile];
  const verified = await context.openssl.verifyWith([...trust, eeFile]);
  if (verified.exitCode === 0) return undefined;
  const reason = parseVerifyError(`${verified.stdout}${verified.stderr}`) ?? 'openssl verify refused it';
  const anchor = settings.caFile === undefined ? 'the system trust store' : settings.caFile;
  return `the chain does not reach a root in ${settings.partialChain ? 'the bundle (--partial-chain)' : anchor}: ${reason}`;
}

function readPemFileIfAny(file: string): string | undefined {
  try {
    return readPemFile(file);
  } catch (error) {
    if (!(error instanceof FileReadError)) throw error;
    return undefined;
  }
}

function readCaFile(caFile: string): string {
  try {
    return readPemFile(caFile);
  } catch (error) {
    if (!(error instanceof FileReadError)) throw error;
    throw new UpdateFailure('run', `--ca-file ${caFile}: ${error.reason}`);
  }
}
