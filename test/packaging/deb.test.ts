// The Debian package (`make deb`) installed on this machine with dpkg -i, as
// root: the command, its man page, completions and units where Debian looks
// for them, the end-to-end flow, and a dpkg -r that leaves nothing behind.
// The package is removed even when a test fails.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { run } from '../../lib/process/run.ts';
import { runCli } from '../helpers/cli.ts';
import packageJson from '../../package.json' with { type: 'json' };
import { describeEndToEnd } from './end-to-end.ts';

const deb = fileURLToPath(new URL(`../../dist/hapos-upd_${packageJson.version}_amd64.deb`, import.meta.url));

const packageStatus = async () =>
  (await run('dpkg-query', ['--show', '--showformat=${db:Status-Status}', 'hapos-upd'])).stdout;

/** The files (not directories) the package installed, as dpkg lists them. */
let installedFiles: string[] = [];

before(async () => {
  assert.ok(existsSync(deb), `${deb}: make deb builds it`);
  // A hapos-upd someone installed here is theirs: this test would remove it.
  assert.equal(await packageStatus(), '', 'hapos-upd is not installed before the test');
  const installed = await run('dpkg', ['--install', deb]);
  assert.equal(installed.exitCode, 0, installed.stderr);
  const listed = await run('dpkg-query', ['--listfiles', 'hapos-upd']);
  installedFiles = listed.stdout.split('\n').filter((file) => file !== '' && !statSync(file).isDirectory());
});

after(async () => {
  if ((await packageStatus()) !== '') await run('dpkg', ['--remove', 'hapos-upd']);
});

test('hapos-upd is on PATH, and prints its version', async () => {
  const result = await runCli(['--version'], { command: ['hapos-upd'] });
  assert.deepEqual([result.exitCode, result.stdout], [0, `${packageJson.version}\n`]);
});

test('man hapos-upd shows the page, from /usr/share/man', async () => {
  const where = await run('man', ['-w', 'hapos-upd']);
  assert.equal(where.stdout, '/usr/share/man/man1/hapos-upd.1.gz\n');
  const page = await run('man', ['hapos-upd']);
  assert.equal(page.exitCode, 0, page.stderr);
  assert.match(page.stdout, /^NAME\n {7}hapos-upd - Keeps HAProxy's stapled OCSP responses fresh$/m);
  assert.match(page.stdout, /^ {7}-S, --skip-update$/m);
});

test('bash and zsh find the completion where they look for it', async () => {
  const bash = await run('bash', [
    '-c',
    'source /usr/share/bash-completion/completions/hapos-upd && complete -p hapos-upd',
  ]);
  assert.equal(bash.stdout, 'complete -F _hapos_upd hapos-upd\n', bash.stderr);
  // compinit reads every function on zsh's default fpath, which has Debian's vendor-completions.
  const zsh = await run('zsh', [
    '-f',
    '-c',
    'autoload -U compinit && compinit -u -D && print -r -- $_comps[hapos-upd]',
  ]);
  assert.equal(zsh.stdout, '_hapos-upd\n', zsh.stderr);
});

test('the systemd units are installed, valid, run /usr/bin/hapos-upd, and are not enabled', async () => {
  const units = ['/lib/systemd/system/hapos-upd.service', '/lib/systemd/system/hapos-upd.timer'];
  const verify = await run('systemd-analyze', ['verify', ...units]);
  assert.deepEqual([verify.exitCode, verify.stderr], [0, '']);
  assert.match(await readFile(units[0]!, 'utf8'), /^ExecStart=\/usr\/bin\/hapos-upd --skip-fresh /m);
  for (const unit of ['hapos-upd.service', 'hapos-upd.timer']) {
    const enabled = await run('systemctl', ['is-enabled', unit]);
    assert.equal(enabled.stdout.trim(), unit.endsWith('.timer') ? 'disabled' : 'static', unit);
  }
});

describeEndToEnd({ command: ['hapos-upd'], env: (pki) => pki.env });

test('dpkg -r removes the package and every file it installed', async () => {
  assert.ok(installedFiles.includes('/usr/bin/hapos-upd'), installedFiles.join(' '));
  const removed = await run('dpkg', ['--remove', 'hapos-upd']);
  assert.equal(removed.exitCode, 0, removed.stderr);
  assert.equal(await packageStatus(), '', 'dpkg keeps no trace of it: no conffiles, no maintainer scripts');
  assert.deepEqual(
    installedFiles.filter((file) => existsSync(file)),
    [],
  );
});
