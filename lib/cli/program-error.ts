import { ExitCode } from './exit-codes.ts';
import { renderJsonError } from './batch-report.ts';
import { PROGRAM_NAME } from './program.ts';
import type { CliOptions } from './args.ts';
import type { CliIo } from './io.ts';
import type { RunLog } from './run-log.ts';

/**
 * Exit 9. With `--json` (when the command line got as far as saying so),
 * stdout still gets its one document: `{"error": {"exitCode": 9, "message"}}`.
 */
export async function reportProgramError(
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
