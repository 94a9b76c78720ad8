import { existsSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { dir } from 'tmp-promise';
import { HaposError, ExitCode, programError } from './errors.ts';
import { run } from './exec.ts';
import { Openssl } from './openssl.ts';
import { RunLog, PROGRAM_NAME, type OutputStream } from './run-log.ts';
import { HELP_TEXT, parseCommandLine, type CliOptions } from './cli-args.ts';
import { defaultRetryDelayMs, updateCertificate, type HaproxyNotifier, type UpdateOptions } from './updater.ts';

export interface CliIo {
  readonly stdout: OutputStream;
  readonly stderr: OutputStream;
  readonly env: NodeJS.ProcessEnv;
  /** Package version, printed by `--version`. */
  readonly version: string;
}

/** Builds the HAProxy side of step 12 for one run's options. */
export type NotifierFactory = (options: CliOptions, log: RunLog) => HaproxyNotifier;

/** The whole command: parses argv, runs the update, reports errors; returns the exit code. */
export async function main(argv: readonly string[], io: CliIo, notifierFor: NotifierFactory): Promise<number> {
  const parsed = parseCommandLine(argv);
  switch (parsed.kind) {
    case 'help':
      io.stdout.write(`${HELP_TEXT}\n`);
      return ExitCode.ok;
    case 'version':
      io.stdout.write(`${io.version}\n`);
      return ExitCode.ok;
    case 'error':
      return reportProgramError(
        io,
        new RunLog({ debugToStdout: false, stdout: io.stdout, stderr: io.stderr }),
        parsed.message,
      );
  }
  const options = parsed.options;
  const log = new RunLog({
    debugToStdout: options.debug,
    syslogPriority: options.syslogPriority,
    stdout: io.stdout,
    stderr: io.stderr,
  });
  if (options.vaFile !== undefined && options.vaFile !== '-' && !existsSync(options.vaFile)) {
    return reportProgramError(io, log, `VAfile does not exists: ${options.vaFile}`);
  }

  const tempDir = await dir({
    template: `${PROGRAM_NAME}.XXXXXX`,
    tmpdir: os.tmpdir(),
    mode: 0o700,
    unsafeCleanup: true,
  });
  log.writeTo(path.join(tempDir.path, 'log'));
  const removeTempDir = () => {
    if (!options.keepTemp) rmSync(tempDir.path, { recursive: true, force: true });
  };
  const abort = () => {
    log.debug('Aborting');
    removeTempDir();
    process.exit(ExitCode.program);
  };
  process.once('SIGINT', abort);
  process.once('SIGTERM', abort);

  try {
    log.debug(`Temporary directory: ${tempDir.path}`);
    await runUpdate(options, log, tempDir.path, io, notifierFor(options, log));
    return ExitCode.ok;
  } catch (error) {
    if (!(error instanceof HaposError)) {
      return reportProgramError(io, log, error instanceof Error ? error.message : String(error));
    }
    if (error.exitCode === ExitCode.program) return reportProgramError(io, log, error.message);
    await log.error(`Error processing '${options.certs[0] ?? ''}': ${error.message}`);
    return error.exitCode;
  } finally {
    process.off('SIGINT', abort);
    process.off('SIGTERM', abort);
    removeTempDir();
  }
}

async function runUpdate(
  options: CliOptions,
  log: RunLog,
  tempDir: string,
  io: CliIo,
  haproxy: HaproxyNotifier,
): Promise<void> {
  const openssl = await Openssl.detect(io.env.OPENSSL_BIN || 'openssl');
  if (openssl === undefined) throw programError('openssl binary not found; adjust OPENSSL_BIN variable in the script');
  const [cert] = options.certs;
  if (cert === undefined) throw programError('certificate not provided (--cert argument)');
  const curl = options.useCurl ? await findCurl(io.env.CURL_BIN || 'curl') : undefined;
  if (options.ocspProxy !== undefined && curl === undefined && !openssl.supportsProxy) {
    throw programError(`--ocsp-proxy needs OpenSSL 3.0 or later (found ${openssl.version.text}); add --use-curl`);
  }
  const updateOptions: UpdateOptions = {
    cert,
    dryRun: options.debug,
    goodOnly: options.goodOnly,
    ocspUrl: options.ocspUrl,
    ocspHost: options.ocspHost,
    ocspProxy: options.ocspProxy,
    partialChain: options.partialChain,
    vaFile: options.vaFile === '-' ? { useChain: true } : options.vaFile,
    verify: options.verify,
    skipUpdate: options.skipUpdate,
    timeoutSeconds: options.timeoutSeconds,
    retries: options.retries,
    lockTimeoutSeconds: options.lockTimeoutSeconds,
  };
  await updateCertificate(updateOptions, {
    openssl,
    curl,
    log,
    tempDir,
    haproxy,
    now: () => new Date(),
    retryDelayMs: defaultRetryDelayMs,
  });
}

async function findCurl(binary: string): Promise<string> {
  const probe = await run(binary, ['--version']);
  if (probe.exitCode !== 0 || !probe.stdout.startsWith('curl')) {
    throw programError('curl binary not found; adjust CURL_BIN variable in the script');
  }
  return binary;
}

async function reportProgramError(io: CliIo, log: RunLog, message: string): Promise<number> {
  await log.error(`Error: ${message}`);
  io.stderr.write(`Run ${PROGRAM_NAME} -h for help\n`);
  return ExitCode.program;
}
