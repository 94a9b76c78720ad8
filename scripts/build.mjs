// Bundles the CLI into one file: a cron job pays Node's start-up once per
// certificate, and an unbundled start (zx, yargs, chalk, tmp-promise) costs
// about three times as much.
import { build } from 'esbuild';

await build({
  entryPoints: ['lib/bin.ts'],
  outfile: 'dist/hapos-upd.js',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  minify: false,
  legalComments: 'none',
  logLevel: 'warning',
  // Some bundled CommonJS dependencies call require() on Node built-ins.
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  },
});
