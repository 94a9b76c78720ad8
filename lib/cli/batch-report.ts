import type { ChalkInstance } from 'chalk';
import type { CertificateAction, CertificateOutcome } from '../update/batch.ts';
import type { HaproxyAction, HaproxyTargetReport } from '../haproxy/notifier.ts';
import { appendTo } from '../util/multimap.ts';
import { tally } from '../util/tally.ts';
import { printableLine } from '../util/printable.ts';
import { ExitCode, failureOf } from './exit-codes.ts';
import { tableLines } from './table.ts';

const MESSAGES: Record<Exclude<CertificateAction, 'failed'>, string> = {
  updated: 'new response in place',
  revoked: 'new response in place: the certificate is revoked',
  checked: 'response fetched and checked (debug mode: nothing written)',
  'kept-current': 'the response in place is newer than the one received: kept',
  'skipped-fresh': 'the response in place is still fresh',
  'skipped-no-url': 'no OCSP URL in the certificate',
};

/** A certificate's exit code and message, as `--json` and the summary give them. */
function reportOf(outcome: CertificateOutcome): { exitCode: number; message: string } {
  return outcome.action === 'failed'
    ? failureOf(outcome.failure)
    : { exitCode: ExitCode.ok, message: MESSAGES[outcome.action] };
}

export const actions: readonly CertificateAction[] = [
  'updated',
  'revoked',
  'checked',
  'kept-current',
  'skipped-fresh',
  'skipped-no-url',
  'failed',
];

export type Totals = Record<CertificateAction, number> & { readonly certificates: number };

export function totalsOf(outcomes: readonly CertificateOutcome[]): Totals {
  return { ...tally(actions, outcomes, (outcome) => outcome.action), certificates: outcomes.length };
}

/** Whether the run reloaded HAProxy, which it does once at most, after every certificate. */
export type ReloadState = 'not-needed' | 'done' | 'failed';

const haproxyActions: readonly HaproxyAction[] = ['pushed', 'transaction', 'reload', 'holds-newer', 'holds-same'];

type SocketTally = { readonly socket: string } & Record<HaproxyAction, number>;

/** What the run did to each HAProxy: per socket, how many responses went which way (every worker behind a master CLI counted). */
function socketTallies(outcomes: readonly CertificateOutcome[]): SocketTally[] {
  const bySocket = new Map<string, HaproxyTargetReport[]>();
  for (const report of outcomes.flatMap((outcome) => outcome.haproxy ?? [])) appendTo(bySocket, report.socket, report);
  return [...bySocket].map(([socket, reports]) => ({
    socket,
    ...tally(haproxyActions, reports, (report) => report.action),
  }));
}

/** `--json`: one document for scripts and monitoring, dates in ISO 8601. */
export function renderJson(outcomes: readonly CertificateOutcome[], reload: ReloadState): string {
  const results = outcomes.map((outcome) => ({
    cert: outcome.cert,
    action: outcome.action,
    certStatus: outcome.certStatus,
    thisUpdate: outcome.thisUpdate?.toISOString() ?? null,
    nextUpdate: outcome.nextUpdate?.toISOString() ?? null,
    ...reportOf(outcome),
    durationMs: outcome.durationMs,
    ...(outcome.ocspUpdate !== undefined && { ocspUpdate: outcome.ocspUpdate }),
    ...(outcome.haproxy !== undefined && { haproxy: outcome.haproxy }),
  }));
  const sockets = socketTallies(outcomes);
  const haproxy = sockets.length > 0 || reload !== 'not-needed' ? { haproxy: { sockets, reload } } : {};
  return `${JSON.stringify({ results, totals: totalsOf(outcomes), ...haproxy }, null, 2)}\n`;
}

/** `--json` for a run that stopped before any certificate: still one document, which scripts can test for `error`. */
export function renderJsonError(exitCode: number, message: string): string {
  return `${JSON.stringify({ error: { exitCode, message } }, null, 2)}\n`;
}

/**
 * What a summary row says of HAProxy: that it staples a newer response than
 * the one received, or that it will replace the one pushed with its own.
 */
function haproxyNote(outcome: CertificateOutcome): string {
  const notes: string[] = [];
  if (outcome.haproxy?.some((report) => report.action === 'holds-newer'))
    notes.push('HAProxy staples a newer response: not replaced');
  if (outcome.ocspUpdate === 'on') notes.push('HAProxy updates it itself (ocsp-update on)');
  return notes.join('; ');
}

/** The one-line tally that closes a summary: `3 certificates: 2 updated, 1 failed`. */
function describeTotals(totals: Totals): string {
  const counted = actions.filter((action) => totals[action] > 0).map((action) => `${totals[action]} ${action}`);
  const noun = totals.certificates === 1 ? 'certificate' : 'certificates';
  return `${totals.certificates} ${noun}: ${counted.join(', ') || 'nothing done'}`;
}

/** The lines that close a summary: what the run did to each HAProxy, and the reload. */
function describeHaproxy(outcomes: readonly CertificateOutcome[], reload: ReloadState): string[] {
  const lines = socketTallies(outcomes).map((tally) => {
    const counted = haproxyActions.filter((action) => tally[action] > 0).map((action) => `${tally[action]} ${action}`);
    return `HAProxy ${printableLine(tally.socket)}: ${counted.join(', ')}`;
  });
  if (reload === 'done') lines.push('HAProxy reloaded once, after every certificate');
  if (reload === 'failed') lines.push('HAProxy reload failed');
  return lines;
}

/** A table of outcomes, one row per certificate, coloured by the palette (plain when it has no colours). */
export function renderSummary(
  outcomes: readonly CertificateOutcome[],
  reload: ReloadState,
  palette: ChalkInstance,
): string {
  const colourOf = (action: CertificateAction) =>
    action === 'failed'
      ? palette.red
      : action === 'revoked'
        ? palette.magenta
        : action === 'updated' || action === 'checked'
          ? palette.green
          : palette.yellow;
  const rows = outcomes.map((outcome) => [
    outcome.action,
    outcome.certStatus ?? '-',
    outcome.nextUpdate?.toISOString().replace(/\.\d{3}Z$/, 'Z') ?? '-',
    printableLine(outcome.cert),
    outcome.action === 'failed' ? printableLine(reportOf(outcome).message) : haproxyNote(outcome),
  ]);
  const header = ['ACTION', 'STATUS', 'NEXT UPDATE', 'CERTIFICATE', 'MESSAGE'];
  const table = tableLines(header, rows, palette, (row) => colourOf(outcomes[row]!.action));
  return [...table, describeTotals(totalsOf(outcomes)), ...describeHaproxy(outcomes, reload)].join('\n') + '\n';
}

/** `[12/1000] 10 updated, 2 failed` — rewritten in place on a terminal. */
export function progressLine(done: number, total: number, totals: Totals): string {
  return `[${done}/${total}] ${describeTotals(totals).replace(/^\d+ certificates?: /, '')}`;
}
