import { test } from 'node:test';
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { parseCommandLine, syslogPriorityIn, type CliOptions } from '../lib/cli/args.ts';
import { DEFAULT_SOCKET } from '../lib/cli/defaults.ts';

function optionsOf(argv: string[]): CliOptions {
  const parsed = parseCommandLine(argv);
  assert.equal(parsed.kind, 'run', JSON.stringify(parsed));
  return (parsed as { options: CliOptions }).options;
}

const errorOf = (argv: string[]) => parseCommandLine(argv);

test('defaults match the original', () => {
  const options = optionsOf(['--cert', '/etc/haproxy/site.pem']);
  assert.deepEqual(options.certs, ['/etc/haproxy/site.pem']);
  assert.deepEqual(options.sockets, [DEFAULT_SOCKET]);
  assert.equal(DEFAULT_SOCKET, '/run/haproxy/admin.sock');
  assert.equal(options.debug, false);
  assert.equal(options.verify, true);
  assert.equal(options.goodOnly, false);
  assert.equal(options.skipUpdate, false);
  assert.equal(options.httpClient, undefined);
  assert.equal(options.get, false);
  assert.equal(options.partialChain, false);
  assert.equal(options.keepTemp, false);
  assert.equal(options.timeoutSeconds, 10);
  assert.equal(options.retries, 2);
  assert.equal(options.lockTimeoutSeconds, 30);
  // Three attempts of 10 s, plus 30 s for the pauses between them, verification and HAProxy.
  assert.equal(options.deadlineSeconds, 60);
  assert.equal(options.reloadCommand, 'service haproxy reload');
  assert.equal(options.useSocat, false);
  assert.deepEqual([options.dirs, options.crtLists, options.crtBase], [[], [], undefined]);
  assert.equal(options.skipFresh, false);
  assert.equal(options.nonce, false, 'no nonce, as HAProxy and the original send none');
  assert.equal(
    options.jobs,
    Math.max(8, availableParallelism()),
    "two responders' worth of requests in flight at least",
  );
  assert.deepEqual([options.json, options.quiet], [false, false]);
  assert.deepEqual([options.check, options.requireOcsp, options.strict], [false, false, false]);
  assert.equal(options.warnDays, 21);
  assert.deepEqual([options.caFile, options.junitFile, options.metricsFile], [undefined, undefined, undefined]);
  assert.equal(options.vaFile, undefined);
  assert.deepEqual([options.status, options.warnHours], [false, 24]);
});

test('every short option maps to its long one', () => {
  const options = optionsOf(['-d', '-g', '-l', 'local7.error', '-s', 'sock', '-v', '-', '-S', '-c', 'c.pem']);
  assert.equal(options.debug, true);
  assert.equal(options.goodOnly, true);
  assert.equal(options.syslogPriority, 'local7.error');
  assert.deepEqual(options.sockets, ['sock']);
  assert.equal(options.vaFile, '-');
  assert.equal(options.skipUpdate, true);
  assert.deepEqual(options.certs, ['c.pem']);
});

test('every long option is recognised', () => {
  const options = optionsOf([
    '--debug',
    '--keep-temp',
    '--good-only',
    '--syslog',
    'user.err',
    '--ocsp-url',
    'http://ocsp.example/',
    '--ocsp-host',
    'ocsp.example',
    '--ocsp-proxy',
    'http://proxy:3128',
    '--use-curl',
    '--http-client',
    'curl',
    '--get',
    '--partial-chain',
    '--socket',
    '/tmp/admin.sock',
    '--VAfile',
    'signer.pem',
    '--noverify',
    '--skip-update',
    '--cert',
    'site.pem',
    '--timeout',
    '3',
    '--retries',
    '0',
    '--lock-timeout',
    '5',
    '--deadline',
    '45',
    '--reload-cmd',
    'systemctl reload haproxy',
    '--socat',
    '--dir',
    '/etc/haproxy/certs',
    '--crt-list',
    '/etc/haproxy/crt-list.txt',
    '--crt-base',
    '/etc/ssl/private',
    '--skip-fresh',
    '--nonce',
    '--jobs',
    '8',
    '--json',
    '--quiet',
    '--check',
    '--ca-file',
    '/etc/ssl/private-root.pem',
    '--warn-days',
    '30',
    '--require-ocsp',
    '--strict',
    '--junit',
    'report.xml',
    '--warn-hours',
    '12',
    '--metrics',
    'hapos-upd.prom',
  ]);
  assert.deepEqual(options, {
    certs: ['site.pem'],
    debug: true,
    keepTemp: true,
    goodOnly: true,
    syslogPriority: 'user.err',
    ocspUrl: 'http://ocsp.example/',
    ocspHost: 'ocsp.example',
    ocspProxy: 'http://proxy:3128',
    httpClient: 'curl',
    partialChain: true,
    sockets: ['/tmp/admin.sock'],
    vaFile: 'signer.pem',
    verify: false,
    skipUpdate: true,
    timeoutSeconds: 3,
    retries: 0,
    lockTimeoutSeconds: 5,
    deadlineSeconds: 45,
    reloadCommand: 'systemctl reload haproxy',
    useSocat: true,
    dirs: ['/etc/haproxy/certs'],
    crtLists: ['/etc/haproxy/crt-list.txt'],
    crtBase: '/etc/ssl/private',
    skipFresh: true,
    nonce: true,
    get: true,
    post: false,
    jobs: 8,
    json: true,
    quiet: true,
    check: true,
    caFile: '/etc/ssl/private-root.pem',
    warnDays: 30,
    requireOcsp: true,
    strict: true,
    junitFile: 'report.xml',
    status: false,
    warnHours: 12,
    metricsFile: 'hapos-upd.prom',
  });
});

test('--status with its sockets and --warn-hours', () => {
  const options = optionsOf(['--status', '--socket', 'a.sock', '--socket', 'master.sock', '--warn-hours', '48']);
  assert.deepEqual([options.status, options.sockets, options.warnHours], [true, ['a.sock', 'master.sock'], 48]);
});

test('--socket and --cert may be repeated', () => {
  const options = optionsOf(['-s', 'a.sock', '--socket', 'b.sock', '-c', 'x.pem', '--cert', 'y.pem']);
  assert.deepEqual(options.sockets, ['a.sock', 'b.sock']);
  assert.deepEqual(options.certs, ['x.pem', 'y.pem']);
});

test('an empty --cert, --ocsp-url, --ocsp-host, --ocsp-proxy or --syslog is no value, as in the original', () => {
  const options = optionsOf(['--cert', '', '--ocsp-url', '', '--ocsp-host', '', '--ocsp-proxy', '', '--syslog', '']);
  assert.deepEqual(
    [options.certs, options.ocspUrl, options.ocspHost, options.ocspProxy, options.syslogPriority],
    [[], undefined, undefined, undefined, undefined],
  );
  assert.equal(optionsOf(['--ocsp-url', 'http://a/', '--ocsp-url', '']).ocspUrl, undefined, 'the last one counts');
});

test('syslogPriorityIn finds -l/--syslog in a command line that does not parse', () => {
  assert.equal(syslogPriorityIn(['-l', 'user.err', '--frobnicate']), 'user.err');
  assert.equal(syslogPriorityIn(['--frobnicate', '--syslog', 'local7.error']), 'local7.error');
  assert.equal(syslogPriorityIn(['--frobnicate', '-l']), undefined);
  assert.equal(syslogPriorityIn(['-l', '', '--frobnicate']), undefined);
});

test('-h before a faulty option is help, as the original reads options in order; after it, the error', () => {
  assert.deepEqual(parseCommandLine(['-d', '-h', '--frobnicate']), { kind: 'help' });
  assert.deepEqual(parseCommandLine(['--cert', 'x.pem', '--help', '--jobs']), { kind: 'help' });
  assert.deepEqual(parseCommandLine(['--frobnicate', '-h']), {
    kind: 'error',
    message: 'unknown option: --frobnicate',
  });
  assert.equal(parseCommandLine(['--cert', '-h', '--frobnicate']).kind, 'error', "-h as --cert's value is no help");
});

test('a value with spaces and quotes is kept as is', () => {
  assert.deepEqual(optionsOf(['--cert', "/tmp/my site's cert.pem"]).certs, ["/tmp/my site's cert.pem"]);
});

test('--http-client names one of three clients; --use-curl is curl; --get needs a client that can send it, and not --post', () => {
  for (const client of ['openssl', 'curl', 'builtin'] as const) {
    assert.equal(optionsOf(['--http-client', client]).httpClient, client);
  }
  assert.equal(optionsOf(['--use-curl']).httpClient, 'curl');
  assert.equal(optionsOf(['--use-curl', '--get']).httpClient, 'curl');
  assert.equal(optionsOf(['--get']).httpClient, undefined, 'the run chooses: builtin, as openssl cannot GET');
  assert.deepEqual(errorOf(['--http-client', 'wget']), {
    kind: 'error',
    message: '--http-client wants openssl, curl or builtin, got: wget',
  });
  assert.deepEqual(errorOf(['--use-curl', '--http-client', 'builtin']), {
    kind: 'error',
    message: '--use-curl cannot be combined with --http-client builtin',
  });
  assert.equal(optionsOf(['--post']).post, true);
  assert.equal(optionsOf([]).post, false);
  assert.deepEqual(errorOf(['--get', '--post']), { kind: 'error', message: '--get cannot be combined with --post' });
  assert.deepEqual(errorOf(['--get', '--http-client', 'openssl']), {
    kind: 'error',
    message: "--get cannot be combined with --http-client openssl: OpenSSL's client sends POST only",
  });
});

test('-h and --help ask for help, --version for the version', () => {
  assert.deepEqual(parseCommandLine(['-h']), { kind: 'help' });
  assert.deepEqual(parseCommandLine(['--cert', 'x', '--help']), { kind: 'help' });
  assert.deepEqual(parseCommandLine(['--version']), { kind: 'version' });
});

test('unknown options are named as typed', () => {
  assert.deepEqual(errorOf(['--foo']), { kind: 'error', message: 'unknown option: --foo' });
  assert.deepEqual(errorOf(['-x']), { kind: 'error', message: 'unknown option: -x' });
  assert.deepEqual(errorOf(['-c', 'a.pem', 'stray']), { kind: 'error', message: 'unknown option: stray' });
  assert.deepEqual(errorOf(['--no-verify']), { kind: 'error', message: 'unknown option: --no-verify' });
});

test('a missing value names the option as typed', () => {
  for (const option of [
    '--cert',
    '-c',
    '--socket',
    '-s',
    '--VAfile',
    '-v',
    '--syslog',
    '-l',
    '--ocsp-url',
    '--ocsp-host',
    '--ocsp-proxy',
  ]) {
    assert.deepEqual(errorOf([option]), {
      kind: 'error',
      message: `mandatory value is missing for ${option} argument`,
    });
  }
});

test('the default deadline follows --timeout and --retries: every attempt, plus 30 s', () => {
  assert.equal(optionsOf(['--timeout', '3', '--retries', '0', '--cert', 'x.pem']).deadlineSeconds, 33);
  assert.equal(optionsOf(['--timeout', '20', '--retries', '4', '--cert', 'x.pem']).deadlineSeconds, 130);
});

test('numeric options are bounded above: a timer of 2^31 ms fires at once, and 1e308 is no duration', () => {
  for (const value of ['2147483648', '1e308', '3601', '0x10', ' ', '']) {
    assert.deepEqual(errorOf(['--timeout', value]), {
      kind: 'error',
      message: `--timeout wants a whole number from 1 to 3600, got: ${value}`,
    });
  }
  assert.deepEqual(errorOf(['--deadline', '86401']), {
    kind: 'error',
    message: '--deadline wants a whole number from 1 to 86400, got: 86401',
  });
  assert.deepEqual(errorOf(['--retries', '11']), {
    kind: 'error',
    message: '--retries wants a whole number from 0 to 10, got: 11',
  });
  assert.deepEqual(errorOf(['--lock-timeout', '1e6']), {
    kind: 'error',
    message: '--lock-timeout wants a whole number from 0 to 86400, got: 1e6',
  });
  assert.deepEqual(errorOf(['--warn-days', '3651']), {
    kind: 'error',
    message: '--warn-days wants a whole number from 0 to 3650, got: 3651',
  });
  assert.equal(optionsOf(['--timeout', '3600', '--cert', 'x.pem']).timeoutSeconds, 3600);
});

test('numeric options want whole numbers', () => {
  assert.deepEqual(errorOf(['--timeout', 'soon']), {
    kind: 'error',
    message: '--timeout wants a whole number from 1 to 3600, got: soon',
  });
  assert.deepEqual(errorOf(['--timeout', '0']), {
    kind: 'error',
    message: '--timeout wants a whole number from 1 to 3600, got: 0',
  });
  assert.deepEqual(errorOf(['--retries', '-1']), {
    kind: 'error',
    message: '--retries wants a whole number from 0 to 10, got: -1',
  });
  assert.deepEqual(errorOf(['--lock-timeout', '1.5']), {
    kind: 'error',
    message: '--lock-timeout wants a whole number from 0 to 86400, got: 1.5',
  });
});
