import { ExitCode, failureOf, statusExitCode } from './exit-codes.ts';
import { paletteFor } from './color.ts';
import { renderJsonError } from './batch-report.ts';
import { renderStatusJson, renderStatusTable } from './status-report.ts';
import { reportProgramError } from './program-error.ts';
import type { CliOptions } from './args.ts';
import type { CliIo } from './io.ts';
import type { RunLog } from './run-log.ts';
import type { CommandOptions } from '../haproxy/client.ts';
import { SocatMissingError } from '../haproxy/errors.ts';
import { sendCommandWithSocat, socatAvailable } from '../haproxy/socat.ts';
import { readStapleStatuses } from '../status/staple-status.ts';
import type { MetricsFile } from './metrics.ts';
import { statusMetrics } from './metrics-rows.ts';

const SECONDS_PER_HOUR = 3600;

/**
 * `--status`: what every HAProxy staples, as a table, `--json` or (with
 * `--quiet`) the exit code alone, and to METRICS with `--metrics`. Reads
 * sockets and `.ocsp` files, writes nothing else, not even a temporary directory.
 */
export async function runStatus(options: CliOptions, io: CliIo, log: RunLog, metrics?: MetricsFile): Promise<number> {
  try {
    const statuses = await readStapleStatuses({
      sockets: options.sockets,
      warnSeconds: options.warnHours * SECONDS_PER_HOUR,
      now: new Date(),
      ...(options.useSocat && { transport: await socatTransport(io.env.SOCAT_BIN || undefined) }),
    });
    if (options.json) io.stdout.write(renderStatusJson(statuses));
    else if (!options.quiet) io.stdout.write(renderStatusTable(statuses, paletteFor(io.stdout, io.env)));
    metrics?.record(statusMetrics(statuses, metrics.startedAt));
    return statusExitCode(statuses);
  } catch (error) {
    const failure = failureOf(error);
    if (failure.exitCode === ExitCode.program) return reportProgramError(io, log, failure.message, options);
    if (options.json) io.stdout.write(renderJsonError(failure.exitCode, failure.message));
    await log.error(`Error: ${failure.message}`);
    return failure.exitCode;
  }
}

/** Every command through socat (`--socat`), once socat is known to run. */
async function socatTransport(binary: string | undefined): Promise<CommandOptions['transport']> {
  if (!(await socatAvailable(binary))) throw new SocatMissingError();
  return (address, command, commandOptions) => sendCommandWithSocat(address, command, { ...commandOptions, binary });
}
