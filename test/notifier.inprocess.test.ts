/**
 * The HAProxy notifier (lib/haproxy/notifier.ts) run in this process. The
 * one fake is HAProxy itself: the fake admin socket of
 * test/helpers/fake-haproxy.ts, listening on a UNIX socket in a temporary
 * directory (or on 127.0.0.1), answering as HAProxy 2.6 or 3.x does. The client,
 * the commands, the reply parsing and the reload (`sh -c`, here a command
 * that appends to a marker file) are the real ones. Each test asserts every
 * command HAProxy received, whole and in order, the debug lines, and how the
 * update ended. The deadline and `--socat` cases are in haproxy-client.test.ts;
 * the real HAProxy's replies in haproxy-client.test.ts and cli-haproxy.test.ts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { haproxyNotifier, type HaproxyUpdate } from '../lib/haproxy/notifier.ts';
import { HaproxyUpdateError } from '../lib/haproxy/errors.ts';
import { startFakeHaproxy, text, unknownCommand, type FakeHaproxy, type FakeReply } from './helpers/fake-haproxy.ts';
import { RecordingLog } from './helpers/in-process.ts';

let dir: string;
const fakes: FakeHaproxy[] = [];

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'hapos-notifier-'));
});

after(async () => {
  await Promise.all(fakes.map((fake) => fake.close()));
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Every test talks to sockets that answer at once: a hang fails it instead of waiting for a client timeout. */
const bounded = { timeout: 2_000 };

/** A certificate HAProxy serves, and the update the notifier gets for it. */
interface Site {
  /** The crt path, as the update names it and `show ssl cert` lists it. */
  readonly name: string;
  readonly base64: string;
  readonly update: HaproxyUpdate;
}

const issuerPem = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';

/** A CertID as HAProxy 2.6.12 lists it (SHA-1 issuer name and key hashes, then the serial), for SERIAL. */
const certIdOf = (serial: string) =>
  `304d300906052b0e03021a05000414d08ce9dae861987de0483e887955106165f6f7d404148e8198c84f844507f092eb340cc89af394dc797f0214${serial.padStart(40, '0')}`;

/**
 * The notifier never looks inside the response: any bytes stand for one,
 * and a response HAProxy staples is newer when its bytes start with `Newer`.
 */
function site(file: string, serial: string): Site {
  const name = path.join(dir, file);
  const responseDer = Buffer.from(`OCSP response for ${file}`);
  return {
    name,
    base64: responseDer.toString('base64'),
    update: {
      cert: name,
      responseDer,
      certIdHex: certIdOf(serial),
      issuerPem,
      sha1Fingerprint: serial.padStart(40, 'AB'),
      isOlderThan: (stapled) => stapled.toString().startsWith('Newer'),
    },
  };
}

// HAProxy 2.6's replies.
const updated = text('OCSP Response updated!\n');
const mismatch = text('OCSP single response: Certificate ID does not match any certificate or issuer.\n');
const listing = (...ids: string[]) =>
  text(
    `# Certificate IDs\n${ids.map((id) => `Certificate ID key : ${id}\n Certificate ID:\n   Serial Number: ${id.slice(-40).toUpperCase()}\n\n`).join('')}`,
  );
const certificateList = (names: readonly string[], inTransaction: readonly string[] = []) =>
  text(
    `${inTransaction.length > 0 ? `# transaction\n${inTransaction.map((name) => `*${name}\n`).join('')}` : ''}# filename\n${names.map((name) => `${name}\n`).join('')}\n`,
  );
const certificateDetails = (of: Site) =>
  text(`Filename: ${of.name}\nStatus: Used\nSHA1 FingerPrint: ${of.update.sha1Fingerprint}\n`);
/** `show proc` on a master CLI during a reload: the old worker is not one to update. */
const showProc = (...workers: number[]) =>
  text(
    [
      '#<PID>          <type>          <reloads>       <uptime>        <version>      ',
      '4100            master          1 [failed: 0]   0d00h00m02s     2.6.12-1+deb12u4',
      '# workers',
      ...workers.map((pid) => `${pid}            worker          0               0d00h00m01s     2.6.12-1+deb12u4`),
      '# old workers',
      '3999            worker          1               0d00h00m02s     2.6.12-1+deb12u4',
      '# programs',
      '',
      '',
    ].join('\n'),
  );

/** A reply, or how to reply given the worker a master CLI routed the command to (`@!PID`). */
type Reply = FakeReply | ((workerPid: number | undefined) => FakeReply);

/**
 * A fake admin socket that answers each command by the longest prefix of it
 * the script names (after any `@!PID ` routing), and anything else as
 * HAProxy answers a command it does not know (a worker asked `show proc`,
 * say). `received` keeps every command whole, as written: routing and
 * payload included.
 */
async function haproxy(script: Record<string, Reply>) {
  const received: string[] = [];
  const server = await startFakeHaproxy(
    (command) => {
      received.push(command);
      const routing = /^@!(\d+) /.exec(command);
      const bare = routing ? command.slice(routing[0].length) : command;
      const prefix = Object.keys(script)
        .filter((scripted) => bare.startsWith(scripted))
        .sort((a, b) => b.length - a.length)[0];
      const reply = prefix === undefined ? unknownCommand : script[prefix];
      if (typeof reply === 'function') return reply(routing ? Number(routing[1]) : undefined);
      return reply ?? unknownCommand;
    },
    { connectionLifetimeMs: bounded.timeout },
  );
  fakes.push(server);
  return { socketPath: server.socketPath, tcpAddress: server.tcpAddress, received };
}

/**
 * HAProxy 2.6 serving SITES, none of which had a `.ocsp` file at start: it
 * takes their first response only through a `set ssl cert` transaction, one
 * transaction open at a time, and lists a certificate's ID once committed.
 */
function firstStapleScript(...sites: Site[]): Record<string, Reply> {
  const listed: string[] = [];
  let open: Site | undefined;
  const script: Record<string, Reply> = {
    'set ssl ocsp-response': mismatch,
    'show ssl cert': () =>
      certificateList(
        sites.map((each) => each.name),
        open ? [open.name] : [],
      ),
    'show ssl ocsp-response': () => listing(...listed),
  };
  for (const each of sites) {
    script[`show ssl cert ${each.name}`] = certificateDetails(each);
    script[`set ssl cert ${each.name}.ocsp`] = () => {
      if (open !== undefined && open !== each)
        return text(`The ongoing transaction is about '${open.name}' but you are trying to set '${each.name}'\n`);
      open = each;
      return text(`Transaction created for certificate ${each.name}!\n`);
    };
    script[`set ssl cert ${each.name}.issuer`] = () =>
      open === each ? text(`Transaction updated for certificate ${each.name}!\n`) : text('No ongoing transaction!\n');
    script[`commit ssl cert ${each.name}`] = () => {
      if (open !== each) return text('No ongoing transaction!\n');
      open = undefined;
      listed.push(each.update.certIdHex);
      return text(`Committing ${each.name}.\nSuccess!\n`);
    };
  }
  return script;
}

/** What an update of a certificate HAProxy holds a response for sends, after `show proc`. */
const plainUpdate = (of: Site) => [`set ssl ocsp-response ${of.base64}\n`, 'show ssl ocsp-response\n'];

/** What a first staple through a transaction sends, after `set ssl ocsp-response` was refused. */
const transactionCommands = (of: Site) => [
  'show ssl cert\n',
  `show ssl cert ${of.name}\n`,
  'show ssl cert\n',
  `set ssl cert ${of.name}.ocsp <<\n${of.base64}\n\n`,
  `set ssl cert ${of.name}.issuer <<\n${issuerPem}\n`,
  `commit ssl cert ${of.name}\n`,
];

/**
 * A notifier for SOCKETS that logs to a RecordingLog and reloads with a
 * command that appends a line to a marker file, then runs EXTRA.
 */
async function notifierFor(sockets: string[], extra = '') {
  const marker = path.join(await mkdtemp(path.join(dir, 'reload-')), 'reloaded');
  const reloadCommand = `echo reloaded >> '${marker}'${extra}`;
  const log = new RecordingLog();
  return {
    notifier: haproxyNotifier({ sockets, useSocat: false, reloadCommand }, log),
    log,
    reloadCommand,
    reloads: async () => (await readFile(marker, 'utf8').catch(() => '')).split('\n').filter(Boolean).length,
  };
}

async function rejectsWithUpdateError(promise: Promise<unknown>, message: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof HaproxyUpdateError, String(error));
    assert.equal(error.name, 'HaproxyUpdateError');
    assert.equal(error.message, message);
    return true;
  });
}

const updating = 'debug: Updating haproxy.';
const staples = (where: string) => `debug: HAProxy at ${where} staples the new response.`;
const stapling = (where: string, of: Site) =>
  `debug: HAProxy at ${where} holds no response for ${of.name} yet: stapling it with 'set ssl cert ${of.name}.ocsp' and 'commit ssl cert ${of.name}'.`;
const notListed = (where: string, of: Site) =>
  `debug: HAProxy at ${where} does not list ${of.name}: a reload will load it.`;

test(
  'a plain update: set ssl ocsp-response, then show ssl ocsp-response must list the certificate ID',
  bounded,
  async () => {
    const a = site('a.pem', '1001');
    const socket = await haproxy({
      'set ssl ocsp-response': updated,
      'show ssl ocsp-response': listing(certIdOf('7777'), a.update.certIdHex),
    });
    const { notifier, log, reloads } = await notifierFor([socket.socketPath]);

    assert.deepEqual(await notifier.notify(a.update), [
      { socket: socket.socketPath, action: 'pushed', updatesItself: false },
    ]);

    assert.deepEqual(socket.received, ['show proc\n', 'show ssl ocsp-updates\n', ...plainUpdate(a)]);
    assert.deepEqual(log.lines, [updating, staples(socket.socketPath)]);
    assert.equal(await reloads(), 0);
  },
);

test(
  'HAProxy accepts the response but does not list its certificate ID afterwards: HaproxyUpdateError',
  bounded,
  async () => {
    const a = site('a.pem', '1001');
    const socket = await haproxy({
      'set ssl ocsp-response': updated,
      'show ssl ocsp-response': listing(certIdOf('7777')),
    });
    const { notifier, log, reloads } = await notifierFor([socket.socketPath]);

    await rejectsWithUpdateError(
      notifier.notify(a.update),
      `can't update haproxy ssl ocsp-response using ${socket.socketPath} socket (HAProxy at ${socket.socketPath} accepted the OCSP response but does not list its certificate ID afterwards (show ssl ocsp-response))`,
    );
    assert.deepEqual(socket.received, ['show proc\n', 'show ssl ocsp-updates\n', ...plainUpdate(a)]);
    assert.deepEqual(log.lines, [updating]);
    assert.equal(await reloads(), 0);
  },
);

test(
  'a master CLI: every current worker gets the response with @!PID; show proc is asked once per socket',
  bounded,
  async () => {
    const a = site('a.pem', '1001');
    const b = site('b.pem', '2002');
    // The master itself knows no certificate command: only routed ones succeed.
    const onWorkers = (reply: FakeReply) => (workerPid: number | undefined) =>
      workerPid === undefined ? unknownCommand : reply;
    const socket = await haproxy({
      'show proc': showProc(4101, 4102),
      'set ssl ocsp-response': onWorkers(updated),
      'show ssl ocsp-response': onWorkers(listing(a.update.certIdHex, b.update.certIdHex)),
    });
    const { notifier, log, reloads } = await notifierFor([socket.socketPath]);

    const pushed = [4101, 4102].map((workerPid) => ({
      socket: socket.socketPath,
      workerPid,
      action: 'pushed',
      updatesItself: false,
    }));
    assert.deepEqual(await notifier.notify(a.update), pushed);
    assert.deepEqual(await notifier.notify(b.update), pushed);

    assert.deepEqual(socket.received, [
      'show proc\n',
      ...[a, b].flatMap((each) =>
        [4101, 4102].flatMap((pid) =>
          [...(each === a ? ['show ssl ocsp-updates\n'] : []), ...plainUpdate(each)].map(
            (command) => `@!${pid} ${command}`,
          ),
        ),
      ),
    ]);
    const byWorker = (pid: number) => staples(`${socket.socketPath} (worker ${pid})`);
    assert.deepEqual(log.lines, [updating, byWorker(4101), byWorker(4102), updating, byWorker(4101), byWorker(4102)]);
    assert.equal(await reloads(), 0);
  },
);

test(
  'HAProxy 2.6 holds no response for the certificate yet: it is stapled through a transaction, no reload',
  bounded,
  async () => {
    const a = site('a.pem', '1001');
    const socket = await haproxy(firstStapleScript(a));
    const { notifier, log, reloads } = await notifierFor([socket.socketPath]);

    assert.deepEqual(await notifier.notify(a.update), [
      { socket: socket.socketPath, action: 'transaction', updatesItself: false },
    ]);

    assert.deepEqual(socket.received, [
      'show proc\n',
      'show ssl ocsp-updates\n',
      `set ssl ocsp-response ${a.base64}\n`,
      ...transactionCommands(a),
      'show ssl ocsp-response\n',
    ]);
    assert.deepEqual(log.lines, [updating, stapling(socket.socketPath, a), staples(socket.socketPath)]);
    assert.equal(await reloads(), 0);
  },
);

test(
  'HAProxy does not list the certificates (show ssl cert): the reload command runs once, after both, and the updates succeed',
  bounded,
  async () => {
    const a = site('a.pem', '1001');
    const b = site('b.pem', '2002');
    const other = path.join(dir, 'other.pem');
    const socket = await haproxy({
      'set ssl ocsp-response': mismatch,
      'show ssl cert': certificateList([other]),
    });
    const { notifier, log, reloads } = await notifierFor([socket.socketPath]);

    assert.equal(await notifier.reloadIfNeeded(), false, 'nothing needs a reload yet');
    for (const each of [a, b]) {
      assert.deepEqual(await notifier.notify(each.update), [
        { socket: socket.socketPath, action: 'reload', updatesItself: false },
      ]);
    }
    assert.equal(await reloads(), 0, 'not while updating');
    assert.equal(await notifier.reloadIfNeeded(), true);
    assert.equal(await notifier.reloadIfNeeded(), false, 'once');

    assert.deepEqual(socket.received, [
      'show proc\n',
      'show ssl ocsp-updates\n',
      ...[a, b].flatMap((each) => [`set ssl ocsp-response ${each.base64}\n`, 'show ssl cert\n']),
    ]);
    assert.deepEqual(log.lines, [
      updating,
      notListed(socket.socketPath, a),
      updating,
      notListed(socket.socketPath, b),
      'debug: Reloading haproxy.',
    ]);
    assert.equal(await reloads(), 1);
  },
);

test(
  "HAProxy before 2.2 does not know 'set ssl cert': the transaction is aborted and the reload command runs",
  bounded,
  async () => {
    const a = site('a.pem', '1001');
    const socket = await haproxy({
      'set ssl ocsp-response': mismatch,
      'show ssl cert': certificateList([a.name]),
      [`show ssl cert ${a.name}`]: certificateDetails(a),
    });
    const { notifier, log, reloads } = await notifierFor([socket.socketPath]);

    await notifier.notify(a.update);
    assert.equal(await notifier.reloadIfNeeded(), true);

    assert.deepEqual(socket.received, [
      'show proc\n',
      'show ssl ocsp-updates\n',
      `set ssl ocsp-response ${a.base64}\n`,
      ...transactionCommands(a).slice(0, 4),
      `abort ssl cert ${a.name}\n`,
    ]);
    assert.deepEqual(log.lines, [
      updating,
      stapling(socket.socketPath, a),
      `debug: HAProxy at ${socket.socketPath} has no 'set ssl cert' (before 2.2): a reload will load the response.`,
      'debug: Reloading haproxy.',
    ]);
    assert.equal(await reloads(), 1);
  },
);

test('a reload command that fails: HaproxyUpdateError quoting it', bounded, async () => {
  const a = site('a.pem', '1001');
  const socket = await haproxy({
    'set ssl ocsp-response': mismatch,
    'show ssl cert': certificateList([]),
  });
  const { notifier, log, reloadCommand, reloads } = await notifierFor([socket.socketPath], '; exit 3');

  await notifier.notify(a.update);
  await rejectsWithUpdateError(notifier.reloadIfNeeded(), `can't reload haproxy with '${reloadCommand}'`);
  assert.deepEqual(socket.received, [
    'show proc\n',
    'show ssl ocsp-updates\n',
    `set ssl ocsp-response ${a.base64}\n`,
    'show ssl cert\n',
  ]);
  assert.deepEqual(log.lines, [updating, notListed(socket.socketPath, a), 'debug: Reloading haproxy.']);
  assert.equal(await reloads(), 1);
});

test("sockets that fail do not stop the others: each failure is named, joined by '; '", bounded, async () => {
  const a = site('a.pem', '1001');
  const missing = path.join(dir, 'missing.sock');
  const good = await haproxy({
    'set ssl ocsp-response': updated,
    'show ssl ocsp-response': listing(a.update.certIdHex),
  });
  const rejecting = await haproxy({ 'set ssl ocsp-response': text('Unable to parse OCSP response.\n') });
  const { notifier, log, reloads } = await notifierFor([missing, good.socketPath, `ipv4@${rejecting.tcpAddress}`]);

  await rejectsWithUpdateError(
    notifier.notify(a.update),
    [
      `can't update haproxy ssl ocsp-response using ${missing} socket (HAProxy socket ${missing} does not exist)`,
      `can't update haproxy ssl ocsp-response using ipv4@${rejecting.tcpAddress} socket (HAProxy socket ${rejecting.tcpAddress} rejected the OCSP response: Unable to parse OCSP response.)`,
    ].join('; '),
  );
  assert.deepEqual(good.received, ['show proc\n', 'show ssl ocsp-updates\n', ...plainUpdate(a)]);
  assert.deepEqual(rejecting.received, [
    'show proc\n',
    'show ssl ocsp-updates\n',
    `set ssl ocsp-response ${a.base64}\n`,
  ]);
  assert.deepEqual(log.lines, [updating, staples(good.socketPath)]);
  assert.equal(await reloads(), 0);
});

test(
  "concurrent updates are serialised: a second update's commands never enter the first one's transaction",
  bounded,
  async () => {
    const a = site('a.pem', '1001');
    const b = site('b.pem', '2002');
    const socket = await haproxy(firstStapleScript(a, b));
    const { notifier, log, reloads } = await notifierFor([socket.socketPath]);

    await Promise.all([notifier.notify(a.update), notifier.notify(b.update)]);

    assert.deepEqual(socket.received, [
      'show proc\n',
      'show ssl ocsp-updates\n',
      ...[a, b].flatMap((each) => [
        `set ssl ocsp-response ${each.base64}\n`,
        ...transactionCommands(each),
        'show ssl ocsp-response\n',
      ]),
    ]);
    assert.deepEqual(
      log.lines,
      [a, b].flatMap((each) => [updating, stapling(socket.socketPath, each), staples(socket.socketPath)]),
    );
    assert.equal(await reloads(), 0);
  },
);

/**
 * HAProxy 3.x serving OF: `show ssl ocsp-updates` lists the certificates it
 * updates itself, and `show ssl ocsp-response base64 ID` shows the bytes it
 * staples: STAPLED before a push, then what `set ssl ocsp-response` left
 * (the bytes sent, unless AFTER_PUSH says otherwise).
 */
function haproxy3Script(
  of: Site,
  settings: { readonly updatesItself?: boolean; readonly stapled?: Buffer; readonly afterPush?: Buffer },
): Record<string, Reply> {
  let stapled = settings.stapled;
  const updatesHeader =
    'OCSP Certid | Path | Next Update | Last Update | Successes | Failures | Last Update Status | Last Update Status (str)\n';
  return {
    'show ssl ocsp-updates': text(
      `${updatesHeader}${settings.updatesItself ? `${of.update.certIdHex} | ${of.name} | 03/Dec/2026:23:00:00 +0000 | 03/Dec/2026:22:00:00 +0000 | 1 | 0 | 1 | Update successful\n` : ''}`,
    ),
    [`show ssl ocsp-response base64 ${of.update.certIdHex}`]: () =>
      text(
        stapled === undefined
          ? 'Certificate ID or path does not match any certificate.\n'
          : `${stapled.toString('base64')}\n`,
      ),
    'set ssl ocsp-response': () => {
      stapled = settings.afterPush ?? of.update.responseDer;
      return updated;
    },
  };
}

const showStapled = (of: Site) => `show ssl ocsp-response base64 ${of.update.certIdHex}\n`;

test(
  'HAProxy 3.x: the bytes it staples before and after the push are read back; the sent ones must be there',
  bounded,
  async () => {
    const a = site('a.pem', '1001');
    const socket = await haproxy(haproxy3Script(a, { stapled: Buffer.from('Older response') }));
    const { notifier, log } = await notifierFor([socket.socketPath]);

    assert.deepEqual(await notifier.notify(a.update), [
      { socket: socket.socketPath, action: 'pushed', updatesItself: false },
    ]);
    assert.deepEqual(socket.received, [
      'show proc\n',
      'show ssl ocsp-updates\n',
      showStapled(a),
      `set ssl ocsp-response ${a.base64}\n`,
      showStapled(a),
    ]);
    assert.deepEqual(log.lines, [updating, staples(socket.socketPath)]);
  },
);

test(
  'HAProxy 3.x updates the certificate itself (ocsp-update on): the response is still pushed, and the report says so',
  bounded,
  async () => {
    const a = site('a.pem', '1001');
    const socket = await haproxy(haproxy3Script(a, { updatesItself: true, stapled: Buffer.from('Older response') }));
    const { notifier, log } = await notifierFor([socket.socketPath]);

    assert.deepEqual(await notifier.notify(a.update), [
      { socket: socket.socketPath, action: 'pushed', updatesItself: true },
    ]);
    assert.deepEqual(log.lines, [
      updating,
      `debug: HAProxy at ${socket.socketPath} updates the response for ${a.name} itself (ocsp-update on): it will replace this one at its next update.`,
      staples(socket.socketPath),
    ]);
  },
);

test('HAProxy 3.x staples a newer response than the one received: nothing is pushed', bounded, async () => {
  const a = site('a.pem', '1001');
  const socket = await haproxy(haproxy3Script(a, { updatesItself: true, stapled: Buffer.from('Newer response') }));
  const { notifier, log } = await notifierFor([socket.socketPath]);

  assert.deepEqual(await notifier.notify(a.update), [
    { socket: socket.socketPath, action: 'holds-newer', updatesItself: true },
  ]);
  assert.deepEqual(socket.received, ['show proc\n', 'show ssl ocsp-updates\n', showStapled(a)]);
  assert.equal(
    log.lines.at(-1),
    `debug: HAProxy at ${socket.socketPath} staples a newer response for ${a.name}: not replaced.`,
  );
});

test('HAProxy 3.x already staples the very bytes received: nothing is pushed', bounded, async () => {
  const a = site('a.pem', '1001');
  const socket = await haproxy(haproxy3Script(a, { stapled: a.update.responseDer }));
  const { notifier, log } = await notifierFor([socket.socketPath]);

  assert.deepEqual(await notifier.notify(a.update), [
    { socket: socket.socketPath, action: 'holds-same', updatesItself: false },
  ]);
  assert.deepEqual(socket.received, ['show proc\n', 'show ssl ocsp-updates\n', showStapled(a)]);
  assert.deepEqual(log.lines, [updating, `debug: HAProxy at ${socket.socketPath} already staples this response.`]);
});

test('HAProxy 3.x says it took the response but staples other bytes: HaproxyUpdateError', bounded, async () => {
  const a = site('a.pem', '1001');
  const socket = await haproxy(haproxy3Script(a, { afterPush: Buffer.from('Something else') }));
  const { notifier } = await notifierFor([socket.socketPath]);

  await rejectsWithUpdateError(
    notifier.notify(a.update),
    `can't update haproxy ssl ocsp-response using ${socket.socketPath} socket (HAProxy at ${socket.socketPath} accepted the OCSP response but staples 14 other bytes instead of its ${a.update.responseDer.length} afterwards (show ssl ocsp-response base64))`,
  );
});

test(
  'HAProxy 3.x fetched a newer response itself between the push and the check: it keeps stapling that one',
  bounded,
  async () => {
    const a = site('a.pem', '1001');
    const socket = await haproxy(haproxy3Script(a, { updatesItself: true, afterPush: Buffer.from('Newer, fetched') }));
    const { notifier, log } = await notifierFor([socket.socketPath]);

    assert.deepEqual(await notifier.notify(a.update), [
      { socket: socket.socketPath, action: 'holds-newer', updatesItself: true },
    ]);
    assert.equal(
      log.lines.at(-1),
      `debug: HAProxy at ${socket.socketPath} fetched a newer response for ${a.name} itself meanwhile: it staples that one.`,
    );
  },
);
