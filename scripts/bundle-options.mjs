// What every esbuild bundle of the CLI shares: the npm package's
// (scripts/build.mjs) and the single executable's (scripts/build-sea.mjs).
export const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  minify: false,
  legalComments: 'none',
  logLevel: 'warning',
  // yargs' usage layout, never printed here, would cost ~40 ms per start: see the module.
  alias: { 'string-width': './lib/cli/plain-string-width.ts' },
};

/**
 * For a CommonJS bundle: yargs is ESM-only and finds its own files from
 * import.meta.url, which a CommonJS bundle has no value for.
 */
export const commonJs = {
  format: 'cjs',
  define: { 'import.meta.url': '__bundleUrl' },
  banner: { js: "const __bundleUrl = require('node:url').pathToFileURL(__filename).href;" },
};
