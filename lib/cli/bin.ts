#!/usr/bin/env node
import { fileURLToPath } from 'node:url';
import packageJson from '../../package.json' with { type: 'json' };

// `hapos-upd --help` and `--version` answer before the argument parser and the
// update machinery are even loaded: a start-up cost every cron run would pay.
const argv = process.argv.slice(2);
const onlyArgument = argv.length === 1 ? argv[0] : undefined;
if (onlyArgument === '-h' || onlyArgument === '--help') {
  const { HELP_TEXT } = await import('./help.ts');
  process.stdout.write(`${HELP_TEXT}\n`);
} else if (onlyArgument === '--version') {
  process.stdout.write(`${packageJson.version}\n`);
} else {
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

type Runner = typeof import('./runner.ts');

/**
 * The built CLI loads the runner bundle scripts/build.mjs put beside it, with
 * its code cache. Run from source (`npx tsx lib/cli/bin.ts`), this file is
 * TypeScript and there may be no build: the runner is imported as it is. Its
 * address is computed so that esbuild leaves it out of the bundle.
 */
async function loadRunner(): Promise<Runner> {
  if (import.meta.url.endsWith('.ts')) return (await import(new URL('./runner.ts', import.meta.url).href)) as Runner;
  const { loadBundle } = await import('./code-cache.ts');
  return loadBundle(fileURLToPath(new URL('./chunks/runner.cjs', import.meta.url))).exports as Runner;
}
