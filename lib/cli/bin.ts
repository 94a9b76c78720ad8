#!/usr/bin/env node
import { fileURLToPath } from 'node:url';
import { start } from './start.ts';

await start(process.argv.slice(2), loadRunner);

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
