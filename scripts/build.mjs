// Bundles the CLI: a cron job pays Node's start-up once per certificate, and
// an unbundled start (zx, yargs, chalk, tmp-promise) costs about three times
// as much. The entry answers --help and --version loading almost nothing; a
// run loads the runner, one CommonJS bundle compiled from V8's code cache.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { build } from 'esbuild';
import { common, commonJs } from './bundle-options.mjs';

rmSync('dist', { recursive: true, force: true });

await build({
  ...common,
  entryPoints: ['lib/cli/bin.ts'],
  outdir: 'dist',
  entryNames: 'hapos-upd',
  chunkNames: 'chunks/[name]-[hash]',
  splitting: true,
  format: 'esm',
});

await build({
  ...common,
  entryPoints: ['lib/cli/runner.ts'],
  outfile: 'dist/chunks/runner.cjs',
  ...commonJs,
});

const warmUp = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/warm-code-cache.ts'], { stdio: 'inherit' });
if (warmUp.status !== 0) throw new Error(`scripts/warm-code-cache.ts failed (${warmUp.status ?? warmUp.signal})`);
