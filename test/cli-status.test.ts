// `--status` against a real HAProxy holding fresh, expiring, expired, revoked
// and missing staples: the rows, the table and the JSON document, the exit
// codes a monitoring check reads, and that nothing is changed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTestPki, responseSignedAt, type LeafName, type TestPki } from './helpers/pki.ts';
import { haproxyAtLeast, startHaproxy, type RunningHaproxy } from './helpers/haproxy.ts';
import { CLI_PATH, runCli } from './helpers/cli.ts';
import { sendCommand } from '../lib/haproxy/client.ts';
import { parseSocketAddress } from '../lib/haproxy/address.ts';
import { parseOcspResponse, type BasicOcspResponse } from '../lib/pki/ocsp-response.ts';
import { run } from '../lib/process/run.ts';
import { startFakeHaproxy, text, unknownCommand, type FakeHaproxy, type FakeReply } from './helpers/fake-haproxy.ts';

/** From 2.8, a certificate HAProxy updates itself (`ocsp-update on`) is served too. */
const withOcspUpdate = await haproxyAtLeast(2, 8);

let pki: TestPki;
let workDir: string;
const running: RunningHaproxy[] = [];

/** The served certificates by role, each a crt file (leaf, intermediate, key) in the work directory. */
type Role =
  | 'fresh'
  | 'expiring'
  | 'missing'
  | 'expired'
  | 'refused'
  | 'revoked'
  | 'noUrl'
  | 'updatedItself'
  | 'diskNewer'
  | 'diskOlder'
  | 'diskUnreadable';
const certs = {} as Record<Role, string>;

/** Serves every role; a master CLI in front of its one worker. */
let all: RunningHaproxy;
/** Serves only fresh staples. */
let healthy: RunningHaproxy;
/** Fresh and expiring staples. */
let warning: RunningHaproxy;
/** Staples signed an hour ago, whose files on disk were replaced once HAProxy had loaded them. */
let diskChanged: RunningHaproxy;

async function place(role: Role, leaf: LeafName, ocsp?: Buffer): Promise<void> {
  certs[role] = path.join(workDir, `${role}.pem`);
  await copyFile(pki.leaves[leaf].bundleWithKey, certs[role]);
  if (ocsp !== undefined) await writeFile(`${certs[role]}.ocsp`, ocsp);
}

async function haproxyServing(roles: readonly Role[], masterWorker = false): Promise<RunningHaproxy> {
  const certificates = roles.filter((role) => role !== 'updatedItself').map((role) => certs[role]);
  const updatedByHaproxy = roles.includes('updatedItself') ? [certs.updatedItself] : [];
  const haproxy = await startHaproxy({ certificates, updatedByHaproxy, masterWorker });
  running.push(haproxy);
  if (updatedByHaproxy.length > 0) await waitForOwnUpdate(haproxy);
  return haproxy;
}

/** Until HAProxy has fetched the response of the certificate it updates itself (a success in `show ssl ocsp-updates`). */
async function waitForOwnUpdate(haproxy: RunningHaproxy): Promise<void> {
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; await sleep(50)) {
    const row = (await sendCommand(parseSocketAddress(haproxy.socketPath), 'show ssl ocsp-updates')).split('\n')[1];
    if (Number(row?.split(' | ')[4]) > 0) return;
  }
  throw new Error(`HAProxy fetched no response itself within 10 s:\n${haproxy.output()}`);
}

before(async () => {
  pki = await createTestPki();
  workDir = await mkdtemp(path.join(tmpdir(), 'hapos-upd-status-'));
  await place('fresh', 'good');
  const written = await runCli(['-S', '--cert', certs.fresh], { env: pki.env });
  assert.equal(written.exitCode, 0, written.stderr);
  // Signed 6.5 days ago, valid 7: 12 hours left.
  await place('expiring', 'goodEc', await responseSignedAt(pki, 'goodEc', '-156h'));
  await place('missing', 'issuerSigned');
  // Its Next Update passed a minute ago. HAProxy still takes it at start (2.6
  // within OpenSSL's 5-minute tolerance; 3.x keeps it, warning that it will
  // not staple it): a response HAProxy holds past its Next Update.
  await place('expired', 'mustStaple', await responseSignedAt(pki, 'mustStaple', `-${7 * 86_400 + 60}`));
  // Expired 8 days ago: HAProxy refuses it at start and keeps an empty slot.
  await place('refused', 'noCerts', await responseSignedAt(pki, 'noCerts', '-8d'));
  await place('revoked', 'revoked', await responseSignedAt(pki, 'revoked', '-1h'));
  await place('noUrl', 'noUrl');
  await place('updatedItself', 'updatedByHaproxy');
  const hourOld = (leaf: LeafName) => responseSignedAt(pki, leaf, '-1h');
  await place('diskNewer', 'good', await hourOld('good'));
  await place('diskOlder', 'goodEc', await hourOld('goodEc'));
  await place('diskUnreadable', 'issuerSigned', await hourOld('issuerSigned'));
  const everyRole: Role[] = ['fresh', 'expiring', 'missing', 'expired', 'refused', 'revoked', 'noUrl'];
  const ownUpdates: Role[] = withOcspUpdate ? ['updatedItself'] : [];
  [all, healthy, warning, diskChanged] = await Promise.all([
    haproxyServing([...everyRole, ...ownUpdates], true),
    haproxyServing(['fresh', 'noUrl', ...ownUpdates]),
    haproxyServing(['fresh', 'expiring']),
    haproxyServing(['diskNewer', 'diskOlder', 'diskUnreadable']),
  ]);
  await writeFile(`${certs.diskNewer}.ocsp`, await responseSignedAt(pki, 'good', '-10m'));
  await writeFile(`${certs.diskOlder}.ocsp`, await responseSignedAt(pki, 'goodEc', '-2h'));
  await writeFile(`${certs.diskUnreadable}.ocsp`, 'not an OCSP response\n');
  await loadWithoutServing(healthy, pki.leaves.goodEc.bundleWithKey);
});

/** A certificate HAProxy holds but no `bind` line serves (`Status: Unused`), as `new ssl cert` leaves one. */
async function loadWithoutServing(haproxy: RunningHaproxy, bundle: string): Promise<void> {
  const admin = parseSocketAddress(haproxy.socketPath);
  const name = path.join(workDir, 'loaded-not-served.pem');
  const pem = (await readFile(bundle, 'utf8')).trim();
  for (const command of [`new ssl cert ${name}`, `set ssl cert ${name} <<\n${pem}\n\n`, `commit ssl cert ${name}`]) {
    await sendCommand(admin, command);
  }
  assert.match(await sendCommand(admin, `show ssl cert ${name}`), /^Status: Unused$/m);
}

after(async () => {
  await Promise.all(running.map((haproxy) => haproxy.stop()));
  await pki?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

/** Runs `hapos-upd --status ARGS` with a TMPDIR of its own, and checks that the run left nothing there. */
async function status(args: readonly string[], env: NodeJS.ProcessEnv = {}) {
  const privateTmp = await mkdtemp(path.join(workDir, 'tmp-'));
  const result = await runCli(['--status', ...args], { env: { ...pki.env, TMPDIR: privateTmp, ...env } });
  assert.deepEqual(await readdir(privateTmp), [], 'no temporary directory');
  await rm(privateTmp, { recursive: true });
  return result;
}

/** The table's rows by certificate path (its last column), each cell named after its column. */
function tableRows(stdout: string): Map<string, Record<string, string>> {
  const [header = '', ...lines] = stdout.trimEnd().split('\n');
  const titles = header.split(/\s{2,}/);
  return new Map(
    lines.slice(0, -1).map((line) => {
      const cells = line.split(/\s{2,}/);
      assert.equal(cells.length, titles.length, line);
      return [cells.at(-1)!, Object.fromEntries(titles.map((title, index) => [title, cells[index]!]))];
    }),
  );
}

const isoSeconds = (date: Date | undefined) => date?.toISOString().replace(/\.\d{3}Z$/, 'Z');

async function responseOnDisk(role: Role): Promise<BasicOcspResponse> {
  const response = parseOcspResponse(await readFile(`${certs[role]}.ocsp`));
  assert.equal(response.responseStatus, 'successful');
  return response as BasicOcspResponse;
}

describe('--status against a real HAProxy', () => {
  test('one row per served certificate: state, staple, status, dates, time left, the file on disk, ocsp-update', async () => {
    const result = await status(['--socket', all.socketPath]);
    assert.equal(result.exitCode, 7, result.stderr);
    assert.equal(result.stderr, '');
    const rows = tableRows(result.stdout);
    const served = withOcspUpdate ? 8 : 7;
    assert.equal(rows.size, served);
    assert.deepEqual(
      result.stdout
        .trimEnd()
        .split('\n')[0]!
        .split(/\s{2,}/),
      ['STATE', 'STAPLE', 'STATUS', 'THIS UPDATE', 'NEXT UPDATE', 'LEFT', 'DISK', 'OCSP-UPDATE', 'CERTIFICATE'],
    );
    const row = (role: Role) => rows.get(certs[role])!;
    const fields = (role: Role) => {
      const { STATE, STAPLE, STATUS, DISK, 'OCSP-UPDATE': ocspUpdate } = row(role);
      return [STATE, STAPLE, STATUS, DISK, ocspUpdate];
    };
    assert.deepEqual(fields('fresh'), ['fresh', 'yes', 'good', 'same', 'off']);
    assert.deepEqual(fields('expiring'), ['expiring', 'yes', 'good', 'same', 'off']);
    assert.deepEqual(fields('expired'), ['expired', 'yes', 'good', 'same', 'off']);
    assert.deepEqual(fields('revoked'), ['revoked', 'yes', 'revoked', 'same', 'off']);
    assert.deepEqual(fields('missing'), ['missing', 'no', '-', 'missing', 'off']);
    assert.deepEqual(fields('refused'), ['missing', 'no', '-', 'not-loaded', 'off']);
    assert.deepEqual(fields('noUrl'), ['no-ocsp-url', 'no', '-', 'missing', 'off']);
    if (withOcspUpdate) assert.deepEqual(fields('updatedItself'), ['fresh', 'yes', 'good', 'missing', 'on']);

    assert.match(row('fresh').LEFT!, /^6d 23h$/);
    assert.match(row('expiring').LEFT!, /^11h \d\dm$/);
    assert.match(row('expired').LEFT!, /^expired [1-9]m ago$/);
    assert.match(row('revoked').LEFT!, /^6d 22h$/);
    for (const role of ['fresh', 'expiring', 'expired', 'revoked'] as const) {
      const [single] = (await responseOnDisk(role)).responses;
      assert.equal(row(role)['THIS UPDATE'], isoSeconds(single!.thisUpdate), role);
      assert.equal(row(role)['NEXT UPDATE'], isoSeconds(single!.nextUpdate), role);
    }
    for (const role of ['missing', 'refused', 'noUrl'] as const) {
      assert.deepEqual([row(role)['THIS UPDATE'], row(role)['NEXT UPDATE'], row(role).LEFT], ['-', '-', '-'], role);
    }
    assert.equal(
      result.stdout.trimEnd().split('\n').at(-1),
      `${served} certificates: ${withOcspUpdate ? 2 : 1} fresh, 1 expiring, 1 expired, 1 revoked, 2 missing, 1 no-ocsp-url`,
    );
  });

  test('--json: one document, ISO dates and seconds left, totals by state', async () => {
    const result = await status(['--json', '--socket', all.socketPath]);
    assert.equal(result.exitCode, 7, result.stderr);
    const document = JSON.parse(result.stdout);
    assert.deepEqual(Object.keys(document), ['certificates', 'totals']);
    assert.deepEqual(document.totals, {
      fresh: withOcspUpdate ? 2 : 1,
      expiring: 1,
      expired: 1,
      revoked: 1,
      unknown: 0,
      missing: 2,
      'no-ocsp-url': 1,
      certificates: withOcspUpdate ? 8 : 7,
    });
    const entryOf = (role: Role) => document.certificates.find((entry: { cert: string }) => entry.cert === certs[role]);
    const [revoked] = (await responseOnDisk('revoked')).responses;
    const revokedEntry = entryOf('revoked');
    assert.ok(Math.abs(revokedEntry.secondsLeft - (revoked!.nextUpdate!.getTime() - Date.now()) / 1000) < 60);
    assert.deepEqual(revokedEntry, {
      socket: all.socketPath,
      cert: certs.revoked,
      state: 'revoked',
      stapled: true,
      certStatus: 'revoked',
      thisUpdate: revoked!.thisUpdate.toISOString(),
      nextUpdate: revoked!.nextUpdate!.toISOString(),
      secondsLeft: revokedEntry.secondsLeft,
      disk: 'same',
      updatesItself: false,
    });
    assert.deepEqual(entryOf('missing'), {
      socket: all.socketPath,
      cert: certs.missing,
      state: 'missing',
      stapled: false,
      certStatus: null,
      thisUpdate: null,
      nextUpdate: null,
      secondsLeft: null,
      disk: 'missing',
      updatesItself: false,
    });
    const expired = entryOf('expired');
    assert.ok(expired.secondsLeft < -60 && expired.secondsLeft > -600, String(expired.secondsLeft));
    const expiring = entryOf('expiring');
    assert.ok(expiring.secondsLeft > 11 * 3600 && expiring.secondsLeft <= 12 * 3600, String(expiring.secondsLeft));
    if (withOcspUpdate) assert.equal(entryOf('updatedItself').updatesItself, true);
  });

  test('exit codes: 0 when every served staple is fresh, 6 when one expires within --warn-hours, 7 when one fails', async () => {
    const fine = await status(['--socket', healthy.socketPath]);
    assert.equal(fine.exitCode, 0, fine.stderr);
    assert.equal(
      fine.stdout.trimEnd().split('\n').at(-1),
      withOcspUpdate ? '3 certificates: 2 fresh, 1 no-ocsp-url' : '2 certificates: 1 fresh, 1 no-ocsp-url',
    );

    const soon = await status(['--socket', warning.socketPath]);
    assert.equal(soon.exitCode, 6, soon.stderr);
    assert.equal(tableRows(soon.stdout).get(certs.expiring)?.STATE, 'expiring');
    assert.equal(
      (await status(['--warn-hours', '6', '--socket', warning.socketPath])).exitCode,
      0,
      '12 h left is fresh for 6',
    );
    assert.equal(
      (await status(['--warn-hours', '200', '--socket', healthy.socketPath])).exitCode,
      6,
      '7 days left expire within 200 h',
    );

    const quiet = await status(['--quiet', '--socket', all.socketPath]);
    assert.deepEqual([quiet.exitCode, quiet.stdout, quiet.stderr], [7, '', '']);
  });

  test('the file on disk against the staple: newer, older, unreadable', async () => {
    const result = await status(['--socket', diskChanged.socketPath]);
    assert.equal(result.exitCode, 0, result.stderr);
    const rows = tableRows(result.stdout);
    const cells = (role: Role) => [rows.get(certs[role])?.STATE, rows.get(certs[role])?.DISK];
    assert.deepEqual(cells('diskNewer'), ['fresh', 'newer']);
    assert.deepEqual(cells('diskOlder'), ['fresh', 'older']);
    assert.deepEqual(cells('diskUnreadable'), ['fresh', 'unreadable']);
  });

  test('it changes nothing: the files on disk and what HAProxy holds are the same afterwards', async () => {
    const snapshot = async () => {
      const files = (await readdir(workDir)).filter((name) => !name.startsWith('tmp-')).sort();
      const contents = await Promise.all(files.map((name) => readFile(path.join(workDir, name))));
      const admin = parseSocketAddress(all.socketPath);
      const list = await sendCommand(admin, 'show ssl ocsp-response');
      const ids = [...list.matchAll(/^Certificate ID key : (\S+)$/gm)].map((match) => match[1]!);
      const held = await Promise.all(ids.map((id) => sendCommand(admin, `show ssl ocsp-response ${id}`)));
      return { files, contents, list, held };
    };
    const before = await snapshot();
    assert.ok(before.held.length >= 4, 'HAProxy holds the responses the test compares');
    for (const args of [
      ['--socket', all.socketPath],
      ['--json', '--socket', all.masterSocket!],
    ]) {
      assert.equal((await status(args)).exitCode, 7);
    }
    assert.deepEqual(await snapshot(), before);
  });

  test('the table is plain when piped, coloured on a terminal', async () => {
    const { NO_COLOR: _, ...env } = pki.env;
    const piped = await run(process.execPath, [CLI_PATH, '--status', '--socket', warning.socketPath], { env });
    assert.equal(piped.exitCode, 6);
    assert.doesNotMatch(piped.stdout, /\x1b\[/);
    const shellQuote = (text: string) => `'${text.replace(/'/g, "'\\''")}'`;
    const command = [process.execPath, CLI_PATH, '--status', '--socket', all.socketPath].map(shellQuote).join(' ');
    const terminal = await run('script', ['--quiet', '--return', '--command', command, '/dev/null'], {
      env: { ...env, SHELL: '/bin/sh', TERM: 'xterm-256color' },
      timeoutMs: 30_000,
    });
    assert.equal(terminal.exitCode, 7);
    assert.match(terminal.stdout, /\x1b\[1mSTATE {2}/, 'a bold header');
    assert.match(terminal.stdout, /\x1b\[32mfresh\x1b\[39m {2}/, 'fresh in green');
    assert.match(terminal.stdout, /\x1b\[33mexpiring\x1b\[39m {2}/, 'expiring in yellow');
    assert.match(terminal.stdout, /\x1b\[31mrevoked\x1b\[39m {2}/, 'revoked in red');
  });

  test('a master CLI: each worker is asked, and named in --json', async () => {
    const direct = JSON.parse((await status(['--json', '--socket', all.socketPath])).stdout);
    const result = await status(['--json', '--socket', all.masterSocket!]);
    assert.equal(result.exitCode, 7, result.stderr);
    const throughMaster = JSON.parse(result.stdout);
    const [workerPid] = new Set(throughMaster.certificates.map((entry: { workerPid: number }) => entry.workerPid));
    assert.ok(Number.isInteger(workerPid) && workerPid !== all.pid, `the worker, not the master: ${workerPid}`);
    const statesOf = (document: { certificates: { cert: string; state: string; disk: string }[] }) =>
      document.certificates.map(({ cert, state, disk }) => [cert, state, disk]);
    assert.deepEqual(statesOf(throughMaster), statesOf(direct));
  });

  test('several sockets: a HAPROXY column names the socket and worker of each row', async () => {
    const result = await status([
      '--socket',
      healthy.socketPath,
      '--socket',
      all.masterSocket!,
      '--socket',
      all.socketPath,
    ]);
    assert.equal(result.exitCode, 7, result.stderr);
    const lines = result.stdout.trimEnd().split('\n');
    assert.deepEqual(lines[0]!.split(/\s{2,}/).slice(-2), ['HAPROXY', 'CERTIFICATE']);
    const where = lines.slice(1, -1).map((line) => line.split(/\s{2,}/).at(-2));
    const servedByAll = withOcspUpdate ? 8 : 7;
    assert.deepEqual(
      where.map((socket) => socket!.replace(/\(worker \d+\)/, '(worker N)')),
      [
        ...Array(withOcspUpdate ? 3 : 2).fill(healthy.socketPath),
        ...Array(servedByAll).fill(`${all.masterSocket} (worker N)`),
        ...Array(servedByAll).fill(all.socketPath),
      ],
    );
  });

  test('--socat asks through socat, with the same rows', async () => {
    const native = await status(['--socket', all.socketPath]);
    const throughSocat = await status(['--socat', '--socket', all.socketPath]);
    assert.equal(throughSocat.exitCode, 7, throughSocat.stderr);
    const withoutLeft = (stdout: string) => [...tableRows(stdout).values()].map(({ LEFT: _, ...cells }) => cells);
    assert.deepEqual(withoutLeft(throughSocat.stdout), withoutLeft(native.stdout));
  });
});

describe('--status: what it cannot do is exit 5 or 9, with one line that says why', () => {
  test('a socket that does not exist: exit 5, nothing on stdout but the --json error', async () => {
    const missing = path.join(workDir, 'no-such.sock');
    const message = `can't read the stapling status from ${missing} socket (HAProxy socket ${missing} does not exist)`;
    const result = await status(['--socket', all.socketPath, '--socket', missing]);
    assert.deepEqual([result.exitCode, result.stdout, result.stderr], [5, '', `Error: ${message}\n`]);
    const json = await status(['--json', '--socket', missing]);
    assert.equal(json.exitCode, 5);
    assert.deepEqual(JSON.parse(json.stdout), { error: { exitCode: 5, message } });
  });

  test('no --socket, or a certificate source, or --check: exit 9', async () => {
    const usage = (message: string) => `Error: ${message}\nRun hapos-upd -h for help\n`;
    const none = await status([]);
    assert.deepEqual([none.exitCode, none.stdout, none.stderr], [9, '', usage('--status needs at least one --socket')]);
    for (const [option, value] of [
      ['--cert', certs.fresh],
      ['--dir', workDir],
      ['--crt-list', 'list.txt'],
      ['--check'],
    ]) {
      const result = await status([option!, ...(value === undefined ? [] : [value]), '--socket', all.socketPath]);
      assert.deepEqual([result.exitCode, result.stderr], [9, usage(`--status cannot be combined with ${option}`)]);
    }
    const hours = await status(['--warn-hours', 'soon', '--socket', all.socketPath]);
    assert.deepEqual(
      [hours.exitCode, hours.stderr],
      [9, usage('--warn-hours wants a whole number from 0 to 8760, got: soon')],
    );
    const address = await status(['--socket', 'abns@haproxy']);
    assert.deepEqual(
      [address.exitCode, address.stderr],
      [
        9,
        usage(
          'unsupported HAProxy socket address: abns@haproxy (use a UNIX socket path, unix@PATH, ipv4@HOST:PORT, ipv6@HOST:PORT, IPv4:PORT or [IPv6]:PORT)',
        ),
      ],
    );
  });

  test('--socat without socat: exit 9, as for an update', async () => {
    const result = await status(['--socat', '--socket', all.socketPath], { SOCAT_BIN: path.join(workDir, 'no-socat') });
    assert.deepEqual(
      [result.exitCode, result.stderr],
      [9, 'Error: socat binary not found; adjust SOCAT_BIN variable in the script\nRun hapos-upd -h for help\n'],
    );
  });
});

describe('--status and replies no real HAProxy gives here (a stand-in socket)', () => {
  const certIdHex =
    '3041300906052b0e03021a050004143639044eed420c98f7f14de48a6b80ddad7324270414fa73fd24815ea69e7f345c1447bc078a5597de0e020851b722e1c85ef91d';
  const fakes: FakeHaproxy[] = [];
  after(() => Promise.all(fakes.map((fake) => fake.close())));

  /** An HAProxy serving one certificate, SITE, that answers as REPLIES say: before 2.8 unless ocsp-updates is given. */
  async function fakeServing(
    site: string,
    replies: { details?: () => FakeReply; ocspUpdates?: FakeReply; stapled: FakeReply },
  ): Promise<FakeHaproxy> {
    const details = text(`Filename: ${site}\nStatus: Used\nOCSP Response Key: ${certIdHex}\n`);
    const fake = await startFakeHaproxy((command) => {
      if (command === 'show ssl cert\n') return text(`# filename\n${site}\n`);
      if (command.startsWith('show ssl cert ')) return replies.details?.() ?? details;
      if (command.startsWith('show ssl ocsp-updates')) return replies.ocspUpdates ?? unknownCommand;
      if (command.startsWith('show ssl ocsp-response ')) return replies.stapled;
      return unknownCommand;
    });
    fakes.push(fake);
    return fake;
  }

  const site = () => path.join(workDir, 'elsewhere', 'site.pem');

  test("HAProxy 2.6's text form with status unknown: exit 7", async () => {
    const response = [
      'OCSP Response Data:',
      '    OCSP Response Status: successful (0x0)',
      '    Cert Status: unknown',
      '    This Update: Dec  3 22:38:20 2026 GMT',
      '    Next Update: Dec 10 22:38:20 2099 GMT',
      '',
    ].join('\n');
    const fake = await fakeServing(site(), { stapled: text(response) });
    const result = await status(['--socket', fake.socketPath]);
    assert.equal(result.exitCode, 7, result.stderr);
    const row = tableRows(result.stdout).get(site())!;
    assert.deepEqual(
      [row.STATE, row.STAPLE, row.STATUS, row['THIS UPDATE'], row['NEXT UPDATE'], row.DISK],
      ['unknown', 'yes', 'unknown', '2026-12-03T22:38:20Z', '2099-12-10T22:38:20Z', 'missing'],
    );
    assert.ok(fake.commands.includes(`show ssl ocsp-response ${certIdHex}`), 'the text form, not base64, before 2.8');
  });

  test('bytes that are no OCSP response: exit 5, naming the certificate', async () => {
    const fake = await fakeServing(site(), {
      ocspUpdates: text('OCSP Certid | Path | Next Update | Last Update | Successes | Failures\n'),
      stapled: text('bm90IGFuIE9DU1AgcmVzcG9uc2U=\n'),
    });
    const result = await status(['--socket', fake.socketPath]);
    assert.deepEqual(
      [result.exitCode, result.stdout, result.stderr],
      [
        5,
        '',
        `Error: can't read the stapling status from ${fake.socketPath} socket (HAProxy staples bytes for ${site()} that are no OCSP response about it)\n`,
      ],
    );
  });

  test("HAProxy's certificate lock: asked again while busy, exit 5 with HAProxy's words when it stays busy", async () => {
    const locked = text("Can't show!\nOperations on certificates are currently locked!\n");
    let refusals = 3;
    const briefly = await fakeServing(site(), {
      details: () => (refusals-- > 0 ? locked : text(`Filename: ${site()}\nOCSP Response Key: \n`)),
      stapled: text(''),
    });
    const result = await status(['--socket', briefly.socketPath]);
    assert.equal(result.exitCode, 7, result.stderr);
    assert.equal(tableRows(result.stdout).get(site())?.STATE, 'missing');
    assert.equal(briefly.commands.filter((command) => command.startsWith('show ssl cert /')).length, 4);

    const always = await fakeServing(site(), { details: () => locked, stapled: text('') });
    const stuck = await status(['--socket', always.socketPath]);
    assert.deepEqual(
      [stuck.exitCode, stuck.stderr],
      [
        5,
        `Error: can't read the stapling status from ${always.socketPath} socket (unexpected reply from HAProxy socket ${always.socketPath} to 'show ssl cert ${site()}': Can't show! Operations on certificates are currently locked!)\n`,
      ],
    );
  });
});
