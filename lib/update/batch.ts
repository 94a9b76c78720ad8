import path from 'node:path';
import { mkdir } from 'node:fs/promises';
import { mapConcurrently } from '../util/concurrency.ts';
import type { CertificateInput } from '../sources/collect.ts';
import type { CertStatus } from '../pki/ocsp-response.ts';
import type { Log } from '../util/log.ts';
import { updateCertificate } from './pipeline.ts';
import type { HaproxyTargetReport } from '../haproxy/notifier.ts';
import type { UpdateAction, UpdateContext, UpdateOptions } from './context.ts';
import { NoOcspUrlError } from './failure.ts';

export type CertificateAction = UpdateAction | 'skipped-no-url' | 'failed';

/** What happened to one certificate of a run, as `--json` and the summary report it. */
export interface CertificateOutcome {
  readonly cert: string;
  readonly action: CertificateAction;
  readonly certStatus: CertStatus | null;
  readonly thisUpdate: Date | null;
  readonly nextUpdate: Date | null;
  readonly producedAt: Date | null;
  /** Why the update failed, when it did: whatever it threw. */
  readonly failure?: unknown;
  readonly durationMs: number;
  /**
   * `on` when an HAProxy said it updates the certificate's response itself;
   * otherwise the crt-list's `ocsp-update` setting, when it came from one.
   */
  readonly ocspUpdate?: 'on' | 'off';
  /** What each HAProxy did with the response, when one was notified. */
  readonly haproxy?: readonly HaproxyTargetReport[];
}

export interface BatchSettings {
  readonly jobs: number;
  /** Several certificates: a missing OCSP URL is a skip, not a failure (most CAs dropped OCSP in 2025). */
  readonly multiple: boolean;
  readonly optionsFor: (cert: string) => UpdateOptions;
  /** The flow's context for one certificate, with its own temporary directory and log. */
  readonly contextFor: (tempDir: string, log: Log) => UpdateContext;
  readonly tempDir: string;
  /** The log of one certificate; `finish` is called once it is done. */
  readonly logFor: (cert: string) => Log & { finish(): void };
  /** Reports a failure as it happens. */
  readonly reportFailure: (cert: string, error: unknown) => Promise<void>;
  readonly onOutcome?: (outcome: CertificateOutcome) => void;
  readonly now?: () => number;
}

/** Updates every certificate, `jobs` at a time; outcomes come back in input order. */
export function updateCertificates(
  inputs: readonly CertificateInput[],
  settings: BatchSettings,
): Promise<CertificateOutcome[]> {
  const clock = settings.now ?? (() => performance.now());
  return mapConcurrently(inputs, settings.jobs, async (input, index) => {
    const started = clock();
    const log = settings.logFor(input.path);
    const tempDir = settings.multiple ? path.join(settings.tempDir, String(index + 1)) : settings.tempDir;
    const outcome = await updateOne(input, tempDir, log, settings);
    log.finish();
    const updatesItself = outcome.haproxy?.some((report) => report.updatesItself) === true;
    const ocspUpdate = updatesItself ? 'on' : input.ocspUpdate;
    const finished: CertificateOutcome = {
      ...outcome,
      cert: input.path,
      durationMs: Math.round(clock() - started),
      ...(ocspUpdate !== undefined && { ocspUpdate }),
    };
    settings.onOutcome?.(finished);
    return finished;
  });
}

type PartialOutcome = Omit<CertificateOutcome, 'cert' | 'durationMs' | 'ocspUpdate'>;

async function updateOne(
  input: CertificateInput,
  tempDir: string,
  log: Log,
  settings: BatchSettings,
): Promise<PartialOutcome> {
  try {
    if (settings.multiple) await mkdir(tempDir, { mode: 0o700 });
    const result = await updateCertificate(settings.optionsFor(input.path), settings.contextFor(tempDir, log));
    return {
      action: result.action,
      certStatus: result.certStatus,
      thisUpdate: result.thisUpdate,
      nextUpdate: result.nextUpdate ?? null,
      producedAt: result.producedAt ?? null,
      ...(result.haproxy !== undefined && { haproxy: result.haproxy }),
    };
  } catch (error) {
    if (settings.multiple && error instanceof NoOcspUrlError) {
      log.debug(`${input.path}: no OCSP URL in the certificate: skipped`);
      return { ...empty, action: 'skipped-no-url' };
    }
    await settings.reportFailure(input.path, error);
    return { ...empty, action: 'failed', failure: error };
  }
}

const empty = { certStatus: null, thisUpdate: null, nextUpdate: null, producedAt: null } as const;
