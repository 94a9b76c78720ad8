import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import vm from 'node:vm';

// Loading a CommonJS bundle with V8's code cache: the functions a run
// compiled when the cache was made are not compiled again. Node 20 has no
// module compile cache of its own, and compiling the CLI's bundle (yargs, zx)
// is a good part of every cron run's start.

/** How the bundle was compiled: from the cache, despite one (another V8 build or its flags), or with none for this V8. */
type CacheUse = 'accepted' | 'rejected' | 'absent';

interface LoadedBundle {
  readonly path: string;
  readonly exports: unknown;
  readonly cacheUse: CacheUse;
  /** The code cache of everything compiled so far, for `writeCodeCache`. */
  readonly createCachedData: () => Buffer;
}

/** A cache is only valid for the V8 that made it, so each V8 version and architecture has its own file. */
function codeCachePath(bundlePath: string): string {
  return `${bundlePath}.${process.versions.v8}-${process.arch}.cache`;
}

/** Runs a CommonJS bundle as Node's own loader would, with the code cache beside it when there is one. */
export function loadBundle(bundlePath: string): LoadedBundle {
  const cachePath = codeCachePath(bundlePath);
  const requireFromBundle = createRequire(bundlePath);
  const hasCache = existsSync(cachePath);
  const source = readFileSync(bundlePath, 'utf8');
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: bundlePath,
    ...(hasCache && { cachedData: readFileSync(cachePath) }),
  });
  const cacheUse: CacheUse = !hasCache ? 'absent' : script.cachedDataRejected === true ? 'rejected' : 'accepted';
  const module = { exports: {} as unknown };
  const wrapper = script.runInThisContext() as (...args: unknown[]) => void;
  wrapper(module.exports, requireFromBundle, module, bundlePath, path.dirname(bundlePath));
  return { path: bundlePath, exports: module.exports, cacheUse, createCachedData: () => script.createCachedData() };
}

/** Writes the cache of a loaded bundle for this V8; made after a warm-up run, it holds the functions that run compiled. */
export function writeCodeCache(bundle: LoadedBundle): string {
  const cachePath = codeCachePath(bundle.path);
  writeFileSync(cachePath, bundle.createCachedData());
  return cachePath;
}
