import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { killRunningPrograms, run, runForBytes } from '../lib/process/run.ts';

const pathOnly = { PATH: process.env.PATH };

test('arguments reach the program as given, with no shell to interpret them', async () => {
  const tricky = ["it's", 'a "quoted" word', '$(echo injected)', 'two\nlines', '', '*'];
  const result = await run('printf', ['[%s]\\n', ...tricky]);
  assert.equal(result.exitCode, 0);
  assert.equal(result.stdout, tricky.map((arg) => `[${arg}]\n`).join(''));
});

test('the program is started directly: its environment is exactly the one given', async () => {
  // A `bash -c` in between would add SHLVL and `_` to the child's environment.
  const result = await run('env', [], { env: pathOnly });
  assert.equal(result.stdout, `PATH=${process.env.PATH}\n`);
});

test('a process whose PATH has no bash still runs programs, though zx looks for bash when loaded', async () => {
  const binDir = await mkdtemp(path.join(tmpdir(), 'hapos-upd-no-bash-'));
  try {
    await symlink('/usr/bin/printf', path.join(binDir, 'printf'));
    const runModule = new URL('../lib/process/run.ts', import.meta.url).href;
    const script = `import { run } from '${runModule}'; const r = await run('printf', ['ran']); console.log(r.exitCode, r.stdout, r.stderr);`;
    const child = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '--eval', script], {
      env: { PATH: binDir },
    });
    assert.equal(child.stderr, '');
    assert.equal(child.stdout, '0 ran \n');
  } finally {
    await rm(binDir, { recursive: true, force: true });
  }
});

test('exit code, stdout and stderr are reported apart', async () => {
  const result = await run('sh', ['-c', 'echo out; echo err >&2; exit 3']);
  assert.deepEqual(result, { exitCode: 3, stdout: 'out\n', stderr: 'err\n' });
});

test('a program that cannot be started reports exit code 127 and says why', async () => {
  const missing = await run('/nonexistent/openssl', ['version']);
  assert.equal(missing.exitCode, 127);
  assert.match(missing.stderr, /^\/nonexistent\/openssl: .*ENOENT/);
  const notExecutable = await run('/etc/passwd', []);
  assert.equal(notExecutable.exitCode, 127);
  assert.match(notExecutable.stderr, /EACCES/);
});

test('input is written to the program, and one that ignores it does not crash the run', async () => {
  assert.equal((await run('cat', [], { input: 'hello' })).stdout, 'hello');
  const ignored = await run('true', [], { input: Buffer.alloc(1 << 20, 0x41) });
  assert.equal(ignored.exitCode, 0);
});

test('a program still running at the timeout is killed and fails', async () => {
  const started = Date.now();
  const result = await run('sleep', ['10'], { timeoutMs: 200 });
  assert.notEqual(result.exitCode, 0);
  assert.ok(Date.now() - started < 5000, 'killed long before sleep would have ended');
});

test('cwd and env are honoured', async () => {
  const result = await run('sh', ['-c', 'pwd; echo "$GREETING"'], {
    cwd: '/tmp',
    env: { ...pathOnly, GREETING: 'hi' },
  });
  assert.equal(result.stdout, '/tmp\nhi\n');
});

test('an aborted signal kills the program at once, and one aborted before the start never runs it', async () => {
  const controller = new AbortController();
  const started = Date.now();
  setTimeout(() => controller.abort(), 100);
  const result = await run('sleep', ['10'], { signal: controller.signal });
  assert.equal(result.stopped, 'aborted');
  assert.notEqual(result.exitCode, 0);
  assert.ok(Date.now() - started < 5000);
  const dir = await mkdtemp(path.join(tmpdir(), 'hapos-upd-exec-'));
  const never = await run('touch', [path.join(dir, 'ran')], { signal: controller.signal });
  assert.equal(never.stopped, 'aborted');
  assert.deepEqual(await readdir(dir), []);
  await rm(dir, { recursive: true });
});

test('a program that floods its output is killed past the limit, its output never held whole', async () => {
  const result = await run('cat', ['/dev/zero'], { maxOutputBytes: 1 << 20 });
  assert.equal(result.stopped, 'output-limit');
  assert.notEqual(result.exitCode, 0);
  assert.ok(result.stdout.length < 8 << 20, `${result.stdout.length} characters kept`);
});

test('a timeout says so', async () => {
  assert.equal((await run('sleep', ['10'], { timeoutMs: 100 })).stopped, 'timeout');
});

test('runForBytes keeps stdout byte for byte, where text would mangle it', async () => {
  const bytes = Buffer.from([0x30, 0x82, 0xff, 0x00, 0xc3, 0x28, 0x0a]);
  const result = await runForBytes('printf', ['\\060\\202\\377\\000\\303\\050\\n']);
  assert.deepEqual(result.stdoutBytes, bytes);
});

test('killRunningPrograms stops every running program synchronously, for a handler about to exit', async () => {
  const running = run('sleep', ['10']);
  await sleep(100);
  const started = Date.now();
  killRunningPrograms();
  const result = await running;
  assert.notEqual(result.exitCode, 0);
  assert.ok(Date.now() - started < 2000);
});

test('with dieWithParent, the program is killed when the process that started it dies, even by SIGKILL', async () => {
  // A parent that starts `sleep` through run() and is then killed with SIGKILL.
  const script = `
    import { run } from ${JSON.stringify(new URL('../lib/process/run.ts', import.meta.url).href)};
    void run('sh', ['-c', 'echo $$; exec sleep 30'], { dieWithParent: true });
    setInterval(() => undefined, 1000);
  `;
  const parent = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  // The grandchild's PID, found through /proc: the sleep whose parent is setpriv's exec, i.e. parent's child.
  const deadline = Date.now() + 10_000;
  let sleeper: number | undefined;
  while (sleeper === undefined && Date.now() < deadline) {
    await sleep(100);
    sleeper = (await childrenOf(parent.pid!)).find((pid) => commandOf(pid) === 'sleep');
  }
  assert.ok(sleeper !== undefined, 'the parent started sleep');
  parent.kill('SIGKILL');
  const gone = Date.now() + 5_000;
  while (existsSync(`/proc/${sleeper}`) && commandOf(sleeper) === 'sleep' && Date.now() < gone) await sleep(50);
  assert.ok(!existsSync(`/proc/${sleeper}`) || commandOf(sleeper) !== 'sleep', 'sleep died with its parent');
});

async function childrenOf(pid: number): Promise<number[]> {
  const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  return text.trim() === '' ? [] : text.trim().split(/\s+/).map(Number);
}

function commandOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

test('with ownProcessGroup, stopping a shell command line stops what it started too', async () => {
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 300);
  const started = Date.now();
  // Not `exec sleep`: the shell waits on its child, which holds the output pipes open.
  const result = await run('sh', ['-c', 'sleep 30; echo never'], { signal: controller.signal, ownProcessGroup: true });
  assert.equal(result.stopped, 'aborted');
  assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
  assert.equal(result.stdout, '');
});
