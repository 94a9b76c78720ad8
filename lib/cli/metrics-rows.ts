// What an update and a check report of each certificate to `--metrics`.
import type { Finding } from '../check/findings.ts';
import type { HaproxyTargetReport } from '../haproxy/notifier.ts';
import type { CertificateOutcome } from '../update/batch.ts';
import type { UpdateResult } from '../update/context.ts';
import type { ReloadState } from './batch-report.ts';
import { checkExitCode, ExitCode, failureOf } from './exit-codes.ts';
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
