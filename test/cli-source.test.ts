// The CLI run from its TypeScript source, with no build needed: the runner is
// imported as it is instead of the bundle and its code cache.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { run } from '../lib/process/run.ts';
import { createTestPki, type TestPki } from './helpers/pki.ts';
import { tempDirOf } from './helpers/cli.ts';
import packageJson from '../package.json' with { type: 'json' };

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
let pki: TestPki;

before(async () => {
  pki = await createTestPki();
});

after(async () => {
  await pki?.close();
});

/** `node --import tsx lib/cli/bin.ts ARGS`, as the README's development section runs it. */
const fromSource = (args: readonly string[]) =>
  run(process.execPath, ['--import', 'tsx', 'lib/cli/bin.ts', ...args], {
    cwd: repoRoot,
    env: { ...pki.env, NO_COLOR: '1' },
  });

test('--version', async () => {
  const result = await fromSource(['--version']);
  assert.equal(result.exitCode, 0, result.stderr);
  assert.equal(result.stdout, `${packageJson.version}\n`);
});

test('an unknown option: exit 9 and the original message, from the runner', async () => {
  const result = await fromSource(['-d', '--bogus']);
  assert.equal(result.exitCode, 9);
  assert.equal(result.stdout, '');
  assert.equal(result.stderr, 'Error: unknown option: --bogus\nRun hapos-upd -h for help\n');
});

test('-d queries the responder and checks its answer, and leaves no temporary directory', async () => {
  const result = await fromSource(['-d', '--cert', pki.leaves.good.bundle]);
  assert.equal(result.exitCode, 0, result.stderr);
  assert.equal(result.stderr, '');
  assert.match(result.stdout, /^OCSP response verification results: Response verify OK$/m);
  assert.match(result.stdout, /^OCSP response: .*\/ee\.pem: good$/m);
  assert.ok(result.stdout.endsWith('Debug mode: haproxy update skipped.\n'), result.stdout);
  const tempDir = tempDirOf(result.stdout);
  assert.ok(tempDir !== undefined, result.stdout);
  assert.equal(existsSync(tempDir), false);
});
