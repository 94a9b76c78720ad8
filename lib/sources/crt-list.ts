import { dirname, isAbsolute, join } from 'node:path';
import { CrtListSyntaxError } from './errors.ts';

export type OcspUpdateMode = 'on' | 'off';

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
