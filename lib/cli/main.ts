import { randomInt } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { batchExitCode, checkExitCode, ExitCode, failureOf, RunError } from './exit-codes.ts';
import { killRunningPrograms, run } from '../process/run.ts';
import { PEM_FILE_MAX_BYTES } from '../fs/caps.ts';
import { FileReadError, readRegularFileSync } from '../fs/read.ts';
import { systemErrorCode } from '../fs/system.ts';
import { FileWriteError, writeRegularFileSync } from '../fs/write.ts';
import { releaseHeldLocksSync } from '../fs/lock.ts';
import { Openssl } from '../openssl/openssl.ts';
import { CertificateLog, RunLog } from './run-log.ts';
import { PROGRAM_NAME } from './program.ts';
import { updateCertificates, type CertificateOutcome } from '../update/batch.ts';
import { collectCertificates, CertificateSourceError, type CertificateInput } from '../sources/collect.ts';
import { createKeyedLimiter, mapConcurrently } from '../util/concurrency.ts';
import { paletteFor } from './color.ts';
import { StatusLine, type OutputStream } from './status-line.ts';
import { progressLine, renderJson, renderJsonError, renderSummary, totalsOf } from './batch-report.ts';
import { checkBundle } from '../check/check-bundle.ts';
import { renderFindingsJson, renderFindingsText, renderJunitXml } from './check-report.ts';
import { ChainVerifier } from '../openssl/chain-verifier.ts';
import { parseCommandLine, syslogPriorityIn, type CliOptions } from './args.ts';
import { HELP_TEXT } from './help.ts';
import type { HaproxyNotifier } from '../haproxy/notifier.ts';
import { sharedTempFilesIn, type UpdateOptions } from '../update/context.ts';
import { updateCertificate } from '../update/pipeline.ts';
import { defaultRetryDelayMs } from '../update/fetch-response.ts';
import { plannedVerification } from '../update/verify-ee.ts';

export interface CliIo {
  readonly stdout: OutputStream;
  readonly stderr: OutputStream;
  readonly env: NodeJS.ProcessEnv;
  /** Package version, printed by `--version`. */
  readonly version: string;
}

/** Builds the HAProxy side of the install step for one run's options. */
export type NotifierFactory = (options: CliOptions, log: RunLog, env: NodeJS.ProcessEnv) => HaproxyNotifier;

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
        new RunLog({
          debugToStdout: false,
          syslogPriority: syslogPriorityIn(argv),
          stdout: io.stdout,
          stderr: io.stderr,
        }),
        parsed.message,
        { json: argv.includes('--json') },
      );
  }
  const options = parsed.options;
  const log = new RunLog({
    debugToStdout: options.debug,
    ...(options.json && { debugStream: io.stderr }),
    syslogPriority: options.syslogPriority,
    stdout: io.stdout,
    stderr: io.stderr,
  });
  if (options.vaFile !== undefined && options.vaFile !== '-') {
    // openssl would wait forever on a FIFO, or read a device without end.
    const problem = vaFileProblem(options.vaFile);
    if (problem !== undefined) return reportProgramError(io, log, problem, options);
  }

  let tempDir: string;
  try {
    tempDir = await createTempDir();
  } catch (error) {
    const reason = systemErrorCode(error) ?? (error instanceof Error ? error.message : String(error));
    return reportProgramError(io, log, `can't create a temporary directory in ${os.tmpdir()} (${reason})`, options);
  }
  log.writeTo(path.join(tempDir, 'log'));
  const removeTempDir = () => {
    // Retried: a certificate's directory may still be being made in the thread pool when a signal arrives.
    if (!options.keepTemp) rmSync(tempDir, { recursive: true, force: true, maxRetries: 3, retryDelay: 10 });
  };
  const abort = () => {
    log.closeStatusLine();
    log.debug('Aborting');
    killRunningPrograms();
    releaseHeldLocksSync();
    try {
      removeTempDir();
    } finally {
      // Whatever the clean-up met, a signal ends the run as the original's did.
      process.exit(ExitCode.program);
    }
  };
  process.once('SIGINT', abort);
  process.once('SIGTERM', abort);

  try {
    log.debug(`Temporary directory: ${tempDir}`);
    return await runUpdates(options, log, tempDir, io, notifierFor);
  } catch (error) {
    const failure = failureOf(error);
    if (failure.exitCode !== ExitCode.program) {
      await log.error(`Error processing '${options.certs[0] ?? ''}': ${failure.message}`);
      return failure.exitCode;
    }
    return await reportProgramError(io, log, failure.message, options);
  } finally {
    process.off('SIGINT', abort);
    process.off('SIGTERM', abort);
    removeTempDir();
  }
}

/** Why `--VAfile` cannot be handed to openssl, if it cannot: the original only said when it was missing. */
function vaFileProblem(vaFile: string): string | undefined {
  try {
    readRegularFileSync(vaFile, { maxBytes: PEM_FILE_MAX_BYTES });
    return undefined;
  } catch (error) {
    if (!(error instanceof FileReadError)) throw error;
    if (error.problem.kind === 'missing') return `VAfile does not exists: ${vaFile}`;
    return `VAfile can't be read: ${vaFile} (${error.reason})`;
  }
}

/**
 * The run's private directory. tmp-promise is loaded only here: it resolves
 * the system temp dir as it loads, so a TMPDIR that does not exist would
 * otherwise crash the program before it could say so.
 */
async function createTempDir(): Promise<string> {
  const { dir } = await import('tmp-promise');
  const created = await dir({ name: tempDirName(), tmpdir: os.tmpdir(), mode: 0o700, unsafeCleanup: true });
  return created.path;
}

const TEMP_NAME_CHARACTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** The original's `mktemp -t hapos-upd.XXXXXXXXXX`: ten random characters, where tmp's templates have six. */
function tempDirName(): string {
  const random = Array.from({ length: 10 }, () => TEMP_NAME_CHARACTERS[randomInt(TEMP_NAME_CHARACTERS.length)]);
  return `${PROGRAM_NAME}.${random.join('')}`;
}

/** Responders get at most this many requests at once from one run, so that a batch never hammers a CA. */
const REQUESTS_PER_RESPONDER = 4;

async function runUpdates(
  options: CliOptions,
  log: RunLog,
  tempDir: string,
  io: CliIo,
  notifierFor: NotifierFactory,
): Promise<number> {
  const openssl = await Openssl.detect(io.env.OPENSSL_BIN || 'openssl');
  if (openssl === undefined) throw new RunError('openssl binary not found; adjust OPENSSL_BIN variable in the script');
  const inputs = await findCertificates(options);
  const curl = options.useCurl ? await findCurl(io.env.CURL_BIN || 'curl') : undefined;
  if (options.ocspProxy !== undefined && curl === undefined && !openssl.supportsProxy) {
    throw new RunError(`--ocsp-proxy needs OpenSSL 3.0 or later (found ${openssl.version.text}); add --use-curl`);
  }
  if (options.check) return runChecks(inputs, options, log, tempDir, io, { openssl, curl });
  // One --cert behaves exactly as the original; anything more is a batch.
  const single = inputs.length === 1 && options.dirs.length === 0 && options.crtLists.length === 0;
  const haproxy = notifierFor(options, log, io.env);
  const throttleResponder = createKeyedLimiter(REQUESTS_PER_RESPONDER);
  const verifiedChains = single ? undefined : await verifyInBulk(inputs, options, openssl, tempDir);
  const sharedFiles = sharedTempFilesIn(tempDir);
  // Debug lines are a progress report of their own, on the same terminal.
  const progress =
    !single && io.stderr.isTTY === true && !options.json && !options.quiet && !options.debug && inputs.length > 3
      ? new StatusLine(io.stderr)
      : undefined;
  if (progress) log.keepAbove(progress);
  const finished: CertificateOutcome[] = [];
  const outcomes = await updateCertificates(inputs, {
    jobs: single ? 1 : options.jobs,
    multiple: !single,
    tempDir,
    optionsFor: (cert) => updateOptionsFor(cert, options),
    contextFor: (certTempDir, certLog) => ({
      openssl,
      curl,
      log: certLog,
      tempDir: certTempDir,
      sharedFiles,
      haproxy,
      now: () => new Date(),
      retryDelayMs: defaultRetryDelayMs,
      throttleResponder,
      verifiedChains,
    }),
    logFor: (cert) =>
      single ? { debug: (m) => log.debug(m), error: (m) => log.error(m), finish() {} } : new CertificateLog(log, cert),
    reportFailure: async (cert, error) => {
      const failure = failureOf(error);
      if (single && failure.exitCode === ExitCode.program) {
        await reportProgramError(io, log, failure.message);
      } else {
        await log.error(`Error processing '${cert}': ${failure.message}`);
      }
    },
    onOutcome: progress
      ? (outcome) => {
          finished.push(outcome);
          progress.show(progressLine(finished.length, inputs.length, totalsOf(finished)));
        }
      : undefined,
  });
  log.closeStatusLine();
  if (options.json) {
    io.stdout.write(renderJson(outcomes));
  } else if (!single && !options.quiet) {
    io.stdout.write(renderSummary(outcomes, paletteFor(io.stdout, io.env)));
  }
  return batchExitCode(outcomes);
}

/** `--check`: findings for every bundle, reported as text, JSON and JUnit; nothing written, HAProxy untouched. */
async function runChecks(
  inputs: readonly CertificateInput[],
  options: CliOptions,
  log: RunLog,
  tempDir: string,
  io: CliIo,
  tools: { openssl: Openssl; curl: string | undefined },
): Promise<number> {
  const throttleResponder = createKeyedLimiter(REQUESTS_PER_RESPONDER);
  const sharedFiles = sharedTempFilesIn(tempDir);
  const now = new Date();
  const perCertificate = await mapConcurrently(inputs, options.jobs, async (input, index) => {
    const certTempDir = path.join(tempDir, String(index + 1));
    await mkdir(certTempDir, { mode: 0o700 });
    // The dry run's own lines are part of the report, not stderr noise.
    const certLog = new CertificateLog(log, input.path, { errorsToo: true });
    const dryRun = () =>
      updateCertificate(
        {
          ...updateOptionsFor(input.path, options),
          dryRun: true,
          skipUpdate: true,
          skipFresh: false,
          extraCaFile: options.caFile,
        },
        {
          ...tools,
          log: certLog,
          tempDir: certTempDir,
          sharedFiles,
          haproxy: { notify: () => Promise.reject(new Error('--check never notifies HAProxy')) },
          now: () => now,
          retryDelayMs: defaultRetryDelayMs,
          throttleResponder,
        },
      );
    const findings = await checkBundle(
      input.path,
      {
        now,
        warnDays: options.warnDays,
        requireOcsp: options.requireOcsp,
        caFile: options.caFile,
        partialChain: options.partialChain,
      },
      { openssl: tools.openssl, tempDir: certTempDir, dryRun },
    );
    certLog.finish();
    return findings;
  });
  const findings = perCertificate.flat();
  const certs = inputs.map((input) => input.path);
  if (options.junitFile !== undefined) {
    try {
      writeRegularFileSync(options.junitFile, renderJunitXml(certs, findings));
    } catch (error) {
      if (!(error instanceof FileWriteError)) throw error;
      throw new RunError(`can't write the JUnit report ${options.junitFile} (${error.code})`);
    }
  }
  if (options.json) {
    io.stdout.write(renderFindingsJson(findings));
  } else if (!options.quiet) {
    io.stdout.write(renderFindingsText(findings, paletteFor(io.stdout, io.env), certs));
  }
  const failing = options.strict ? findings.map((finding) => ({ ...finding, severity: 'error' as const })) : findings;
  return checkExitCode(failing);
}

/** Verify the EE, for a whole batch up front: a few openssl processes instead of one per certificate. */
async function verifyInBulk(
  inputs: readonly CertificateInput[],
  options: CliOptions,
  openssl: Openssl,
  tempDir: string,
): Promise<ChainVerifier> {
  const verifier = new ChainVerifier(openssl, path.join(tempDir, 'bulk-verify'));
  await verifier.prime(inputs.flatMap((input) => plannedVerification(input.path, options) ?? []));
  return verifier;
}

async function findCertificates(options: CliOptions): Promise<CertificateInput[]> {
  let inputs: CertificateInput[];
  try {
    inputs = await collectCertificates({
      certs: options.certs,
      dirs: options.dirs,
      crtLists: options.crtLists,
      crtBase: options.crtBase,
    });
  } catch (error) {
    if (error instanceof CertificateSourceError) throw new RunError(error.message);
    throw error;
  }
  if (options.certs.length === 0 && options.dirs.length === 0 && options.crtLists.length === 0) {
    throw new RunError('certificate not provided (--cert argument)');
  }
  if (inputs.length === 0) throw new RunError('no certificate found in the given --dir and --crt-list');
  return inputs;
}

function updateOptionsFor(cert: string, options: CliOptions): UpdateOptions {
  return {
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
    deadlineSeconds: options.deadlineSeconds,
    skipFresh: options.skipFresh,
  };
}

async function findCurl(binary: string): Promise<string> {
  const probe = await run(binary, ['--version']);
  if (probe.exitCode !== 0 || !probe.stdout.startsWith('curl')) {
    throw new RunError('curl binary not found; adjust CURL_BIN variable in the script');
  }
  return binary;
}

/**
 * Exit 9. With `--json` (when the command line got as far as saying so),
 * stdout still gets its one document: `{"error": {"exitCode": 9, "message"}}`.
 */
async function reportProgramError(
  io: CliIo,
  log: RunLog,
  message: string,
  options?: Pick<CliOptions, 'json'>,
): Promise<number> {
  if (options?.json) io.stdout.write(renderJsonError(ExitCode.program, message));
  await log.error(`Error: ${message}`);
  io.stderr.write(`Run ${PROGRAM_NAME} -h for help\n`);
  return ExitCode.program;
}
