// Builds the single executable (`make sea`): the CLI as one CommonJS script
// in a copy of the node binary running this, for hosts without Node ≥ 20
// (Debian 12's own is 18). The script is compiled from the code cache Node
// makes at build time ("useCodeCache" in sea-config.json), so the hand-made
// one of the npm package (code-cache.ts) has no part here.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { build } from 'esbuild';
import { common, commonJs } from './bundle-options.mjs';

const executable = `dist/hapos-upd-${process.platform}-${process.arch}`;
const partial = `${executable}.partial`;

/**
 * Runs a build step, stopping the build with its name when it fails. A quiet
 * one's stderr is shown only then: postject warns about each of the node
 * binary's notes it cannot name, and still injects the blob.
 */
function step(command, args, { quiet = false } = {}) {
  const result = spawnSync(command, args, { stdio: ['ignore', 'inherit', quiet ? 'pipe' : 'inherit'] });
  if (result.status === 0) return;
  if (quiet) process.stderr.write(result.stderr);
  throw new Error(`${command} ${args.join(' ')} failed (${result.status ?? result.signal})`);
}

mkdirSync('dist/sea', { recursive: true });
await build({ ...common, ...commonJs, entryPoints: ['lib/cli/sea.ts'], outfile: 'dist/sea/hapos-upd.cjs' });
step(process.execPath, ['--experimental-sea-config', 'sea-config.json']);

rmSync(partial, { force: true });
copyFileSync(process.execPath, partial);
// Node's symbols and debug information are an eighth of the binary, and
// nothing at run time reads them; the blob goes in after, as strip would
// drop the section postject adds.
step('strip', [partial]);
step(
  'npx',
  [
    'postject',
    partial,
    'NODE_SEA_BLOB',
    'dist/sea/hapos-upd.blob',
    '--sentinel-fuse',
    'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2',
  ],
  { quiet: true },
);
renameSync(partial, executable);
