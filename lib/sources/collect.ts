import { promises as fs } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { CRT_LIST_MAX_BYTES } from '../fs/caps.ts';
import { FileReadError, readRegularFileSync } from '../fs/read.ts';
import { systemErrorCode } from '../fs/system.ts';

export type OcspUpdateMode = 'on' | 'off';
export type CertificateSource = 'cert' | 'dir' | 'crt-list';

/** One certificate line of an HAProxy crt-list. */
export interface CrtListEntry {
  /** The certificate path, relative ones already resolved (see `parseCrtList`). */
  readonly path: string;
  /** 1-based line number in the crt-list, for messages. */
  readonly line: number;
  /** The `ocsp-update` setting of the line's `[...]` options, if any (HAProxy ≥ 2.8; 2.6 refuses the keyword). */
  readonly ocspUpdate: OcspUpdateMode | undefined;
  /** Every other word of the `[...]` options, as written. */
  readonly sslBindOptions: readonly string[];
  /** SNI filters after the options, negated ones keeping their `!`. */
  readonly sniFilters: readonly string[];
}

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

/** A `--dir` or `--crt-list` that cannot be used; the CLI reports it as a program error (exit 9). */
export class CertificateSourceError extends Error {
  override readonly name: string = 'CertificateSourceError';

  constructor(
    /** The directory or crt-list at fault. */
    readonly path: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A crt-list line HAProxy would refuse (or, for an unclosed `[`, silently misread). */
export class CrtListSyntaxError extends CertificateSourceError {
  override readonly name = 'CrtListSyntaxError';

  constructor(
    path: string,
    readonly line: number,
    readonly reason: string,
  ) {
    super(path, `crt-list ${path}, line ${line}: ${reason}`);
  }
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

/**
 * A bracket, or a run of anything but brackets and C `isspace()` characters:
 * HAProxy splits on those, so a CR before the LF is just a separator.
 */
const TOKEN = /[[\]]|[^ \t\n\v\f\r[\]]+/g;

/**
 * HAProxy's own limits on a crt-list line (CRT_LINESIZE, MAX_CRT_ARGS): it
 * refuses longer ones, and they bound what one line may cost here.
 */
const MAX_LINE_CHARACTERS = 65_535;
const MAX_LINE_WORDS = 2048;

/**
 * Splits a line as HAProxy does: on whitespace, with `[` and `]` always
 * standalone tokens, no quoting. Plain strings, one `match`: a crt-list of
 * 200,000 lines is read in a fraction of a second.
 */
function tokenize(line: string): string[] | string {
  if (line.length > MAX_LINE_CHARACTERS) {
    return `the line is ${line.length} characters long; HAProxy reads at most ${MAX_LINE_CHARACTERS}`;
  }
  const tokens = line.match(TOKEN) ?? [];
  if (tokens.length > MAX_LINE_WORDS) return `${tokens.length} words; HAProxy reads at most ${MAX_LINE_WORDS}`;
  return tokens;
}

interface LineParts {
  readonly certificate: string;
  readonly options: readonly string[];
  readonly filters: readonly string[];
}

/** The parts of one non-empty line, or why HAProxy would refuse it. */
function splitLine(tokens: readonly string[]): LineParts | string {
  const [certificate] = tokens;
  if (certificate === undefined || certificate === '[' || certificate === ']') {
    return 'the line must start with a certificate path';
  }
  let open = -1;
  let close = -1;
  for (const [index, token] of tokens.entries()) {
    if (token === '[') {
      if (open !== -1) return "too many '['";
      open = index;
    } else if (token === ']') {
      if (close !== -1) return "too many ']'";
      close = index;
    }
  }
  if (close !== -1 && (open === -1 || close < open)) return "missing '['";
  // HAProxy 2.6 accepts an unclosed '[' and reads the options as SNI filters,
  // which hides the mistake; we refuse it instead.
  if (open !== -1 && close === -1) return "unclosed '['";
  if (open === -1) return { certificate, options: [], filters: tokens.slice(1) };
  // Words between the path and '[' only draw a warning from HAProxy ("filters
  // can't be between filename and options"), which then ignores them.
  return { certificate, options: tokens.slice(open + 1, close), filters: tokens.slice(close + 1) };
}

function extractOcspUpdate(
  options: readonly string[],
): { ocspUpdate: OcspUpdateMode | undefined; rest: string[] } | string {
  let ocspUpdate: OcspUpdateMode | undefined;
  const rest: string[] = [];
  for (let index = 0; index < options.length; index++) {
    const option = options[index];
    if (option !== 'ocsp-update') {
      rest.push(option);
      continue;
    }
    const value = options[index + 1];
    if (value !== 'on' && value !== 'off') return `ocsp-update expects 'on' or 'off', got ${value ?? 'nothing'}`;
    ocspUpdate = value;
    index++;
  }
  return { ocspUpdate, rest };
}

/**
 * Parses an HAProxy crt-list: `<crtfile> [\[<sslbindconf> ...\]] [[!]<snifilter> ...]`
 * per line, `#` comments and blank lines ignored.
 *
 * Relative certificate paths: HAProxy 2.6's manual says of `crt-base` that it
 * "Assigns a default directory to fetch SSL certificates from when a relative
 * path is used with "crtfile" or "crt" directives. Absolute locations
 * specified prevail and ignore "crt-base"", and without it (`default-path`)
 * "By default HAProxy loads all files designated by a relative path from the
 * location the process is started in". We follow `crtBase` when given. We
 * cannot know the directory HAProxy was started in, so otherwise we resolve
 * against the crt-list's own directory: the one place a relative list stays
 * meaningful wherever this tool runs from, and HAProxy's answer whenever it
 * runs from there (measured on 2.6.12: `site.pem` in a crt-list loads only
 * with crt-base or from that working directory).
 */
export function parseCrtList(text: string, listPath: string, options: { crtBase?: string } = {}): CrtListEntry[] {
  const base = options.crtBase ?? dirname(listPath);
  const entries: CrtListEntry[] = [];
  text.split('\n').forEach((content, index) => {
    const line = index + 1;
    const tokens = tokenize(content);
    if (typeof tokens === 'string') throw new CrtListSyntaxError(listPath, line, tokens);
    // HAProxy only treats '#' in the first column as a comment (an indented
    // '#' becomes a certificate path it fails to load); a working crt-list
    // never has one, so accepting both costs nothing.
    if (tokens.length === 0 || content.trimStart().startsWith('#')) return;
    const parts = splitLine(tokens);
    if (typeof parts === 'string') throw new CrtListSyntaxError(listPath, line, parts);
    // `@store/name` (HAProxy 3.0's crt-store) names no file we could update.
    if (parts.certificate.startsWith('@')) {
      throw new CrtListSyntaxError(listPath, line, `crt-store references are not supported: ${parts.certificate}`);
    }
    const extracted = extractOcspUpdate(parts.options);
    if (typeof extracted === 'string') throw new CrtListSyntaxError(listPath, line, extracted);
    entries.push({
      path: isAbsolute(parts.certificate) ? parts.certificate : join(base, parts.certificate),
      line,
      ocspUpdate: extracted.ocspUpdate,
      sslBindOptions: extracted.rest,
      sniFilters: parts.filters,
    });
  });
  return entries;
}

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
