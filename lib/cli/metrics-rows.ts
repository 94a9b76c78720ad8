// What an update, a check and a status run report of each certificate to `--metrics`.
import type { Finding } from '../check/findings.ts';
import type { HaproxyTargetReport } from '../haproxy/notifier.ts';
import { SEVERITY_OF, type StapleStatus } from '../status/staple-status.ts';
import type { CertificateOutcome } from '../update/batch.ts';
import type { UpdateResult } from '../update/context.ts';
import { appendTo } from '../util/multimap.ts';
import type { ReloadState } from './batch-report.ts';
import { checkExitCode, ExitCode, failureOf, statusExitCode } from './exit-codes.ts';
import type { CertificateMetrics, CheckAction, SocketStaple } from './metrics.ts';

/** An update's certificates, each tried at ATTEMPTED_AT (the run's start), after the run's one reload, if any. */
export function updateMetrics(
  outcomes: readonly CertificateOutcome[],
  reload: ReloadState,
  attemptedAt: Date,
): CertificateMetrics[] {
  return outcomes.map((outcome) => ({
    path: outcome.cert,
    action: outcome.action,
    certStatus: outcome.certStatus,
    thisUpdate: outcome.thisUpdate,
    nextUpdate: outcome.nextUpdate,
    producedAt: outcome.producedAt,
    ...(outcome.haproxy !== undefined && { stapled: staplesOf(outcome.haproxy, reload) }),
    exitCode: outcome.action === 'failed' ? failureOf(outcome.failure).exitCode : ExitCode.ok,
    lastAttempt: attemptedAt,
  }));
}

/**
 * Per socket, whether HAProxy staples the certificate's response: every
 * worker behind it holds it (pushed, or a newer or the same one already),
 * or was to load it through the run's reload, which then ran.
 */
function staplesOf(reports: readonly HaproxyTargetReport[], reload: ReloadState): SocketStaple[] {
  const bySocket = new Map<string, boolean>();
  for (const report of reports) {
    const stapled = report.action !== 'reload' || reload === 'done';
    bySocket.set(report.socket, (bySocket.get(report.socket) ?? true) && stapled);
  }
  return [...bySocket].map(([socket, stapled]) => ({ socket, stapled }));
}

/** What `--check` learnt of one bundle: its findings, and the response of its dry run when it got one. */
export interface CheckedBundle {
  readonly findings: readonly Finding[];
  readonly dryRun?: UpdateResult;
}

/** A checked bundle: its exit code is the one `--check` would exit with for it alone. */
export function checkMetrics(
  cert: string,
  { findings, dryRun }: CheckedBundle,
  options: { readonly strict: boolean },
  attemptedAt: Date,
): CertificateMetrics {
  const exitCode = checkExitCode(findings, options);
  const action: CheckAction = exitCode !== ExitCode.ok ? 'failed' : findings.length > 0 ? 'warned' : 'passed';
  return {
    path: cert,
    action,
    certStatus: dryRun?.certStatus ?? null,
    thisUpdate: dryRun?.thisUpdate ?? null,
    nextUpdate: dryRun?.nextUpdate ?? null,
    producedAt: dryRun?.producedAt ?? null,
    exitCode,
    lastAttempt: attemptedAt,
  };
}

/**
 * A status run's certificates, one per path however many HAProxys (and
 * workers) serve it: its series are those of the worst staple among them,
 * its exit code the one `--status` would exit with for that staple alone,
 * and its `stapled` says per socket whether every worker there staples it.
 */
export function statusMetrics(statuses: readonly StapleStatus[], attemptedAt: Date): CertificateMetrics[] {
  const byCert = new Map<string, StapleStatus[]>();
  for (const status of statuses) appendTo(byCert, status.cert, status);
  return [...byCert].map(([cert, seen]) => {
    const worst = seen.reduce((worstSoFar, status) => (isWorse(status, worstSoFar) ? status : worstSoFar));
    const bySocket = new Map<string, boolean>();
    for (const { socket, staple } of seen) bySocket.set(socket, (bySocket.get(socket) ?? true) && staple !== undefined);
    return {
      path: cert,
      action: worst.state,
      certStatus: worst.staple?.certStatus ?? null,
      thisUpdate: worst.staple?.thisUpdate ?? null,
      nextUpdate: worst.staple?.nextUpdate ?? null,
      // What HAProxy shows of a staple (2.6's text) has no producedAt.
      producedAt: null,
      stapled: [...bySocket].map(([socket, stapled]) => ({ socket, stapled })),
      exitCode: statusExitCode([worst]),
      lastAttempt: attemptedAt,
    };
  });
}

const SEVERITY_RANK = { ok: 0, warning: 1, critical: 2 } as const;

/** The more severe state; between equals, the staple with less time left, and no staple at all before any. */
function isWorse(status: StapleStatus, than: StapleStatus): boolean {
  const bySeverity = SEVERITY_RANK[SEVERITY_OF[status.state]] - SEVERITY_RANK[SEVERITY_OF[than.state]];
  if (bySeverity !== 0) return bySeverity > 0;
  return (status.secondsLeft ?? -Infinity) < (than.secondsLeft ?? -Infinity);
}
