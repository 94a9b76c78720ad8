// `--metrics FILE`: what a run found, in Prometheus' text format, for
// node_exporter's textfile collector. The file is replaced whole after each
// run (a temporary file beside it, renamed), so that a scrape never reads
// half of one.
import type { CertStatus } from '../pki/ocsp-response.ts';
import { FileReadError, readRegularFileSync } from '../fs/read.ts';
import { FileWriteError, replaceFilesAtomically } from '../fs/write.ts';
import { STAPLE_STATES } from '../status/staple-status.ts';
import { appendTo } from '../util/multimap.ts';
import type { Log } from '../util/log.ts';
import type { CliOptions } from './args.ts';
import { actions as updateActions } from './batch-report.ts';
import { ExitCode } from './exit-codes.ts';
import { parseSamples, renderGauges, type Gauge, type Labels, type ParsedSample } from './prometheus-text.ts';

/**
 * Each kind of run: what it does with a certificate, counted per run (zero
 * included, so that a rate or an alert always has a series to look at), and
 * whether a certificate it learns no response for keeps the one the previous
 * file recorded. Only an update's does: a failed update leaves the `.ocsp`
 * those series describe in place, while a check observes no file and a
 * status run sees what HAProxy staples, no staple included.
 */
const MODES = {
  update: { actions: updateActions, remembersResponse: true },
  check: { actions: ['passed', 'warned', 'failed'], remembersResponse: false },
  status: { actions: STAPLE_STATES, remembersResponse: false },
} as const satisfies Record<string, { readonly actions: readonly string[]; readonly remembersResponse: boolean }>;

/** Which kind of run wrote the file: every series is labelled with it, so that the files of two jobs never clash. */
type MetricsMode = keyof typeof MODES;

export type CheckAction = (typeof MODES.check.actions)[number];

export interface SocketStaple {
  /** The socket, as given. */
  readonly socket: string;
  /** Whether that HAProxy (every worker behind a master CLI) staples the certificate's response. */
  readonly stapled: boolean;
}

/**
 * One certificate as a run reports it; a run has one per path (HAProxy
 * names a certificate by its path too). One that did not succeed (exit code
 * other than 0) keeps the last success of the previous file, and in an
 * update one the run got no response for (status null) its response series.
 */
export interface CertificateMetrics {
  readonly path: string;
  /** One of its mode's actions. */
  readonly action: string;
  readonly certStatus: CertStatus | null;
  readonly thisUpdate: Date | null;
  readonly nextUpdate: Date | null;
  readonly producedAt: Date | null;
  /** Each socket that was asked, when any was. */
  readonly stapled?: readonly SocketStaple[];
  readonly exitCode: number;
  readonly lastAttempt: Date;
}

const CERT_STATUSES: readonly CertStatus[] = ['good', 'revoked', 'unknown'];

const NAMES = {
  status: 'hapos_ocsp_status',
  thisUpdate: 'hapos_ocsp_this_update_timestamp_seconds',
  nextUpdate: 'hapos_ocsp_next_update_timestamp_seconds',
  producedAt: 'hapos_ocsp_produced_at_timestamp_seconds',
  timeLeft: 'hapos_ocsp_time_left_seconds',
  lastAttempt: 'hapos_ocsp_last_attempt_timestamp_seconds',
  lastSuccess: 'hapos_ocsp_last_success_timestamp_seconds',
  lastExitCode: 'hapos_ocsp_last_exit_code',
  stapled: 'hapos_ocsp_stapled',
  runTimestamp: 'hapos_ocsp_run_timestamp_seconds',
  runDuration: 'hapos_ocsp_run_duration_seconds',
  runExitCode: 'hapos_ocsp_run_exit_code',
  runCertificates: 'hapos_ocsp_run_certificates',
} as const;

type SeriesName = keyof typeof NAMES;

const HELP: Record<SeriesName, string> = {
  status: 'Certificate status in the OCSP response (good, revoked, unknown): 1 for the one it says',
  thisUpdate: 'This Update of the OCSP response, as a Unix time',
  nextUpdate: 'Next Update of the OCSP response, as a Unix time',
  producedAt: 'When the responder signed the OCSP response, as a Unix time',
  timeLeft: 'Seconds from the run to Next Update, negative once it has passed',
  lastAttempt: 'When a run last tried the certificate, as a Unix time',
  lastSuccess: 'When a run last succeeded for the certificate (exit code 0), as a Unix time',
  lastExitCode: "The exit code of the certificate's last attempt (0 ok, 1-5 as the updater's, 9 program error)",
  stapled: 'Whether the HAProxy behind the socket staples the response (1) or not (0)',
  runTimestamp: 'When the run ended, as a Unix time',
  runDuration: 'How long the run took, in seconds',
  runExitCode: "The run's exit code",
  runCertificates: 'Certificates of the run, by what it did with them',
};

/** More than a file of 100,000 certificates needs; a larger one is not read back. */
const PREVIOUS_FILE_MAX_BYTES = 16 * 1024 * 1024;

/** The file `--metrics` names, while a run fills it in; undefined without `--metrics`, and with `-d`, which writes nothing. */
export function metricsFileFor(
  options: Pick<CliOptions, 'metricsFile' | 'debug' | 'check' | 'status'>,
  log: Log,
): MetricsFile | undefined {
  if (options.metricsFile === undefined) return undefined;
  if (options.debug) {
    log.debug(`Debug mode: the metrics file ${options.metricsFile} will not be written.`);
    return undefined;
  }
  const mode = options.status ? 'status' : options.check ? 'check' : 'update';
  return new MetricsFile(options.metricsFile, mode, new Date());
}

export class MetricsFile {
  private certificates: readonly CertificateMetrics[] = [];

  constructor(
    private readonly path: string,
    private readonly mode: MetricsMode,
    /** When the run started: the time each certificate's attempt is reported at. */
    readonly startedAt: Date,
  ) {}

  /** The run's certificates, once it has them all; a run that stops before has none, and reports itself alone. */
  record(certificates: readonly CertificateMetrics[]): void {
    this.certificates = certificates;
  }

  /**
   * Replaces the file. Returns the run's exit code, or 9 when the file could
   * not be written after a run that succeeded: a failure the run had already
   * says more about the certificates than this one.
   */
  async write(exitCode: number, log: Log): Promise<number> {
    const finishedAt = new Date();
    const previous = rememberedIn(readPrevious(this.path, log), this.mode);
    const text = renderGauges(this.gauges(exitCode, finishedAt, previous));
    try {
      await replaceFilesAtomically([{ path: this.path, data: text }]);
      return exitCode;
    } catch (error) {
      if (!(error instanceof FileWriteError)) throw error;
      await log.error(`Error: can't write metrics file ${this.path} (${error.code})`);
      return exitCode === ExitCode.ok ? ExitCode.program : exitCode;
    }
  }

  private gauges(exitCode: number, finishedAt: Date, previous: ReadonlyMap<string, Remembered>): Gauge[] {
    const series = new Series();
    const finished = unixSeconds(finishedAt);
    for (const row of this.certificates) {
      const labels: Labels = [
        ['mode', this.mode],
        ['path', row.path],
      ];
      const before = previous.get(row.path);
      const response = responseOf(row) ?? (MODES[this.mode].remembersResponse ? before?.response : undefined);
      if (response !== undefined) {
        for (const status of CERT_STATUSES) {
          series.add('status', [...labels, ['status', status]], status === response.status ? 1 : 0);
        }
        if (response.thisUpdate !== undefined) series.add('thisUpdate', labels, response.thisUpdate);
        if (response.nextUpdate !== undefined) {
          series.add('nextUpdate', labels, response.nextUpdate);
          series.add('timeLeft', labels, Math.round(response.nextUpdate - finished));
        }
        if (response.producedAt !== undefined) series.add('producedAt', labels, response.producedAt);
      }
      series.add('lastAttempt', labels, unixSeconds(row.lastAttempt));
      const lastSuccess = row.exitCode === ExitCode.ok ? unixSeconds(row.lastAttempt) : before?.lastSuccess;
      if (lastSuccess !== undefined) series.add('lastSuccess', labels, lastSuccess);
      series.add('lastExitCode', labels, row.exitCode);
      for (const { socket, stapled } of row.stapled ?? []) {
        series.add('stapled', [...labels, ['socket', socket]], stapled ? 1 : 0);
      }
    }
    const run: Labels = [['mode', this.mode]];
    series.add('runTimestamp', run, finished);
    series.add('runDuration', run, (finishedAt.getTime() - this.startedAt.getTime()) / 1000);
    series.add('runExitCode', run, exitCode);
    const counts = new Map<string, number>(MODES[this.mode].actions.map((action) => [action, 0]));
    for (const { action } of this.certificates) counts.set(action, (counts.get(action) ?? 0) + 1);
    for (const [action, count] of counts) series.add('runCertificates', [...run, ['action', action]], count);
    return series.gauges();
  }
}

/** Samples gathered per series, written in the order of NAMES. */
class Series {
  private readonly samples = new Map<SeriesName, { labels: Labels; value: number }[]>();

  add(name: SeriesName, labels: Labels, value: number): void {
    appendTo(this.samples, name, { labels, value });
  }

  gauges(): Gauge[] {
    return (Object.keys(NAMES) as SeriesName[]).map((name) => ({
      name: NAMES[name],
      help: HELP[name],
      samples: this.samples.get(name) ?? [],
    }));
  }
}

/** What a response said, in Unix seconds. */
interface ResponseSeries {
  readonly status: CertStatus;
  readonly thisUpdate?: number;
  readonly nextUpdate?: number;
  readonly producedAt?: number;
}

function responseOf(row: CertificateMetrics): ResponseSeries | undefined {
  if (row.certStatus === null) return undefined;
  return {
    status: row.certStatus,
    ...(row.thisUpdate !== null && { thisUpdate: unixSeconds(row.thisUpdate) }),
    ...(row.nextUpdate !== null && { nextUpdate: unixSeconds(row.nextUpdate) }),
    ...(row.producedAt !== null && { producedAt: unixSeconds(row.producedAt) }),
  };
}

const unixSeconds = (date: Date) => date.getTime() / 1000;

/** What the previous file said of a certificate, for a run that learns less of it. */
interface Remembered {
  response?: ResponseSeries;
  lastSuccess?: number;
}

/** The previous file's text; none when it is missing or cannot be read (a FIFO, too large…), which only costs what it remembered. */
function readPrevious(path: string, log: Log): string {
  try {
    return readRegularFileSync(path, { maxBytes: PREVIOUS_FILE_MAX_BYTES }).bytes.toString('utf8');
  } catch (error) {
    if (!(error instanceof FileReadError)) throw error;
    if (error.problem.kind !== 'missing') {
      log.debug(`Metrics file ${path} not read back (${error.reason}): nothing carried over from it.`);
    }
    return '';
  }
}

const REMEMBERED_NAMES = new Set<string>([
  NAMES.status,
  NAMES.thisUpdate,
  NAMES.nextUpdate,
  NAMES.producedAt,
  NAMES.lastSuccess,
]);

/** The response and last success of each certificate of MODE in TEXT, the previous file, by path; whatever else it holds is ignored. */
function rememberedIn(text: string, mode: MetricsMode): Map<string, Remembered> {
  const samples = parseSamples(text, REMEMBERED_NAMES);
  const remembered = new Map<string, Remembered>();
  const each = (name: string, use: (entry: Remembered, sample: ParsedSample) => void) => {
    for (const sample of samples.get(name) ?? []) {
      const path = sample.labels.get('path');
      if (sample.labels.get('mode') !== mode || path === undefined) continue;
      const entry = remembered.get(path) ?? {};
      remembered.set(path, entry);
      use(entry, sample);
    }
  };
  each(NAMES.lastSuccess, (entry, { value }) => (entry.lastSuccess = value));
  each(NAMES.status, (entry, { labels, value }) => {
    const status = CERT_STATUSES.find((known) => known === labels.get('status'));
    if (status !== undefined && value === 1) entry.response = { status };
  });
  // Dates without the status they belong to are not a response.
  const date = (field: 'thisUpdate' | 'nextUpdate' | 'producedAt') => (entry: Remembered, sample: ParsedSample) => {
    if (entry.response !== undefined) entry.response = { ...entry.response, [field]: sample.value };
  };
  each(NAMES.thisUpdate, date('thisUpdate'));
  each(NAMES.nextUpdate, date('nextUpdate'));
  each(NAMES.producedAt, date('producedAt'));
  return remembered;
}
