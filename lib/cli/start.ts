import packageJson from '../../package.json' with { type: 'json' };

type Runner = typeof import('./runner.ts');

/**
 * What both entries do, the npm package's (bin.ts) and the single
 * executable's (sea.ts): `--help` and `--version` answer before the argument
 * parser and the update machinery are even loaded, a start-up cost every
 * cron run would pay; anything else loads the runner, each entry in its own
 * way, and runs it.
 */
export async function start(argv: readonly string[], loadRunner: () => Promise<Runner>): Promise<void> {
  const onlyArgument = argv.length === 1 ? argv[0] : undefined;
  if (onlyArgument === '-h' || onlyArgument === '--help') {
    const { HELP_TEXT } = await import('./help.ts');
    process.stdout.write(`${HELP_TEXT}\n`);
    return;
  }
  if (onlyArgument === '--version') {
    process.stdout.write(`${packageJson.version}\n`);
    return;
  }
  // `hapos-upd -d … | head` must not abort an update half-way: a closed pipe
  // only loses output, as with the original's echo.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') throw error;
    });
  }
  const { main } = await loadRunner();
  process.exitCode = await main(argv, {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    version: packageJson.version,
  });
}
