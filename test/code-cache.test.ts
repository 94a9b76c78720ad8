import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadBundle, writeCodeCache } from '../lib/cli/code-cache.ts';

/** Where a bundle's code cache is kept: one file per V8 version and architecture. */
const cacheFileOf = (bundlePath: string) => `${bundlePath}.${process.versions.v8}-${process.arch}.cache`;
import { run } from '../lib/process/run.ts';

const codeCacheModule = fileURLToPath(new URL('../lib/cli/code-cache.ts', import.meta.url));

/**
 * How a fresh process compiles the bundle: within one process V8 reuses what
 * it compiled before and never even reads a cache.
 */
type CacheUse = ReturnType<typeof loadBundle>['cacheUse'];

async function cacheUseInFreshProcess(bundle: string): Promise<CacheUse> {
  const script = `import { loadBundle } from ${JSON.stringify(codeCacheModule)}; process.stdout.write(loadBundle(${JSON.stringify(bundle)}).cacheUse);`;
  const result = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '--eval', script]);
  assert.equal(result.exitCode, 0, result.stderr);
  return result.stdout as CacheUse;
}

let dir: string;
let bundlePath: string;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'hapos-upd-code-cache-'));
  bundlePath = path.join(dir, 'bundle.cjs');
  await writeFile(
    bundlePath,
    "const path = require('node:path');\nexports.where = () => path.basename(__filename) + ' in ' + path.basename(__dirname);\n",
  );
});

after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

type Where = { where: () => string };

test('runs a CommonJS bundle with its own require, __filename and __dirname, without a cache', () => {
  const bundle = loadBundle(bundlePath);
  assert.equal(bundle.cacheUse, 'absent');
  assert.equal((bundle.exports as Where).where(), `bundle.cjs in ${path.basename(dir)}`);
});

test('the cache written after a run is used by the next process', async () => {
  const first = loadBundle(bundlePath);
  (first.exports as Where).where();
  assert.equal(writeCodeCache(first), cacheFileOf(bundlePath));
  assert.equal(await cacheUseInFreshProcess(bundlePath), 'accepted');
});

test('a cache that does not fit is rejected and the bundle still runs', async () => {
  const other = path.join(dir, 'other.cjs');
  await writeFile(other, 'exports.answer = 42;\n');
  await writeFile(cacheFileOf(other), 'not a code cache');
  const bundle = loadBundle(other);
  assert.equal(bundle.cacheUse, 'rejected');
  assert.equal((bundle.exports as { answer: number }).answer, 42);
});

test("the build's runner loads from its cache on this Node", async () => {
  const runner = fileURLToPath(new URL('../dist/chunks/runner.cjs', import.meta.url));
  assert.ok(existsSync(cacheFileOf(runner)), 'make build writes the cache');
  assert.equal(await cacheUseInFreshProcess(runner), 'accepted');
});
