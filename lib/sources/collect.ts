import { promises as fs } from 'node:fs';
import { join, resolve } from 'node:path';
import { CRT_LIST_MAX_BYTES } from '../fs/caps.ts';
import { FileReadError, readRegularFileSync } from '../fs/read.ts';
import { systemErrorCode } from '../fs/system.ts';
import { parseCrtList, type CrtListEntry, type OcspUpdateMode } from './crt-list.ts';
import { CertificateSourceError } from './errors.ts';

export type CertificateSource = 'cert' | 'dir' | 'crt-list';

export interface CertificateInput {
  /** As given (`--cert`), or as found in a directory or crt-list. */
  readonly path: string;
  readonly source: CertificateSource;
  readonly ocspUpdate?: OcspUpdateMode;
}

interface CertificateSourcesInput {
  readonly certs: readonly string[];
  readonly dirs: readonly string[];
  readonly crtLists: readonly string[];
  /** HAProxy's `crt-base`, for relative paths in crt-lists. */
  readonly crtBase?: string;
}

/**
 * Extensions HAProxy itself skips in a `crt` directory ("reserved extensions"
 * in its manual), plus `.lock`, the suffix of our own per-certificate lock.
 */
const NON_CERTIFICATE_EXTENSIONS = ['.key', '.issuer', '.ocsp', '.sctl', '.lock'];

/** The order in which HAProxy tries multi-certificate bundle members. */
const BUNDLE_KEY_TYPES = ['dsa', 'ecdsa', 'rsa'];

const PEM_CERTIFICATE_MARKER = '-----BEGIN CERTIFICATE-----';

/**
 * Enough to get past a private key or DH parameters written before the
 * certificate (an 8192-bit RSA key is about 6.4 KB of PEM) without reading
 * large unrelated files whole.
 */
const PEEK_BYTES = 16 * 1024;

function isCandidateName(name: string): boolean {
  // Dot-files include our temporary files (`.NAME.PID.RANDOM.tmp`); HAProxy skips them too.
  if (name.startsWith('.')) return false;
  return !NON_CERTIFICATE_EXTENSIONS.some((extension) => name.endsWith(extension));
}

/**
 * False when the start of the file could be read and holds no PEM
 * certificate, or when it is no longer a regular file (a FIFO put in its
 * place since it was listed is not waited on).
 */
function mayBeCertificate(path: string): boolean {
  try {
    const start = readRegularFileSync(path, { maxBytes: PEEK_BYTES, prefixOnly: true }).bytes;
    return start.includes(PEM_CERTIFICATE_MARKER);
  } catch (error) {
    // An unreadable file is kept so that its own run reports why, instead of
    // its OCSP response silently going stale.
    return !(error instanceof FileReadError && error.problem.kind === 'not-regular');
  }
}

async function isRegularFile(path: string): Promise<boolean> {
  try {
    return (await fs.stat(path)).isFile();
  } catch {
    return false;
  }
}

function sourceError(option: '--dir' | '--crt-list', path: string, error: unknown): CertificateSourceError {
  const code = systemErrorCode(error);
  const reason =
    code === 'ENOENT'
      ? 'no such file or directory'
      : code === 'ENOTDIR'
        ? 'not a directory'
        : error instanceof FileReadError && error.code === undefined
          ? error.reason
          : `can't read it (${code ?? String(error)})`;
  return new CertificateSourceError(path, `${option} ${path}: ${reason}`, { cause: error });
}

/**
 * The certificate files of an HAProxy `crt` directory, in HAProxy's loading
 * order (byte order of the names). Symbolic links count as the file they
 * point to, as `stat()` does for HAProxy.
 */
async function listCrtDirectory(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (error) {
    throw sourceError('--dir', dir, error);
  }
  const certificates: string[] = [];
  for (const name of names.filter(isCandidateName).sort()) {
    const path = join(dir, name);
    if ((await isRegularFile(path)) && mayBeCertificate(path)) certificates.push(path);
  }
  return certificates;
}

async function exists(path: string): Promise<boolean> {
  try {
    await fs.stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * HAProxy's multi-certificate bundle: when `path` does not exist, each of
 * `path.dsa`, `path.ecdsa`, `path.rsa` that does is a certificate of its own.
 * A path that exists, or that has no member either, stays as it is.
 */
async function bundleMembers(path: string): Promise<string[]> {
  if (await exists(path)) return [path];
  const members: string[] = [];
  for (const keyType of BUNDLE_KEY_TYPES) {
    const member = `${path}.${keyType}`;
    if (await exists(member)) members.push(member);
  }
  return members.length > 0 ? members : [path];
}

/** Replaces each absent certificate path that names a multi-certificate bundle by the bundle's members. */
async function expandBundles(paths: readonly string[]): Promise<string[]> {
  const expanded: string[] = [];
  for (const path of paths) expanded.push(...(await bundleMembers(path)));
  return expanded;
}

async function readCrtList(listPath: string, crtBase: string | undefined): Promise<CrtListEntry[]> {
  let text: string;
  try {
    text = readRegularFileSync(listPath, { maxBytes: CRT_LIST_MAX_BYTES }).bytes.toString('utf8');
  } catch (error) {
    throw sourceError('--crt-list', listPath, error);
  }
  return parseCrtList(text, listPath, { crtBase });
}

/** Two names of one file (symbolic links, `..`) must not be updated twice, nor concurrently. */
async function identityOf(path: string): Promise<string> {
  try {
    return await fs.realpath(path);
  } catch {
    return resolve(path);
  }
}

/**
 * Every certificate to process: `--cert`s, then `--dir`s, then `--crt-list`s,
 * each in the order given, bundles expanded, keeping only the first of
 * several names for one file. A missing `--cert` is kept for its own run to
 * report; a missing `--dir` or `--crt-list` throws a `CertificateSourceError`.
 */
export async function collectCertificates(input: CertificateSourcesInput): Promise<CertificateInput[]> {
  const found: CertificateInput[] = [];
  for (const path of await expandBundles(input.certs)) found.push({ path, source: 'cert' });
  for (const dir of input.dirs) {
    for (const path of await listCrtDirectory(dir)) found.push({ path, source: 'dir' });
  }
  for (const listPath of input.crtLists) {
    for (const entry of await readCrtList(listPath, input.crtBase)) {
      for (const path of await bundleMembers(entry.path)) {
        found.push(
          entry.ocspUpdate ? { path, source: 'crt-list', ocspUpdate: entry.ocspUpdate } : { path, source: 'crt-list' },
        );
      }
    }
  }
  const seen = new Set<string>();
  const unique: CertificateInput[] = [];
  for (const certificate of found) {
    const identity = await identityOf(certificate.path);
    if (seen.has(identity)) continue;
    seen.add(identity);
    unique.push(certificate);
  }
  return unique;
}
