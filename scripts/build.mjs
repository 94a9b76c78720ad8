// Bundles the CLI: a cron job pays Node's start-up once per certificate, and
// an unbundled start (zx, yargs, chalk, tmp-promise) costs about three times
// as much. The entry answers --help and --version loading almost nothing; a
// run loads the runner, one CommonJS bundle compiled from V8's code cache.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { build } from 'esbuild';
import { common, commonJs } from './bundle-options.mjs';

// What an earlier build made (chunk names change with their content), but
// not the single executable or the .deb, which npm pack's build would lose.
for (const made of ['dist/hapos-upd.js', 'dist/chunks', 'dist/man', 'dist/completion']) {
  rmSync(made, { recursive: true, force: true });
}

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

/** Runs one of the TypeScript build scripts: the code cache, the man page and completions. */
function runScript(script) {
  const result = spawnSync(process.execPath, ['--import', 'tsx', script], { stdio: 'inherit' });
  if (result.status !== 0) throw new Error(`${script} failed (${result.status ?? result.signal})`);
}

runScript('scripts/warm-code-cache.ts');
runScript('scripts/write-docs.ts');
