import { test } from 'node:test';
import assert from 'node:assert/strict';
import { run } from '../lib/exec.ts';

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
