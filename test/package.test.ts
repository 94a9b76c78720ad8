// The published package: only the bundle, its man page and completions,
// contrib/, README and LICENSE, runnable with npx and installable globally
// from the tarball.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../lib/process/run.ts';
import packageJson from '../package.json' with { type: 'json' };

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
let packDir: string;
let tarball: string;
let packedFiles: string[];

before(async () => {
  packDir = await mkdtemp(path.join(tmpdir(), 'hapos-upd-pack-'));
  const packed = await run('npm', ['pack', '--json', '--pack-destination', packDir], { cwd: repoRoot });
  assert.equal(packed.exitCode, 0, packed.stderr);
  const [summary] = JSON.parse(packed.stdout) as [{ filename: string; files: { path: string }[] }];
  tarball = path.join(packDir, summary.filename);
  packedFiles = summary.files.map((file) => file.path).sort();
});

after(async () => {
  if (packDir) await rm(packDir, { recursive: true, force: true });
});

test('the package holds only the built CLI, its man page and completions, the files of contrib/, README and LICENSE', () => {
  assert.deepEqual(
    packedFiles.filter((file) => !/^dist\/chunks\/[\w.-]+\.(js|cjs|cache)$/.test(file)),
    [
      'LICENSE',
      'README.md',
      'contrib/hapos-upd.cron',
      'contrib/hapos-upd.rules.yml',
      'contrib/hapos-upd.service',
      'contrib/hapos-upd.timer',
      'dist/completion/_hapos-upd',
      'dist/completion/hapos-upd.bash',
      'dist/hapos-upd.js',
      'dist/man/hapos-upd.1',
      'package.json',
    ],
  );
  assert.ok(packedFiles.includes('dist/chunks/runner.cjs'));
  assert.ok(packedFiles.includes(`dist/chunks/runner.cjs.${process.versions.v8}-${process.arch}.cache`));
  assert.equal(path.basename(tarball), `hapos-upd-${packageJson.version}.tgz`);
});

test('npx runs the packed CLI from its directory and from any other', async () => {
  const help = await run('npx', ['--yes', `./${path.basename(tarball)}`, '--help'], { cwd: packDir });
  assert.equal(help.exitCode, 0, help.stderr);
  assert.match(help.stdout, /hapos-upd \[options\] --cert crt_full_path/);
  const elsewhere = await mkdtemp(path.join(tmpdir(), 'hapos-upd-npx-'));
  try {
    const version = await run('npx', ['--yes', `file:${tarball}`, '--version'], { cwd: elsewhere });
    assert.equal(version.exitCode, 0, version.stderr);
    assert.equal(version.stdout, `${packageJson.version}\n`);
  } finally {
    await rm(elsewhere, { recursive: true, force: true });
  }
});

test('npm install --global of the tarball gives the command and its man page', async () => {
  const prefix = await mkdtemp(path.join(tmpdir(), 'hapos-upd-prefix-'));
  try {
    const installed = await run('npm', ['install', '--global', '--prefix', prefix, '--no-audit', '--no-fund', tarball]);
    assert.equal(installed.exitCode, 0, installed.stderr);
    const version = await run(path.join(prefix, 'bin', 'hapos-upd'), ['--version']);
    assert.deepEqual([version.exitCode, version.stdout], [0, `${packageJson.version}\n`], version.stderr);
    const man = await run('man', ['-w', 'hapos-upd'], {
      env: { ...process.env, MANPATH: path.join(prefix, 'share', 'man') },
    });
    assert.equal(man.exitCode, 0, man.stderr);
    // MANPATH holds only npm's link, share/man/man1/hapos-upd.1, which man follows to the package's page.
    const packagePage = path.join(
      await realpath(prefix),
      'lib',
      'node_modules',
      'hapos-upd',
      'dist',
      'man',
      'hapos-upd.1',
    );
    assert.equal(man.stdout, `${packagePage}\n`);
  } finally {
    await rm(prefix, { recursive: true, force: true });
  }
});

test('the bundle carries none of string-width start-up work, which yargs needs only for usage text we never print', async () => {
  const chunksDir = path.join(repoRoot, 'dist', 'chunks');
  const chunks = (await readdir(chunksDir)).filter((chunk) => /\.c?js$/.test(chunk));
  for (const chunk of chunks) {
    const source = await readFile(path.join(chunksDir, chunk), 'utf8');
    assert.doesNotMatch(source, /new Intl\.Segmenter|RGI_Emoji/, chunk);
  }
  assert.ok(chunks.length > 0);
});
