// The single executable (`make sea`) on a host without Node: in a mount
// namespace of its own where the node binary is /dev/null, with nothing in
// its environment but a PATH that holds openssl alone and the test PKI's
// trust store.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, realpathSync } from 'node:fs';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../../lib/process/run.ts';
import { runCli, type CliRun } from '../helpers/cli.ts';
import { describeEndToEnd } from './end-to-end.ts';

const executable = fileURLToPath(new URL('../../dist/hapos-upd-linux-x64', import.meta.url));

/** Hides node ($1) under /dev/null, makes sure it no longer runs, then runs the rest. */
const withoutNode = [
  '/bin/mount --bind /dev/null "$1" || exit 98',
  'if "$1" -e 0 2>/dev/null; then echo "node still runs" >&2; exit 98; fi',
  'shift',
  'exec "$@"',
].join('\n');

const command = [
  '/usr/bin/unshare',
  '--mount',
  '/bin/sh',
  '-c',
  withoutNode,
  'sh',
  realpathSync(process.execPath),
  executable,
] as const;

/** The PATH of every run: openssl, and nothing else. */
let binDir: string;

before(async () => {
  assert.ok(existsSync(executable), `${executable}: make sea builds it`);
  binDir = await mkdtemp(path.join(tmpdir(), 'hapos-upd-sea-bin-'));
  const openssl = await run('sh', ['-c', 'command -v openssl']);
  await symlink(openssl.stdout.trim(), path.join(binDir, 'openssl'));
});

after(async () => {
  if (binDir) await rm(binDir, { recursive: true, force: true });
});

const withoutNodeEnv = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ PATH: binDir, ...extra });

const sea = (args: string[]): Promise<CliRun> => runCli(args, { command, env: withoutNodeEnv() });

test('--version and --help print what the npm package prints', async () => {
  for (const args of [['--version'], ['--help']]) {
    const [packaged, npm] = await Promise.all([sea(args), runCli(args)]);
    assert.deepEqual([packaged.exitCode, packaged.stderr], [0, ''], args.join(' '));
    assert.equal(packaged.stdout, npm.stdout, args.join(' '));
  }
});

test('a program error is worded and exits as in the npm package: no experimental warning, no Node usage text', async () => {
  const result = await sea(['--frobnicate']);
  assert.deepEqual(
    [result.exitCode, result.stdout, result.stderr],
    [9, '', 'Error: unknown option: --frobnicate\nRun hapos-upd -h for help\n'],
  );
});

describeEndToEnd({ command, env: (pki) => withoutNodeEnv({ SSL_CERT_DIR: pki.env.SSL_CERT_DIR }) });
