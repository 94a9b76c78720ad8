// Bundles the CLI: a cron job pays Node's start-up once per certificate, and
// an unbundled start (zx, yargs, chalk, tmp-promise) costs about three times
// as much. Split into chunks so that --help and --version load almost nothing.
import { rmSync } from 'node:fs';
import { build } from 'esbuild';

rmSync('dist', { recursive: true, force: true });

await build({
  entryPoints: ['lib/bin.ts'],
  outdir: 'dist',
  entryNames: 'hapos-upd',
  chunkNames: 'chunks/[name]-[hash]',
  splitting: true,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  minify: false,
  legalComments: 'none',
  logLevel: 'warning',
  // yargs' usage layout, never printed here, would cost ~40 ms per start: see the module.
  alias: { 'string-width': './lib/plain-string-width.ts' },
  // Some bundled CommonJS dependencies call require() on Node built-ins.
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  },
});
