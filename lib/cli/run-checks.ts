import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { checkExitCode, RunError } from './exit-codes.ts';
import { FileWriteError, writeRegularFileSync } from '../fs/write.ts';
import { CertificateLog } from './run-log.ts';
import type { CertificateInput } from '../sources/collect.ts';
import { mapConcurrently } from '../util/concurrency.ts';
import { checkBundle } from '../check/check-bundle.ts';
import type { Finding } from '../check/findings.ts';
import { updateCertificate } from '../update/pipeline.ts';
import type { UpdateResult } from '../update/context.ts';
import type { Log } from '../util/log.ts';
import { paletteFor } from './color.ts';
import { renderFindingsJson, renderFindingsText, renderJunitXml } from './check-report.ts';
import { certificateContext, updateOptionsFor, type Run } from './run-setup.ts';
import type { MetricsFile } from './metrics.ts';
import { checkMetrics, type CheckedBundle } from './metrics-rows.ts';

/** `--check`: findings for every bundle, reported as text, JSON, JUnit and METRICS; nothing else written, HAProxy untouched. */
export async function runChecks(run: Run, metrics?: MetricsFile): Promise<number> {
  const { inputs, options, io, tempDir } = run;
  // One clock for the whole check: every bundle is judged at the same moment.
  const now = new Date();
  const perCertificate = await mapConcurrently(inputs, options.jobs, (input, index) =>
    checkOne(input, path.join(tempDir, String(index + 1)), run, now),
  );
  const findings = perCertificate.flatMap((checked) => checked.findings);
  const certs = inputs.map((input) => input.path);
  if (options.junitFile !== undefined) writeJunitReport(options.junitFile, certs, findings);
  if (options.json) {
    io.stdout.write(renderFindingsJson(findings));
  } else if (!options.quiet) {
    io.stdout.write(renderFindingsText(findings, paletteFor(io.stdout, io.env), certs));
  }
  metrics?.record(inputs.map((input, index) => checkMetrics(input.path, perCertificate[index]!, options, now)));
  return checkExitCode(findings, options);
}

/** One bundle's findings: its lints, its chain, and a dry run of its update, whose response is kept for `--metrics`. */
async function checkOne(input: CertificateInput, certTempDir: string, run: Run, now: Date): Promise<CheckedBundle> {
  const { options, log, tools } = run;
  await mkdir(certTempDir, { mode: 0o700 });
  // The dry run's own lines are part of the report, not stderr noise.
  const certLog = new CertificateLog(log, input.path, { errorsToo: true });
  let response: UpdateResult | undefined;
  const findings = await checkBundle(
    input.path,
    {
      now,
      warnDays: options.warnDays,
      requireOcsp: options.requireOcsp,
      caFile: options.caFile,
      partialChain: options.partialChain,
    },
    {
      openssl: tools.openssl,
      tempDir: certTempDir,
      dryRun: async () => (response = await dryRun(input.path, certTempDir, certLog, run, now)),
    },
  );
  certLog.finish();
  return { findings, ...(response !== undefined && { dryRun: response }) };
}

/** The update as `-d` would run it, fresh or not, with `--ca-file`'s anchors trusted too. */
function dryRun(
  cert: string,
  certTempDir: string,
  certLog: Log,
  { options, tools }: Run,
  now: Date,
): Promise<UpdateResult> {
  return updateCertificate(
    {
      ...updateOptionsFor(cert, options),
      dryRun: true,
      skipUpdate: true,
      skipFresh: false,
      extraCaFile: options.caFile,
    },
    certificateContext(tools, {
      log: certLog,
      tempDir: certTempDir,
      haproxy: { notify: () => Promise.reject(new Error('--check never notifies HAProxy')) },
      now: () => now,
    }),
  );
}

function writeJunitReport(junitFile: string, certs: readonly string[], findings: readonly Finding[]): void {
  try {
    writeRegularFileSync(junitFile, renderJunitXml(certs, findings));
  } catch (error) {
    if (!(error instanceof FileWriteError)) throw error;
    throw new RunError(`can't write the JUnit report ${junitFile} (${error.code})`);
  }
}
