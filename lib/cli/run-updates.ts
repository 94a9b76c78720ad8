import path from 'node:path';
import { batchExitCode, ExitCode, failureOf } from './exit-codes.ts';
import { CertificateLog } from './run-log.ts';
import { updateCertificates, type BatchSettings, type CertificateOutcome } from '../update/batch.ts';
import { ChainVerifier } from '../openssl/chain-verifier.ts';
import { ResponderChains } from '../openssl/responder-chains.ts';
import { plannedVerification } from '../update/verify-ee.ts';
import { paletteFor } from './color.ts';
import { StatusLine } from './status-line.ts';
import { progressLine, renderJson, renderSummary, totalsOf, type ReloadState } from './batch-report.ts';
import { haproxyNotifier, type HaproxyRunNotifier } from '../haproxy/notifier.ts';
import { HaproxyUpdateError } from '../haproxy/errors.ts';
import { UpdateFailure } from '../update/failure.ts';
import type { CliOptions } from './args.ts';
import type { RunLog } from './run-log.ts';
import { reportProgramError } from './program-error.ts';
import { certificateContext, isSingleRun, updateOptionsFor, type Run } from './run-setup.ts';
import type { MetricsFile } from './metrics.ts';
import { updateMetrics } from './metrics-rows.ts';

/** The notifier for a run: the HAProxy settings picked out of the command line and the environment. */
function notifierFor(options: CliOptions, log: RunLog, env: NodeJS.ProcessEnv): HaproxyRunNotifier {
  return haproxyNotifier(
    {
      sockets: options.sockets,
      useSocat: options.useSocat,
      reloadCommand: options.reloadCommand,
      socatBinary: env.SOCAT_BIN || undefined,
    },
    log,
  );
}

/** An update run, and whether it is of one `--cert`, which behaves exactly as the original; anything more is a batch. */
interface UpdateRun extends Run {
  readonly single: boolean;
}

/** Updates every certificate and reports how it went, to METRICS too when `--metrics` asks. */
export async function runUpdates(prepared: Run, metrics?: MetricsFile): Promise<number> {
  const { inputs, options, log, tempDir, tools } = prepared;
  const single = isSingleRun(inputs, options);
  const run: UpdateRun = { ...prepared, single };
  const haproxy = notifierFor(options, log, run.io.env);
  const verifiedChains = single ? undefined : await verifyInBulk(run);
  // A lone certificate is checked by openssl alone, as the original did.
  const responderChains = single ? undefined : new ResponderChains(tools.openssl, tempDir);
  const outcomes = await updateCertificates(inputs, {
    jobs: single ? 1 : options.jobs,
    multiple: !single,
    tempDir,
    optionsFor: (cert) => updateOptionsFor(cert, options),
    contextFor: (certTempDir, certLog) =>
      certificateContext(tools, {
        log: certLog,
        tempDir: certTempDir,
        haproxy,
        now: () => new Date(),
        verifiedChains,
        responderChains,
      }),
    logFor: (cert) =>
      single ? { debug: (m) => log.debug(m), error: (m) => log.error(m), finish() {} } : new CertificateLog(log, cert),
    reportFailure: (cert, error) => reportFailure(cert, error, run),
    onOutcome: progressReport(run),
  });
  const reloaded = await reloadOnce(haproxy, outcomes, run);
  log.closeStatusLine();
  printOutcomes(reloaded.outcomes, reloaded.reload, run);
  metrics?.record(updateMetrics(reloaded.outcomes, reloaded.reload, metrics.startedAt));
  return batchExitCode(reloaded.outcomes);
}

/**
 * The run's one reload, when some certificate needed it. When it fails, so
 * did the update of each certificate that needed it, reported as such.
 */
async function reloadOnce(
  haproxy: HaproxyRunNotifier,
  outcomes: CertificateOutcome[],
  run: UpdateRun,
): Promise<{ outcomes: CertificateOutcome[]; reload: ReloadState }> {
  try {
    const ran = await haproxy.reloadIfNeeded(AbortSignal.timeout(run.options.deadlineSeconds * 1000));
    return { outcomes, reload: ran ? 'done' : 'not-needed' };
  } catch (error) {
    if (!(error instanceof HaproxyUpdateError)) throw error;
    const failure = new UpdateFailure('haproxy', error.message);
    const needed = (outcome: CertificateOutcome) => outcome.haproxy?.some((report) => report.action === 'reload');
    for (const outcome of outcomes) if (needed(outcome)) await reportFailure(outcome.cert, failure, run);
    return {
      outcomes: outcomes.map((outcome) => (needed(outcome) ? { ...outcome, action: 'failed', failure } : outcome)),
      reload: 'failed',
    };
  }
}

/** Verify the EE, for a whole batch up front: a few openssl processes instead of one per certificate. */
async function verifyInBulk({ inputs, options, tools, tempDir }: Run): Promise<ChainVerifier> {
  const verifier = new ChainVerifier(tools.openssl, path.join(tempDir, 'bulk-verify'));
  await verifier.prime(inputs.flatMap((input) => plannedVerification(input.path, options) ?? []));
  return verifier;
}

/** A failure as it happens: a lone certificate's program error reads as the original's, any other names the certificate. */
async function reportFailure(cert: string, error: unknown, { single, log, io }: UpdateRun): Promise<void> {
  const failure = failureOf(error);
  if (single && failure.exitCode === ExitCode.program) {
    await reportProgramError(io, log, failure.message);
  } else {
    await log.error(`Error processing '${cert}': ${failure.message}`);
  }
}

/** A `[12/1000] …` line on a terminal that shows a batch as it goes, where nothing else is printed meanwhile. */
function progressReport({ single, options, log, io, inputs }: UpdateRun): BatchSettings['onOutcome'] {
  const total = inputs.length;
  // Debug lines are a progress report of their own, on the same terminal.
  const wanted = !single && io.stderr.isTTY === true && !options.json && !options.quiet && !options.debug && total > 3;
  if (!wanted) return undefined;
  const progress = new StatusLine(io.stderr);
  log.keepAbove(progress);
  const finished: CertificateOutcome[] = [];
  return (outcome) => {
    finished.push(outcome);
    progress.show(progressLine(finished.length, total, totalsOf(finished)));
  };
}

/** `--json`'s document, or a batch's summary; a lone certificate has said all it had to already. */
function printOutcomes(
  outcomes: readonly CertificateOutcome[],
  reload: ReloadState,
  { single, options, io }: UpdateRun,
): void {
  if (options.json) {
    io.stdout.write(renderJson(outcomes, reload));
  } else if (!single && !options.quiet) {
    io.stdout.write(renderSummary(outcomes, reload, paletteFor(io.stdout, io.env)));
  }
}
