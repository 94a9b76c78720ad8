// End-to-end runs of the built CLI's --check mode, as a CI pipeline uses it:
// exit codes, finding codes, the JSON and JUnit reports, and the promise that
// a check writes nothing and never talks to HAProxy.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { run } from '../lib/process/run.ts';
import { createTestPki, type LeafName, type TestPki } from './helpers/pki.ts';
import { runCli, type CliRun } from './helpers/cli.ts';

let pki: TestPki;
let workDir: string;
/** Stand-ins for the programs that reach HAProxy, first on the PATH of every check: each records its call. */
let haproxyToolsDir: string;

before(async () => {
  pki = await createTestPki();
  workDir = await mkdtemp(path.join(tmpdir(), 'hapos-upd-check-'));
  haproxyToolsDir = path.join(workDir, 'haproxy-tools');
  await mkdir(haproxyToolsDir);
  for (const tool of ['service', 'socat', 'haproxy']) {
    await writeFile(path.join(haproxyToolsDir, tool), `#!/bin/sh\necho "${tool} $*" >> "$HAPROXY_TOOL_CALLS"\n`, {
      mode: 0o755,
    });
  }
});

after(async () => {
  await pki?.close();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

let sites = 0;
/** A fresh directory, like an HAProxy `crt` directory, holding only what a test puts there. */
async function newSite(): Promise<string> {
  const site = path.join(workDir, `site-${++sites}`);
  await mkdir(site);
  return site;
}

/** Copies LEAF's crt file (leaf, intermediate, key) into SITE. */
async function bundleIn(site: string, leaf: LeafName, name = `${leaf}.pem`): Promise<string> {
  const target = path.join(site, name);
  await copyFile(pki.leaves[leaf].bundleWithKey, target);
  return target;
}

/** Writes the concatenation of FILES to SITE/NAME. */
async function concatenation(site: string, name: string, files: readonly string[]): Promise<string> {
  const target = path.join(site, name);
  await writeFile(target, Buffer.concat(await Promise.all(files.map((file) => readFile(file)))));
  return target;
}

/** Every file of DIR with its content, dot files included. */
async function snapshot(dir: string): Promise<Map<string, string>> {
  const names = (await readdir(dir)).sort();
  return new Map(
    await Promise.all(names.map(async (name) => [name, await readFile(path.join(dir, name), 'latin1')] as const)),
  );
}

interface CheckOptions {
  readonly env?: NodeJS.ProcessEnv;
  /** Directories whose files must be exactly the same after the run (default: the directory of each --cert). */
  readonly untouched?: readonly string[];
  /** The admin socket to name (default: a path that does not exist). */
  readonly socket?: string;
}

/**
 * `hapos-upd --check ARGS` with a private TMPDIR, an admin socket path that
 * does not exist, and stand-ins for service/socat/haproxy; asserts afterwards
 * that the run left no file behind, changed none, created no socket and
 * called none of the stand-ins.
 */
async function check(args: readonly string[], options: CheckOptions = {}): Promise<CliRun> {
  const certs = args.flatMap((arg, index) => (args[index - 1] === '--cert' ? [arg] : []));
  const watched = [...new Set(options.untouched ?? certs.map((cert) => path.dirname(cert)))];
  const filesBefore = await Promise.all(watched.map(snapshot));
  const privateTmp = await mkdtemp(path.join(workDir, 'tmp-'));
  const socket = options.socket ?? path.join(privateTmp, 'haproxy.sock');
  const toolCalls = `${privateTmp}-haproxy-tool-calls`;
  const env = options.env ?? pki.env;
  const result = await runCli(['--check', '--socket', socket, ...args], {
    env: { ...env, TMPDIR: privateTmp, PATH: `${haproxyToolsDir}:${env.PATH}`, HAPROXY_TOOL_CALLS: toolCalls },
  });
  assert.equal(
    existsSync(toolCalls),
    false,
    `HAProxy tools were called: ${await readFile(toolCalls, 'utf8').catch(() => '')}`,
  );
  assert.deepEqual(await readdir(privateTmp), [], 'no temporary file is left and no socket is created');
  for (const [index, dir] of watched.entries()) {
    assert.deepEqual(await snapshot(dir), filesBefore[index], `nothing written in ${dir}`);
  }
  await rm(privateTmp, { recursive: true });
  return result;
}

interface JsonFinding {
  readonly cert: string;
  readonly code: string;
  readonly severity: 'error' | 'warning';
  readonly message: string;
}

interface JsonReport {
  readonly findings: readonly JsonFinding[];
  readonly errors: number;
  readonly warnings: number;
}

/** `check` with --json: the exit code and the parsed report, whose shape is asserted on the way. */
async function checkJson(args: readonly string[], options: CheckOptions = {}) {
  const result = await check(['--json', ...args], options);
  assert.equal(result.stderr, '');
  const report = JSON.parse(result.stdout) as JsonReport;
  assert.deepEqual(Object.keys(report), ['findings', 'errors', 'warnings']);
  for (const finding of report.findings) {
    assert.deepEqual(Object.keys(finding).sort(), ['cert', 'code', 'message', 'severity']);
    assert.match(finding.code, /^[a-z]+(-[a-z]+)*$/);
    assert.ok(finding.severity === 'error' || finding.severity === 'warning', finding.severity);
    assert.equal(typeof finding.message, 'string');
    assert.equal(typeof finding.cert, 'string');
  }
  const errors = report.findings.filter((finding) => finding.severity === 'error').length;
  assert.deepEqual([report.errors, report.warnings], [errors, report.findings.length - errors]);
  return { exitCode: result.exitCode, report, codes: report.findings.map((finding) => finding.code) };
}

/** What a finding is about, in the shape tests compare. */
const summary = (finding: JsonFinding) => `${finding.severity} ${finding.code}`;

describe('a clean bundle', () => {
  test('exits 0 with a one-line OK report', async () => {
    const site = await newSite();
    const cert = await bundleIn(site, 'good');
    const result = await check(['--cert', cert]);
    assert.equal(result.exitCode, 0, result.stdout);
    assert.equal(result.stdout, `${cert}: OK\n1 certificate: 0 errors, 0 warnings\n`);
    assert.equal(result.stderr, '');
  });

  test('HAProxy is neither told nor reloaded, even when its socket answers', async () => {
    const site = await newSite();
    const cert = await bundleIn(site, 'good');
    const socket = path.join(workDir, `live-${sites}.sock`);
    let connections = 0;
    const haproxy = createServer((connection) => {
      connections++;
      connection.end('\n');
    });
    await new Promise<void>((resolve) => haproxy.listen(socket, resolve));
    try {
      const reloadMarker = path.join(workDir, `reloaded-${sites}`);
      const result = await check(['--reload-cmd', `touch ${reloadMarker}`, '--cert', cert], { socket });
      assert.equal(result.exitCode, 0, result.stdout);
      assert.equal(connections, 0);
      assert.equal(existsSync(reloadMarker), false);
    } finally {
      await new Promise((resolve) => haproxy.close(resolve));
    }
  });
});

describe('findings that need the responder or the command line', () => {
  test('chain-incomplete: a root missing from the trust store is an error (exit 1)', async () => {
    const site = await newSite();
    const cert = await bundleIn(site, 'good');
    const emptyTrust = await mkdtemp(path.join(workDir, 'no-trust-'));
    const { exitCode, report } = await checkJson(['--cert', cert], { env: { ...pki.env, SSL_CERT_DIR: emptyTrust } });
    assert.equal(exitCode, 1);
    assert.deepEqual(report.findings, [
      {
        cert,
        code: 'chain-incomplete',
        severity: 'error',
        message: 'the chain does not reach a root in the system trust store: unable to get local issuer certificate',
      },
    ]);
  });

  test('--ca-file replaces the system store in the chain check', async () => {
    const site = await newSite();
    const cert = await bundleIn(site, 'good');
    const env = { ...pki.env, SSL_CERT_DIR: await mkdtemp(path.join(workDir, 'no-trust-')) };
    // pki.env's CA directory trusts the right root: it must not count beside --ca-file.
    const wrongRoot = await checkJson(['--ca-file', pki.otherRoot, '--cert', cert], { env: pki.env });
    assert.equal(wrongRoot.exitCode, 1);
    assert.deepEqual(wrongRoot.codes, ['chain-incomplete']);
    assert.match(wrongRoot.report.findings[0]!.message, new RegExp(`reach a root in ${escape(pki.otherRoot)}: `));
    const rightRoot = await checkJson(['--ca-file', pki.root, '--cert', cert], { env });
    assert.ok(!rightRoot.codes.includes('chain-incomplete'), rightRoot.codes.join());
  });

  test('--ca-file with the right root: the whole check passes', async () => {
    const site = await newSite();
    const cert = await bundleIn(site, 'good');
    const env = { ...pki.env, SSL_CERT_DIR: await mkdtemp(path.join(workDir, 'no-trust-')) };
    const { exitCode, report } = await checkJson(['--ca-file', pki.root, '--cert', cert], { env });
    assert.deepEqual(report.findings, []);
    assert.equal(exitCode, 0);
  });

  test('--partial-chain accepts a chain ending at the bundle intermediate', async () => {
    const site = await newSite();
    const cert = await bundleIn(site, 'good');
    const env = { ...pki.env, SSL_CERT_DIR: await mkdtemp(path.join(workDir, 'no-trust-')) };
    const { exitCode, report } = await checkJson(['--partial-chain', '--cert', cert], { env });
    assert.deepEqual(report.findings, []);
    assert.equal(exitCode, 0);
  });

  test('ocsp-revoked: exit 4, in the text report too', async () => {
    const site = await newSite();
    const cert = await bundleIn(site, 'revoked');
    const result = await check(['--cert', cert]);
    assert.equal(result.exitCode, 4);
    assert.equal(
      result.stdout,
      `${cert}\n  error   ocsp-revoked: the OCSP responder says the certificate is revoked\n1 certificate: 1 error, 0 warnings\n`,
    );
    assert.equal(result.stderr, '');
  });

  test('ocsp-failed: a response signed by an unrelated key (exit 4)', async () => {
    const site = await newSite();
    const cert = await bundleIn(site, 'rogue');
    const { exitCode, report } = await checkJson(['--cert', cert]);
    assert.equal(exitCode, 4);
    assert.deepEqual(report.findings, [
      { cert, code: 'ocsp-failed', severity: 'error', message: 'OCSP response verification failure.' },
    ]);
  });

  test('ocsp-failed: an unreachable responder (exit 1)', async () => {
    const site = await newSite();
    const cert = await bundleIn(site, 'good');
    const { exitCode, report } = await checkJson([
      '--ocsp-url',
      'http://127.0.0.1:9/',
      '--timeout',
      '1',
      '--retries',
      '0',
      '--cert',
      cert,
    ]);
    assert.equal(exitCode, 1);
    assert.deepEqual(report.findings, [
      {
        cert,
        code: 'ocsp-failed',
        severity: 'error',
        message: "can't receive the OCSP server response: connection refused",
      },
    ]);
  });

  test('no-ocsp-url: a warning (exit 0); with --require-ocsp an error (exit 2)', async () => {
    const site = await newSite();
    const cert = await bundleIn(site, 'noUrl');
    const lenient = await checkJson(['--cert', cert]);
    assert.equal(lenient.exitCode, 0);
    assert.deepEqual(lenient.report.findings.map(summary), ['warning no-ocsp-url']);
    const required = await checkJson(['--require-ocsp', '--cert', cert]);
    assert.equal(required.exitCode, 2);
    assert.deepEqual(required.report.findings.map(summary), ['error no-ocsp-url']);
  });

  test('cert-expiring: a warning; --warn-days 1 silences it; --strict fails on it', async () => {
    const site = await newSite();
    const cert = await bundleIn(site, 'expiringSoon');
    const usual = await checkJson(['--cert', cert]);
    assert.equal(usual.exitCode, 0);
    assert.deepEqual(usual.report.findings.map(summary), ['warning cert-expiring']);
    assert.match(usual.report.findings[0]!.message, /, in 4 days \(warning threshold: 21\)$/);

    const shortNotice = await checkJson(['--warn-days', '1', '--cert', cert]);
    assert.equal(shortNotice.exitCode, 0);
    assert.deepEqual(shortNotice.report.findings, []);

    const strict = await checkJson(['--strict', '--cert', cert]);
    assert.equal(strict.exitCode, 1, 'the class of cert-expiring: certificate');
    assert.deepEqual(strict.codes, ['cert-expiring']);
  });

  test('must-staple: a warning (exit 0)', async () => {
    const site = await newSite();
    const cert = await bundleIn(site, 'mustStaple');
    const { exitCode, report } = await checkJson(['--cert', cert]);
    assert.equal(exitCode, 0);
    assert.deepEqual(report.findings.map(summary), ['warning must-staple']);
  });

  test('key-mismatch: the RSA leaf with the EC key (exit 1)', async () => {
    const site = await newSite();
    const leaf = pki.leaves.good;
    assert.notEqual(leaf.key, pki.leaves.goodEc.key);
    const cert = await concatenation(site, 'mismatch.pem', [leaf.cert, leaf.issuer, pki.leaves.goodEc.key]);
    const { exitCode, codes } = await checkJson(['--cert', cert]);
    assert.equal(exitCode, 1);
    assert.deepEqual(codes, ['key-mismatch']);
  });

  test('chain-order: the intermediate first is an error (exit 1)', async () => {
    const site = await newSite();
    const leaf = pki.leaves.good;
    const cert = await concatenation(site, 'reversed.pem', [leaf.issuer, leaf.cert, leaf.key]);
    const { exitCode, report } = await checkJson(['--cert', cert]);
    assert.equal(exitCode, 1);
    assert.equal(report.findings[0] && summary(report.findings[0]), 'error chain-order');
    assert.ok(!report.findings.some((finding) => finding.code.startsWith('ocsp-')), 'no query for a misordered bundle');
  });

  test('issuer-file-mismatch: a .issuer from another CA (exit 1)', async () => {
    const site = await newSite();
    const cert = await bundleIn(site, 'good');
    await copyFile(pki.otherIntermediate, `${cert}.issuer`);
    const { exitCode, report } = await checkJson(['--cert', cert]);
    assert.equal(exitCode, 1);
    assert.equal(report.findings[0] && summary(report.findings[0]), 'error issuer-file-mismatch');
    assert.match(report.findings[0]!.message, /^\S+\.issuer starts with CN=hapos-upd Other Test Intermediate CA, /);
  });

  test('ocsp-file-mismatch: an .ocsp for another certificate (exit 4), left as it is', async () => {
    const donorSite = await newSite();
    const donor = await bundleIn(donorSite, 'goodEc');
    const update = await runCli(['-S', '--socket', path.join(donorSite, 'haproxy.sock'), '--cert', donor], {
      env: { ...pki.env, PATH: `${haproxyToolsDir}:${pki.env.PATH}`, HAPROXY_TOOL_CALLS: '/dev/null' },
    });
    assert.equal(update.exitCode, 0, update.stderr);

    const site = await newSite();
    const cert = await bundleIn(site, 'good');
    await copyFile(`${donor}.ocsp`, `${cert}.ocsp`);
    const { exitCode, report } = await checkJson(['--cert', cert]);
    assert.equal(exitCode, 4);
    assert.equal(report.findings[0] && summary(report.findings[0]), 'error ocsp-file-mismatch');
    assert.match(
      report.findings[0]!.message,
      /HAProxy ignores it \("OCSP single response: Certificate ID does not match/,
    );
  });

  test('cert-expired: an expired leaf (exit 1)', async () => {
    const site = await newSite();
    const cert = await bundleIn(site, 'expired');
    const { exitCode, report } = await checkJson(['--cert', cert]);
    assert.equal(exitCode, 1);
    assert.equal(report.findings[0] && summary(report.findings[0]), 'error cert-expired');
    assert.match(report.findings[0]!.message, /^certificate 1 \(CN=expired\.hapos-upd\.test\) expired at \d{4}-/);
  });
});

describe('reports for pipelines', () => {
  test('--json: one document with every finding and the counts', async () => {
    const site = await newSite();
    const leaf = pki.leaves.good;
    const certs = [
      await bundleIn(site, 'good'),
      await concatenation(site, 'reversed.pem', [leaf.issuer, leaf.cert, leaf.key]),
      await bundleIn(site, 'noUrl'),
      await bundleIn(site, 'expiringSoon'),
    ];
    // checkJson asserts the document's shape and counts.
    const { exitCode, report } = await checkJson(certs.flatMap((cert) => ['--cert', cert]));
    assert.equal(exitCode, 1);
    assert.deepEqual(
      report.findings.map((finding) => `${path.basename(finding.cert)} ${summary(finding)}`),
      [
        'reversed.pem error chain-order',
        'reversed.pem error key-mismatch',
        'noUrl.pem warning no-ocsp-url',
        'expiringSoon.pem warning cert-expiring',
      ],
    );
    assert.deepEqual([report.errors, report.warnings], [2, 2]);
  });

  test('--junit over a --dir: well-formed XML, a test case per certificate, a failure per error', async (t) => {
    if ((await run('python3', ['--version'])).exitCode !== 0) return t.skip('python3 is needed to parse the XML');
    const site = await newSite();
    const leaf = pki.leaves.good;
    // XML's special characters in a file name must not break the document.
    const clean = await bundleIn(site, 'good', `R&D <"lab"> it's.pem`);
    const reversed = await concatenation(site, 'reversed.pem', [leaf.issuer, leaf.cert, leaf.key]);
    const revoked = await bundleIn(site, 'revoked');
    const noUrl = await bundleIn(site, 'noUrl');
    const junit = path.join(workDir, `junit-${sites}.xml`);
    const result = await check(['--junit', junit, '--dir', site], { untouched: [site] });
    assert.equal(result.exitCode, 1, result.stdout);

    const parsed = await run('python3', ['-c', JUNIT_SUMMARY, junit]);
    assert.equal(parsed.exitCode, 0, parsed.stderr);
    const suite = JSON.parse(parsed.stdout) as JunitSummary;
    assert.deepEqual(suite.attributes, { name: 'hapos-upd --check', tests: '4', failures: '2', errors: '0' });
    const byName = new Map(suite.testcases.map((testcase) => [testcase.name, testcase]));
    assert.deepEqual([suite.testcases.length, byName.size], [4, 4]);
    assert.deepEqual(byName.get(clean), { name: clean, failures: [], systemOut: '' });
    assert.deepEqual(byName.get(reversed)?.failures, ['chain-order', 'key-mismatch']);
    assert.deepEqual(byName.get(revoked)?.failures, ['ocsp-revoked']);
    assert.deepEqual(byName.get(noUrl)?.failures, []);
    assert.match(byName.get(noUrl)!.systemOut, /^warning no-ocsp-url: /);
  });
});

describe('--junit to what is not a regular file', () => {
  test('a FIFO or a directory: exit 9 at once, never waiting for a reader', async () => {
    const site = await newSite();
    const cert = await bundleIn(site, 'good');
    const fifo = path.join(workDir, `junit-fifo-${sites}`);
    assert.equal((await run('mkfifo', [fifo])).exitCode, 0);
    const directory = await mkdtemp(path.join(workDir, 'junit-dir-'));
    for (const [target, what] of [
      [fifo, 'FIFO'],
      [directory, 'directory'],
    ] as const) {
      const started = Date.now();
      const result = await check(['--junit', target, '--cert', cert]);
      assert.equal(
        result.stderr,
        `Error: can't write the JUnit report ${target} (it is a ${what}, not a regular file)\nRun hapos-upd -h for help\n`,
      );
      assert.equal(result.exitCode, 9);
      assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
    }
  });
});

describe('several bundles', () => {
  test('the exit code is the class of the first error in input order', async () => {
    const site = await newSite();
    const revoked = await bundleIn(site, 'revoked');
    const noUrl = await bundleIn(site, 'noUrl');
    const [revokedFirst, noUrlFirst] = await Promise.all([
      checkJson(['--require-ocsp', '--cert', revoked, '--cert', noUrl]),
      checkJson(['--require-ocsp', '--cert', noUrl, '--cert', revoked]),
    ]);
    assert.deepEqual([revokedFirst.exitCode, revokedFirst.codes], [4, ['ocsp-revoked', 'no-ocsp-url']]);
    assert.deepEqual([noUrlFirst.exitCode, noUrlFirst.codes], [2, ['no-ocsp-url', 'ocsp-revoked']]);
  });

  test('--jobs 1 and --jobs 4 give the same report', async () => {
    const site = await newSite();
    const certs = await Promise.all(
      (['revoked', 'good', 'noUrl', 'expiringSoon', 'mustStaple', 'rogue'] as const).map((leaf) =>
        bundleIn(site, leaf),
      ),
    );
    const args = certs.flatMap((cert) => ['--cert', cert]);
    const serial = await check(['--jobs', '1', ...args]);
    const parallel = await check(['--jobs', '4', ...args]);
    assert.equal(serial.exitCode, 4);
    assert.deepEqual(parallel, serial);
    assert.match(serial.stdout, /^6 certificates: 2 errors, 3 warnings\n$/m);
  });
});

interface JunitSummary {
  readonly attributes: Record<string, string>;
  readonly testcases: readonly { name: string; failures: string[]; systemOut: string }[];
}

/** Parses a JUnit file with expat (strict: any malformation fails) and prints what the test compares, as JSON. */
const JUNIT_SUMMARY = `
import json, sys
from xml.dom import minidom
document = minidom.parse(sys.argv[1])
suite = document.documentElement
assert suite.tagName == 'testsuite', suite.tagName
text = lambda node: ''.join(child.data for child in node.childNodes if child.nodeType == child.TEXT_NODE)
cases = [
    {
        'name': case.getAttribute('name'),
        'failures': [failure.getAttribute('type') for failure in case.getElementsByTagName('failure')],
        'systemOut': ''.join(text(out) for out in case.getElementsByTagName('system-out')),
    }
    for case in suite.getElementsByTagName('testcase')
]
print(json.dumps({'attributes': dict(suite.attributes.items()), 'testcases': cases}))
`;

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
