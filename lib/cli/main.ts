import path from 'node:path';
import { ExitCode, failureOf } from './exit-codes.ts';
import { PEM_FILE_MAX_BYTES } from '../fs/caps.ts';
import { FileReadError, readRegularFileSync } from '../fs/read.ts';
import { RunLog } from './run-log.ts';
import type { CliIo } from './io.ts';
import { parseCommandLine, syslogPriorityIn, type CliOptions } from './args.ts';
import { HELP_TEXT } from './help.ts';
import { reportProgramError } from './program-error.ts';
import { createTempDir, withTempDir } from './temp-dir.ts';
import { endRun, prepareRun } from './run-setup.ts';
import { runChecks } from './run-checks.ts';
import { runUpdates } from './run-updates.ts';
import { runStatus } from './run-status.ts';
import { metricsFileFor, type MetricsFile } from './metrics.ts';

/** The whole command: parses argv, runs the update, reports errors; returns the exit code. */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  const parsed = parseCommandLine(argv);
  switch (parsed.kind) {
    case 'help':
      io.stdout.write(`${HELP_TEXT}\n`);
      return ExitCode.ok;
    case 'version':
      io.stdout.write(`${io.version}\n`);
      return ExitCode.ok;
    case 'error': {
      const log = new RunLog({
        debugToStdout: false,
        syslogPriority: syslogPriorityIn(argv),
        stdout: io.stdout,
        stderr: io.stderr,
      });
      return reportProgramError(io, log, parsed.message, { json: argv.includes('--json') });
    }
  }
  return runWith(parsed.options, io);
}

/**
 * A run whose command line parsed: from its temp dir on, everything it does
 * is logged there too. However it ends, its `--metrics` file is written then.
 */
async function runWith(options: CliOptions, io: CliIo): Promise<number> {
  const log = new RunLog({
    debugToStdout: options.debug,
    ...(options.json && { debugStream: io.stderr }),
    syslogPriority: options.syslogPriority,
    stdout: io.stdout,
    stderr: io.stderr,
  });
  const metrics = metricsFileFor(options, log);
  const ended = async (exitCode: number) => (metrics === undefined ? exitCode : metrics.write(exitCode, log));
  // It reads what HAProxy serves, needing neither openssl, certificates nor a temp dir.
  if (options.status) return ended(await runStatus(options, io, log, metrics));
  // openssl would wait forever on a FIFO, or read a device without end.
  const problem = vaFileProblem(options.vaFile);
  if (problem !== undefined) return ended(await reportProgramError(io, log, problem, options));
  const tempDir = await createTempDir();
  if ('problem' in tempDir) return ended(await reportProgramError(io, log, tempDir.problem, options));
  log.writeTo(path.join(tempDir.path, 'log'));
  return withTempDir(tempDir.path, { keep: options.keepTemp, log }, async () =>
    ended(await runCommand(options, log, tempDir.path, io, metrics)),
  );
}

/** The check or the update; whatever ends it early is reported here, while its temp dir still takes the log. */
async function runCommand(
  options: CliOptions,
  log: RunLog,
  tempDir: string,
  io: CliIo,
  metrics: MetricsFile | undefined,
): Promise<number> {
  try {
    log.debug(`Temporary directory: ${tempDir}`);
    const run = await prepareRun(options, io, log, tempDir);
    try {
      return options.check ? await runChecks(run, metrics) : await runUpdates(run, metrics);
    } finally {
      endRun(run);
    }
  } catch (error) {
    return await reportRunFailure(error, options, log, io);
  }
}

/** Why `--VAfile` cannot be handed to openssl, if it cannot: the original only said when it was missing. */
function vaFileProblem(vaFile: string | undefined): string | undefined {
  if (vaFile === undefined || vaFile === '-') return undefined;
  try {
    readRegularFileSync(vaFile, { maxBytes: PEM_FILE_MAX_BYTES });
    return undefined;
  } catch (error) {
    if (!(error instanceof FileReadError)) throw error;
    if (error.problem.kind === 'missing') return `VAfile does not exists: ${vaFile}`;
    return `VAfile can't be read: ${vaFile} (${error.reason})`;
  }
}

/** What ended the run before its certificates could report for themselves: named after the first, as the original did. */
async function reportRunFailure(error: unknown, options: CliOptions, log: RunLog, io: CliIo): Promise<number> {
  const failure = failureOf(error);
  if (failure.exitCode === ExitCode.program) return reportProgramError(io, log, failure.message, options);
  await log.error(`Error processing '${options.certs[0] ?? ''}': ${failure.message}`);
  return failure.exitCode;
}
