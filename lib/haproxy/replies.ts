// What HAProxy answers, read without trusting it: the lists are parsed line
// by line in one pass (they may hold 200,000 entries), and a reply is quoted
// in a message only escaped and cut short.
import { escapeControls } from '../util/printable.ts';

/** How much of a reply a message quotes: a genuine one whole, paths included; never a flood. */
export const QUOTED_REPLY_CHARACTERS = 1000;

/**
 * HAProxy's reply on one line, for messages: control characters escaped (a
 * binary reply must not reach a terminal raw), and cut after 1000 characters.
 */
export function oneLine(reply: string): string {
  const trimmed = reply.trim();
  if (trimmed === '') return '(empty reply)';
  // Only the start is split and escaped: the rest of a reply of megabytes is never copied.
  const line = escapeControls(
    trimmed
      .slice(0, QUOTED_REPLY_CHARACTERS)
      .trimEnd()
      .split(/\s*\n\s*/)
      .join(' '),
  );
  if (line.length <= QUOTED_REPLY_CHARACTERS && trimmed.length <= QUOTED_REPLY_CHARACTERS) return line;
  // Neither half an escape sequence nor half a character made of two code units.
  const kept = line.slice(0, QUOTED_REPLY_CHARACTERS).replace(/\\u[0-9A-F]{0,3}$|[\uD800-\uDBFF]$/, '');
  return `${kept}… (${trimmed.length} characters in all)`;
}

export interface CertificateList {
  /** The names `show ssl cert` lists: the paths as HAProxy's configuration spells them. */
  readonly names: readonly string[];
  /** Certificates with an uncommitted transaction (`*NAME` under `# transaction`). */
  readonly inTransaction: readonly string[];
}

/** Parses `show ssl cert` without arguments. */
export function parseCertificateList(reply: string): CertificateList | undefined {
  const names: string[] = [];
  const inTransaction: string[] = [];
  let section: 'none' | 'transaction' | 'filename' = 'none';
  for (const line of linesOf(reply)) {
    if (line === '# transaction') section = 'transaction';
    else if (line === '# filename') section = 'filename';
    else if (line === '' || line.startsWith('#')) continue;
    else if (section === 'filename') names.push(line);
    else if (section === 'transaction') inTransaction.push(line.replace(/^\*/, ''));
    else return undefined;
  }
  return section === 'filename' ? { names, inTransaction } : undefined;
}

/** Parses `show ssl ocsp-response`: the hex DER CertIDs, lower case. */
export function parseOcspResponseIds(reply: string): string[] | undefined {
  if (!reply.startsWith('# Certificate IDs')) return undefined;
  const ids: string[] = [];
  const idLine = /^Certificate ID key : ([0-9a-fA-F]+)$/gm;
  for (let match = idLine.exec(reply); match !== null; match = idLine.exec(reply)) {
    ids.push((match[1] ?? '').toLowerCase());
  }
  return ids;
}

/**
 * Parses `show ssl ocsp-updates` (HAProxy 2.8+): the CertIDs, lower case, of
 * the certificates HAProxy fetches responses for itself (`ocsp-update on`).
 * Each row after the header starts with the ID, then ` | `.
 */
export function parseOcspUpdates(reply: string): Set<string> | undefined {
  if (!reply.startsWith('OCSP Certid |')) return undefined;
  const ids = new Set<string>();
  for (const line of linesOf(reply)) {
    const id = /^([0-9a-fA-F]+) \|/.exec(line)?.[1];
    if (id !== undefined) ids.add(id.toLowerCase());
  }
  return ids;
}

/** Whether HAProxy answered that it does not know a command: a version without it. */
export function isUnknownCommand(reply: string): boolean {
  return reply.startsWith('Unknown command');
}

/**
 * Parses `show ssl ocsp-response base64 ID` (HAProxy 2.8+): the response's
 * DER bytes, `none` when HAProxy holds none under that ID (what 2.6 answers
 * for every ID), undefined for any other reply. An empty reply is `none`
 * too: 3.x answers so for a certificate whose `.ocsp` it refused at start
 * (expired, or less than 300 s left), which keeps an empty slot.
 */
export function parseBase64Response(reply: string): Buffer | 'none' | undefined {
  const trimmed = reply.trim();
  if (trimmed === '' || /^Certificate ID (or path )?does not match any certificate\.$/.test(trimmed)) return 'none';
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed) || trimmed.length % 4 !== 0) return undefined;
  return Buffer.from(trimmed, 'base64');
}

const showProcHeader = '#<PID>';

/** Parses `show proc` on a master CLI: the PIDs under `# workers` (not `# old workers`). */
export function parseWorkerPids(reply: string): number[] | undefined {
  if (!reply.startsWith(showProcHeader)) return undefined;
  const pids: number[] = [];
  let inWorkers = false;
  for (const line of linesOf(reply)) {
    if (line.startsWith('#')) inWorkers = line.trim() === '# workers';
    else if (inWorkers) {
      const pid = /^(\d+)\s+worker\b/.exec(line)?.[1];
      if (pid) pids.push(Number(pid));
    }
  }
  return pids;
}

/** The lines of TEXT, one at a time: a list of 200,000 lines is never split into an array at once. */
function* linesOf(text: string): Generator<string> {
  let start = 0;
  while (start <= text.length) {
    const end = text.indexOf('\n', start);
    if (end < 0) {
      yield text.slice(start);
      return;
    }
    yield text.slice(start, end);
    start = end + 1;
  }
}
