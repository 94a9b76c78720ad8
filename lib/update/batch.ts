import path from 'node:path';
import { mkdir } from 'node:fs/promises';
import { HaposError, ExitCode, type ExitCodeValue } from '../errors.ts';
import { mapConcurrently } from '../util/concurrency.ts';
import type { CertificateInput } from '../sources/collect.ts';
import type { CertStatus } from '../pki/ocsp-response.ts';
import type { Log } from '../util/log.ts';
import {
  NoOcspUrlError,
  updateCertificate,
  type UpdateAction,
  type UpdateContext,
  type UpdateOptions,
} from './pipeline.ts';

export type CertificateAction = UpdateAction | 'skipped-no-url' | 'failed';

/** What happened to one certificate of a run, as `--json` and the summary report it. */
export interface CertificateOutcome {
  readonly cert: string;
  readonly action: CertificateAction;
  readonly certStatus: CertStatus | null;
  readonly thisUpdate: Date | null;
  readonly nextUpdate: Date | null;
  /** 0, or the original's exit code class of the failure. */
  readonly exitCode: ExitCodeValue;
  readonly message: string;
  readonly durationMs: number;
  /** The crt-list's `ocsp-update` setting, when the certificate came from one. */
  readonly ocspUpdate?: 'on' | 'off';
}

const successMessages: Record<UpdateAction, string> = {
  updated: 'new response in place',
  checked: 'response fetched and checked (debug mode: nothing written)',
  'kept-current': 'the response in place is newer than the one received: kept',
  'skipped-fresh': 'the response in place is still fresh',
};

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
  readonly reportFailure: (cert: string, error: HaposError) => Promise<void>;
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
    const finished: CertificateOutcome = {
      ...outcome,
      cert: input.path,
      durationMs: Math.round(clock() - started),
      ...(input.ocspUpdate !== undefined && { ocspUpdate: input.ocspUpdate }),
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
      exitCode: ExitCode.ok,
      message: successMessages[result.action],
    };
  } catch (caught) {
    const error =
      caught instanceof HaposError
        ? caught
        : new HaposError(ExitCode.program, caught instanceof Error ? caught.message : String(caught));
    if (settings.multiple && error instanceof NoOcspUrlError) {
      log.debug(`${input.path}: no OCSP URL in the certificate: skipped`);
      return { ...empty, action: 'skipped-no-url', exitCode: ExitCode.ok, message: 'no OCSP URL in the certificate' };
    }
    await settings.reportFailure(input.path, error);
    return { ...empty, action: 'failed', exitCode: error.exitCode, message: error.message };
  }
}

const empty = { certStatus: null, thisUpdate: null, nextUpdate: null } as const;

/** The run's exit code: that of the first failed certificate in input order, else 0. */
export function batchExitCode(outcomes: readonly CertificateOutcome[]): ExitCodeValue {
  return outcomes.find((outcome) => outcome.action === 'failed')?.exitCode ?? ExitCode.ok;
}
