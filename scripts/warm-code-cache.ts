// Makes the code cache of dist/chunks/runner.cjs (see lib/cli/code-cache.ts):
// loads the bundle, runs the CLI once so that V8 compiles what a run
// compiles (argument parsing, temp dir, openssl detection, reading the
// bundle), then saves everything compiled.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { loadBundle, writeCodeCache } from '../lib/cli/code-cache.ts';

const bundle = loadBundle(path.resolve('dist/chunks/runner.cjs'));
const { main } = bundle.exports as typeof import('../lib/cli/runner.ts');
const scratch = await mkdtemp(path.join(tmpdir(), 'hapos-upd-warm-'));
const discard = new Writable({ write: (_chunk, _encoding, done) => done() });
try {
  // A bundle that does not exist: the run ends with exit 1 after the steps every run takes.
  await main(['-S', '--cert', path.join(scratch, 'site.pem')], {
    stdout: discard,
    stderr: discard,
    env: process.env,
    version: '0.0.0',
  });
} finally {
  await rm(scratch, { recursive: true, force: true });
}
writeCodeCache(bundle);
