// `--status` reports: a table for people (coloured on a terminal), one JSON
// document for scripts. The exit code says how bad the worst staple is.
import type { ChalkInstance } from 'chalk';
import { SEVERITY_OF, STAPLE_STATES, type StapleState, type StapleStatus } from '../status/staple-status.ts';
import { printableLine } from '../util/printable.ts';
import { tableLines } from './table.ts';
import { tally } from '../util/tally.ts';

type StatusTotals = Record<StapleState, number> & { readonly certificates: number };

function totalsOf(statuses: readonly StapleStatus[]): StatusTotals {
  return { ...tally(STAPLE_STATES, statuses, (status) => status.state), certificates: statuses.length };
}

/** `--json`: `{"certificates": [...], "totals": {...}}`, dates in ISO 8601, null where there is no staple. */
export function renderStatusJson(statuses: readonly StapleStatus[]): string {
  const certificates = statuses.map((status) => ({
    socket: status.socket,
    ...(status.workerPid !== undefined && { workerPid: status.workerPid }),
    cert: status.cert,
    state: status.state,
    stapled: status.staple !== undefined,
    certStatus: status.staple?.certStatus ?? null,
    thisUpdate: status.staple?.thisUpdate.toISOString() ?? null,
    nextUpdate: status.staple?.nextUpdate?.toISOString() ?? null,
    secondsLeft: status.secondsLeft ?? null,
    disk: status.disk,
    updatesItself: status.updatesItself,
  }));
  return `${JSON.stringify({ certificates, totals: totalsOf(statuses) }, null, 2)}\n`;
}

const SECONDS_PER_DAY = 86_400;
const SECONDS_PER_HOUR = 3_600;
const SECONDS_PER_MINUTE = 60;

/** The two largest units that matter: `6d 23h`, `11h 58m`, `42m`, `30s`. */
function formatDuration(seconds: number): string {
  const days = Math.floor(seconds / SECONDS_PER_DAY);
  const hours = Math.floor((seconds % SECONDS_PER_DAY) / SECONDS_PER_HOUR);
  const minutes = Math.floor((seconds % SECONDS_PER_HOUR) / SECONDS_PER_MINUTE);
  if (days > 0) return `${days}d ${hours}h`;
  if (hours > 0) return `${hours}h ${minutes}m`;
  return minutes > 0 ? `${minutes}m` : `${seconds}s`;
}

/** Time until Next Update, or since: `6d 23h`, `expired 2h 5m ago`. */
function formatTimeLeft(secondsLeft: number): string {
  return secondsLeft > 0 ? formatDuration(secondsLeft) : `expired ${formatDuration(-secondsLeft)} ago`;
}

const isoSeconds = (date: Date | undefined) => date?.toISOString().replace(/\.\d{3}Z$/, 'Z') ?? '-';

const whereOf = (status: StapleStatus) =>
  status.workerPid === undefined ? status.socket : `${status.socket} (worker ${status.workerPid})`;

/**
 * One row per served certificate, then the tally: `6 certificates: 2 fresh,
 * 1 expiring, …`. A HAPROXY column says which socket (and worker) serves
 * each row when there are several. Control characters in paths are shown escaped.
 */
export function renderStatusTable(statuses: readonly StapleStatus[], palette: ChalkInstance): string {
  const severityColour = { ok: palette.green, warning: palette.yellow, critical: palette.red } as const;
  const several = new Set(statuses.map(whereOf)).size > 1;
  const header = [
    'STATE',
    'STAPLE',
    'STATUS',
    'THIS UPDATE',
    'NEXT UPDATE',
    'LEFT',
    'DISK',
    'OCSP-UPDATE',
    ...(several ? ['HAPROXY'] : []),
    'CERTIFICATE',
  ];
  const rows = statuses.map((status) => [
    status.state,
    status.staple === undefined ? 'no' : 'yes',
    status.staple?.certStatus ?? '-',
    isoSeconds(status.staple?.thisUpdate),
    isoSeconds(status.staple?.nextUpdate),
    status.secondsLeft === undefined ? '-' : formatTimeLeft(status.secondsLeft),
    status.disk,
    status.updatesItself ? 'on' : 'off',
    ...(several ? [printableLine(whereOf(status))] : []),
    printableLine(status.cert),
  ]);
  const table = tableLines(header, rows, palette, (row) => severityColour[SEVERITY_OF[statuses[row]!.state]]);
  return [...table, describeTotals(totalsOf(statuses))].join('\n') + '\n';
}

function describeTotals(totals: StatusTotals): string {
  const counted = STAPLE_STATES.filter((state) => totals[state] > 0).map((state) => `${totals[state]} ${state}`);
  const noun = totals.certificates === 1 ? 'certificate' : 'certificates';
  return `${totals.certificates} ${noun}${counted.length > 0 ? `: ${counted.join(', ')}` : ''}`;
}
