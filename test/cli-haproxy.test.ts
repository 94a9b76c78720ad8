// The CLI against a real HAProxy: the update must land (checked replies,
// first staple without a reload, several sockets, master CLI), and every way
// it cannot land is exit 5 with a message that says why.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTestPki, responseSignedAt, type LeafName, type TestPki } from './helpers/pki.ts';
import { fetchStapledResponse, haproxyAtLeast, startHaproxy, type RunningHaproxy } from './helpers/haproxy.ts';
import { startFakeHttpServer } from './helpers/responder.ts';
import { sendCommand } from '../lib/haproxy/client.ts';
import { parseSocketAddress } from '../lib/haproxy/address.ts';
import { recordingWrapper, runCli } from './helpers/cli.ts';
import { run } from '../lib/process/run.ts';

let pki: TestPki;
let workDir: string;
const running: RunningHaproxy[] = [];

before(async () => {
  pki = await createTestPki();
  workDir = await mkdtemp(path.join(tmpdir(), 'hapos-upd-haproxy-'));
});

after(async () => {
  await Promise.all(running.map((haproxy) => haproxy.stop()));
  await pki?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

let sites = 0;
/** A crt file (leaf, intermediate, key) in a directory of its own, as HAProxy loads it. */
async function site(leaf: LeafName = 'good'): Promise<string> {
  const dir = await mkdtemp(path.join(workDir, `site-${++sites}-`));
  const cert = path.join(dir, 'site.pem');
  await copyFile(pki.leaves[leaf].bundleWithKey, cert);
  return cert;
}

async function haproxyServing(certificates: string[], masterWorker = false): Promise<RunningHaproxy> {
  const haproxy = await startHaproxy({ certificates, masterWorker });
  running.push(haproxy);
  return haproxy;
}

/** Runs the CLI with its temporary directory kept in a private TMPDIR, and returns the run's log too. */
async function update(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const privateTmp = await mkdtemp(path.join(workDir, 'tmp-'));
  const result = await runCli(['--keep-temp', '--retries', '0', ...args], {
    env: { ...pki.env, TMPDIR: privateTmp, ...options.env },
    cwd: options.cwd,
  });
  const [kept] = await readdir(privateTmp);
  const log = kept === undefined ? '' : await readFile(path.join(privateTmp, kept, 'log'), 'utf8');
  return { ...result, log };
}

const serverName = (leaf: LeafName = 'good') => pki.leaves[leaf].commonName;

async function writeFirstResponse(cert: string): Promise<void> {
  const result = await runCli(['-S', '--cert', cert], { env: pki.env });
  assert.equal(result.exitCode, 0, result.stderr);
}

describe('updating a real HAProxy', () => {
  test('an already stapled certificate gets the new response over the admin socket', async () => {
    const cert = await site();
    await writeFirstResponse(cert);
    const haproxy = await haproxyServing([cert]);
    const before = await fetchStapledResponse(haproxy.tlsPort, serverName());
    assert.equal(before.stapled, true);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const result = await update(['--socket', haproxy.socketPath, '--cert', cert]);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.equal(result.stderr, '');
    assert.match(result.log, /^Updating haproxy\.$/m);
    assert.match(result.log, /staples the new response\.$/m);
    const after = await fetchStapledResponse(haproxy.tlsPort, serverName());
    assert.equal(after.certStatus, 'good');
    assert.notEqual(after.producedAt, before.producedAt, 'a new response is stapled');
  });

  test('a first response is stapled with no reload: same HAProxy process, no reload command run', async () => {
    const cert = await site();
    const haproxy = await haproxyServing([cert]);
    assert.equal((await fetchStapledResponse(haproxy.tlsPort, serverName())).stapled, false);
    const marker = path.join(workDir, `reloaded-${sites}`);
    const result = await update(['--socket', haproxy.socketPath, '--reload-cmd', `touch '${marker}'`, '--cert', cert]);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.match(
      result.log,
      new RegExp(`stapling it with 'set ssl cert .*site\\.pem\\.ocsp' and 'commit ssl cert .*site\\.pem'\\.$`, 'm'),
    );
    assert.doesNotMatch(result.log, /Reloading haproxy/);
    await assert.rejects(stat(marker), 'the reload command did not run');
    assert.equal(process.kill(haproxy.pid, 0), true, 'the same HAProxy still runs');
    const stapled = await fetchStapledResponse(haproxy.tlsPort, serverName());
    assert.deepEqual([stapled.stapled, stapled.certStatus], [true, 'good']);
  });

  test('a certificate HAProxy does not serve: the reload command runs', async () => {
    const served = await site('goodEc');
    const haproxy = await haproxyServing([served]);
    const cert = await site();
    const marker = path.join(workDir, `reloaded-${sites}`);
    const result = await update(['--socket', haproxy.socketPath, '--reload-cmd', `touch '${marker}'`, '--cert', cert]);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.match(result.log, /does not list .*site\.pem: a reload will load it\.$/m);
    assert.match(result.log, /^Reloading haproxy\.$/m);
    await stat(marker);
  });

  test('three certificates HAProxy does not serve: one reload, after all three; the summary and --json say so', async () => {
    const served = await site('goodEc');
    const haproxy = await haproxyServing([served]);
    const certs = [await site(), await site(), await site()];
    const marker = path.join(workDir, `reloaded-${sites}`);
    const reloadArgs = ['--socket', haproxy.socketPath, '--reload-cmd', `echo reloaded >> '${marker}'`];
    const certArgs = certs.flatMap((cert) => ['--cert', cert]);

    const summary = await update([...reloadArgs, ...certArgs]);
    assert.equal(summary.exitCode, 0, summary.stderr);
    assert.equal(await readFile(marker, 'utf8'), 'reloaded\n');
    assert.deepEqual(summary.stdout.trimEnd().split('\n').slice(-3), [
      '3 certificates: 3 updated',
      `HAProxy ${haproxy.socketPath}: 3 reload`,
      'HAProxy reloaded once, after every certificate',
    ]);

    const json = await update([...reloadArgs, '--json', ...certArgs]);
    assert.equal(json.exitCode, 0, json.stderr);
    assert.equal(await readFile(marker, 'utf8'), 'reloaded\nreloaded\n');
    assert.deepEqual(JSON.parse(json.stdout).haproxy, {
      sockets: [
        { socket: haproxy.socketPath, pushed: 0, transaction: 0, reload: 3, 'holds-newer': 0, 'holds-same': 0 },
      ],
      reload: 'done',
    });
  });

  test('a failing reload in a batch: each certificate that needed it fails with exit 5, once', async () => {
    const served = await site('goodEc');
    const haproxy = await haproxyServing([served]);
    const certs = [await site(), await site()];
    const marker = path.join(workDir, `reloaded-${sites}`);
    const command = `echo reloaded >> '${marker}'; exit 1`;
    const result = await update([
      '--socket',
      haproxy.socketPath,
      '--reload-cmd',
      command,
      ...certs.flatMap((cert) => ['--cert', cert]),
    ]);
    assert.equal(result.exitCode, 5);
    assert.equal(
      result.stderr,
      certs.map((cert) => `Error processing '${cert}': can't reload haproxy with '${command}'\n`).join(''),
    );
    assert.equal(await readFile(marker, 'utf8'), 'reloaded\n');
    assert.match(result.stdout, /^2 certificates: 2 failed$/m);
    assert.match(result.stdout, /^HAProxy reload failed$/m);
  });

  test('a failing reload command is exit 5 with the original message', async () => {
    const haproxy = await haproxyServing([await site('goodEc')]);
    const cert = await site();
    const result = await update(['--socket', haproxy.socketPath, '--reload-cmd', 'exit 3', '--cert', cert]);
    assert.equal(result.exitCode, 5);
    assert.equal(result.stderr, `Error processing '${cert}': can't reload haproxy with 'exit 3'\n`);
    assert.ok((await stat(`${cert}.ocsp`)).size > 0, 'the new response is on disk for the next start');
  });

  test('a relative socket path and a TCP address both work', async () => {
    const cert = await site();
    await writeFirstResponse(cert);
    const haproxy = await haproxyServing([cert]);
    const relative = await update(['--socket', path.basename(haproxy.socketPath), '--cert', cert], {
      cwd: path.dirname(haproxy.socketPath),
    });
    assert.equal(relative.exitCode, 0, relative.stderr);
    const tcp = await update(['--socket', haproxy.tcpAddress, '--cert', cert]);
    assert.equal(tcp.exitCode, 0, tcp.stderr);
    assert.match(tcp.log, /staples the new response\.$/m);
  });

  test('two HAProxy instances both get the response; a failing one is named and fails the run', async () => {
    const cert = await site();
    const [first, second] = [await haproxyServing([cert]), await haproxyServing([cert])];
    const both = await update(['--socket', first.socketPath, '--socket', second.socketPath, '--cert', cert]);
    assert.equal(both.exitCode, 0, both.stderr);
    for (const haproxy of [first, second]) {
      assert.equal((await fetchStapledResponse(haproxy.tlsPort, serverName())).stapled, true);
    }
    const missing = path.join(workDir, 'no-such.sock');
    const one = await update(['--socket', missing, '--socket', first.socketPath, '--cert', cert]);
    assert.equal(one.exitCode, 5);
    assert.match(
      one.stderr,
      new RegExp(
        `^Error processing '${escape(cert)}': can't update haproxy ssl ocsp-response using ${escape(missing)} socket \\(.+\\)\\n$`,
      ),
    );
    assert.match(one.log, /staples the new response\.$/m, 'the working socket was still updated');
  });

  test('a master CLI forwards the response to its worker', async () => {
    const cert = await site();
    const haproxy = await haproxyServing([cert], true);
    const result = await update(['--socket', haproxy.masterSocket!, '--cert', cert]);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.match(result.log, /\(worker \d+\)/);
    assert.equal((await fetchStapledResponse(haproxy.tlsPort, serverName())).stapled, true);
  });

  test('a batch staples every certificate one HAProxy serves, same-named files in other directories apart', async () => {
    const leaves: LeafName[] = ['good', 'goodEc', 'issuerSigned', 'mustStaple'];
    const certs = await Promise.all(leaves.map((leaf) => site(leaf)));
    await writeFirstResponse(certs[0]!);
    const haproxy = await haproxyServing(certs);
    const marker = path.join(workDir, `reloaded-${sites}`);
    const result = await update([
      '--jobs',
      '4',
      '--socket',
      haproxy.socketPath,
      '--reload-cmd',
      `touch '${marker}'`,
      ...certs.flatMap((cert) => ['--cert', cert]),
    ]);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.equal(result.stderr, '');
    assert.match(result.stdout, /^4 certificates: 4 updated$/m);
    await assert.rejects(stat(marker), 'no reload: every response went over the socket');
    assert.equal(process.kill(haproxy.pid, 0), true, 'the same HAProxy still runs');
    for (const leaf of leaves) {
      const stapled = await fetchStapledResponse(haproxy.tlsPort, serverName(leaf));
      assert.deepEqual(
        [stapled.stapled, stapled.certStatus, stapled.serialNumber],
        [true, 'good', pki.leaves[leaf].serialHex],
        leaf,
      );
    }
  });

  test('--socat takes the original path, and needs socat', async () => {
    const cert = await site();
    await writeFirstResponse(cert);
    const haproxy = await haproxyServing([cert]);
    const result = await update(['--socat', '--socket', haproxy.socketPath, '--cert', cert]);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.match(result.log, /staples the new response\.$/m);

    const socat = await recordingWrapper(await mkdtemp(path.join(workDir, 'bin-')), 'socat');
    const named = await update(['--socat', '--socket', haproxy.socketPath, '--cert', cert], {
      env: { SOCAT_BIN: socat.path },
    });
    assert.equal(named.exitCode, 0, named.stderr);
    assert.ok((await socat.firstArguments()).includes('-t'), 'SOCAT_BIN ran the commands');

    const noSocat = await mkdtemp(path.join(workDir, 'path-'));
    for (const tool of ['node', 'openssl', 'sh', 'bash']) {
      const found = (await run('sh', ['-c', `command -v ${tool}`])).stdout.trim();
      await run('ln', ['-s', found, path.join(noSocat, tool)]);
    }
    const without = await update(['--socat', '--socket', haproxy.socketPath, '--cert', cert], {
      env: { PATH: noSocat },
    });
    assert.equal(without.exitCode, 9);
    assert.equal(
      without.stderr,
      'Error: socat binary not found; adjust SOCAT_BIN variable in the script\nRun hapos-upd -h for help\n',
    );
  });
});

/**
 * The response HAProxy fetched itself for the one certificate it updates
 * (`show ssl ocsp-updates` counts a success), and its CertID; within 10 s.
 */
async function responseHaproxyFetched(haproxy: RunningHaproxy): Promise<{ certId: string; der: Buffer }> {
  const admin = parseSocketAddress(haproxy.socketPath);
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; await sleep(50)) {
    const row = (await sendCommand(admin, 'show ssl ocsp-updates')).split('\n')[1]?.split(' | ');
    const [certId, , , , successes] = row ?? [];
    if (certId && Number(successes) > 0) return { certId, der: await stapledBytes(haproxy, certId) };
  }
  throw new Error(`HAProxy fetched no response itself within 10 s:\n${haproxy.output()}`);
}

async function stapledBytes(haproxy: RunningHaproxy, certId: string): Promise<Buffer> {
  const reply = await sendCommand(parseSocketAddress(haproxy.socketPath), `show ssl ocsp-response base64 ${certId}`);
  return Buffer.from(reply.trim(), 'base64');
}

describe(
  'a certificate HAProxy updates itself (ocsp-update on, HAProxy 2.8 and later)',
  { skip: !(await haproxyAtLeast(2, 8)) && 'HAProxy before 2.8 has no ocsp-update' },
  () => {
    async function haproxyUpdating(cert: string) {
      const haproxy = await startHaproxy({ certificates: [], updatedByHaproxy: [cert] });
      running.push(haproxy);
      return { haproxy, own: await responseHaproxyFetched(haproxy) };
    }

    test('the newer response is still pushed, HAProxy staples exactly its bytes, and --json says HAProxy updates it', async () => {
      const cert = await site('updatedByHaproxy');
      const { haproxy, own } = await haproxyUpdating(cert);
      await sleep(1100); // A This Update one second later than HAProxy's own.
      const result = await update(['--socket', haproxy.socketPath, '--json', '--cert', cert]);
      assert.equal(result.exitCode, 0, result.stderr);
      const [entry] = JSON.parse(result.stdout).results;
      assert.deepEqual(
        [entry.action, entry.ocspUpdate, entry.haproxy],
        ['updated', 'on', [{ socket: haproxy.socketPath, action: 'pushed', updatesItself: true }]],
      );
      assert.match(
        result.log,
        /updates the response for .*site\.pem itself \(ocsp-update on\): it will replace this one at its next update\.$/m,
      );
      const written = await readFile(`${cert}.ocsp`);
      assert.notDeepEqual(written, own.der);
      assert.deepEqual(await stapledBytes(haproxy, own.certId), written);
    });

    test('HAProxy staples a newer response than the one received: .ocsp is written for a restart, HAProxy keeps its own', async () => {
      const cert = await site('updatedByHaproxy');
      const { haproxy, own } = await haproxyUpdating(cert);
      const hourOld = await responseSignedAt(pki, 'updatedByHaproxy', '-1h');
      const responder = await startFakeHttpServer(() => ({ body: hourOld }));
      try {
        const result = await update([
          '--socket',
          haproxy.socketPath,
          '--json',
          '--ocsp-url',
          responder.url,
          '--cert',
          cert,
        ]);
        assert.equal(result.exitCode, 0, result.stderr);
        const [entry] = JSON.parse(result.stdout).results;
        assert.deepEqual(
          [entry.action, entry.haproxy],
          ['updated', [{ socket: haproxy.socketPath, action: 'holds-newer', updatesItself: true }]],
        );
        assert.match(result.log, /staples a newer response for .*site\.pem: not replaced\.$/m);
        assert.deepEqual(await readFile(`${cert}.ocsp`), hourOld);
        assert.deepEqual(await stapledBytes(haproxy, own.certId), own.der);
      } finally {
        await responder.close();
      }
    });
  },
);

describe('sockets that cannot be used: exit 5, nothing created', () => {
  test('a socket path that does not exist', async () => {
    const cert = await site();
    await writeFirstResponse(cert);
    const missing = path.join(workDir, 'missing', 'admin.sock');
    const result = await update(['--socket', missing, '--cert', cert]);
    assert.equal(result.exitCode, 5);
    assert.equal(
      result.stderr,
      `Error processing '${cert}': can't update haproxy ssl ocsp-response using ${missing} socket (HAProxy socket ${missing} does not exist)\n`,
    );
    await assert.rejects(stat(missing), 'no file appears where the socket should be');
  });

  test('a regular file where the socket should be, natively and with --socat', async () => {
    const cert = await site();
    await writeFirstResponse(cert);
    const notSocket = path.join(workDir, `not-a-socket-${sites}`);
    await writeFile(notSocket, 'just a file\n');
    for (const extra of [[], ['--socat']]) {
      const result = await update([...extra, '--socket', notSocket, '--cert', cert]);
      assert.equal(result.exitCode, 5, `${extra.join(' ')}: ${result.stderr}`);
      assert.equal(
        result.stderr,
        `Error processing '${cert}': can't update haproxy ssl ocsp-response using ${notSocket} socket (HAProxy socket ${notSocket} is not a socket but a regular file)\n`,
      );
      assert.equal(await readFile(notSocket, 'utf8'), 'just a file\n');
    }
  });
});

test('a socket address that does not parse is a wrong argument: exit 9, before any certificate is fetched', async () => {
  const cert = await site();
  const result = await update(['--socket', 'abns@haproxy', '--cert', cert]);
  assert.equal(result.exitCode, 9);
  assert.equal(
    result.stderr,
    'Error: unsupported HAProxy socket address: abns@haproxy (use a UNIX socket path, unix@PATH, ipv4@HOST:PORT, ipv6@HOST:PORT, IPv4:PORT or [IPv6]:PORT)\nRun hapos-upd -h for help\n',
  );
  assert.doesNotMatch(result.log, /OCSP server URL found/, 'the certificate was not processed');
});

test('a certificate whose expired .ocsp HAProxy refused at start gets the new response', async () => {
  // HAProxy keeps an empty slot for it; 3.x shows that slot as an empty base64 reply.
  const cert = await site();
  await writeFile(`${cert}.ocsp`, await responseSignedAt(pki, 'good', '-8d'));
  const haproxy = await haproxyServing([cert]);
  assert.match(haproxy.output(), /OCSP single response: no longer valid/);
  const result = await update(['--socket', haproxy.socketPath, '--cert', cert]);
  assert.equal(result.exitCode, 0, result.stderr);
  assert.match(result.log, /staples the new response\.$/m);
  const stapled = await fetchStapledResponse(haproxy.tlsPort, serverName());
  assert.deepEqual([stapled.stapled, stapled.certStatus], [true, 'good']);
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
