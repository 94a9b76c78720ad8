// The version matrix: the tests whose outcome depends on the HAProxy or the
// OpenSSL they meet, run once against each version, the system's included so
// that every row of a component counts the same tests. Each entry's counts,
// failures, time and exact version are collected; the run ends with a summary,
// rewrites README.md's "Tested with" table between its markers, and exits 1
// if any entry failed. The builds come from scripts/fetch-matrix.sh.
//
// Usage: node --import tsx scripts/test-matrix.ts NODE_TEST_COMMAND...
// (`make test-matrix` passes the Makefile's NODE_TEST, so each entry runs as
// `make test` would.)
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const matrixDir = path.resolve(process.env.MATRIX_DIR ?? '.matrix');
const readmePath = path.join(repoRoot, 'README.md');
const BEGIN_MARKER = '<!-- tested-with:begin -->';
const END_MARKER = '<!-- tested-with:end -->';

/** The tests that start the haproxy on PATH: the admin-socket client, and the built CLI stapling through HAProxy and reading its status. */
const HAPROXY_TESTS = ['test/haproxy-client.test.ts', 'test/cli-haproxy.test.ts', 'test/cli-status.test.ts'];
/** The tests that run the built CLI, whose openssl is OPENSSL_BIN: every fetch, verification and check goes through it. */
const OPENSSL_TESTS = [
  'test/cli-flow.test.ts',
  'test/cli-http.test.ts',
  'test/cli-batch.test.ts',
  'test/cli-batch-verify.test.ts',
  'test/cli-check.test.ts',
  'test/cli-safety.test.ts',
  'test/cli-haproxy.test.ts',
  'test/cli-status.test.ts',
  'test/cli-nonce.test.ts',
  'test/hostile-responder.test.ts',
  'test/hostile-decoder.test.ts',
  'test/hostile-files.test.ts',
  'test/hostile-socket.test.ts',
];

interface Entry {
  /** Names the entry's TAP log in MATRIX_DIR/logs/. */
  readonly id: string;
  readonly component: 'HAProxy' | 'OpenSSL';
  readonly series: string;
  readonly from: string;
  readonly files: readonly string[];
  /** The environment the tests run in: the program under test first in PATH, or as OPENSSL_BIN. */
  readonly env: NodeJS.ProcessEnv;
}

interface Failure {
  /** FILE:LINE of the failing assertion when the stack names it, else the test file. */
  readonly where: string;
  /** The enclosing suites and the test, outermost first. */
  readonly name: string;
  readonly reason: string;
}

interface Outcome {
  readonly entry: Entry;
  readonly version: string;
  readonly seconds: number;
  readonly tests: number;
  readonly passed: number;
  readonly failures: readonly Failure[];
  /** Why the entry failed beyond its failing tests (no summary, a non-zero exit), if it did. */
  readonly problem?: string;
}

// No row may pick up an OPENSSL_BIN the caller had set: each names its own openssl, or none for the system's.
const baseEnv = { ...process.env };
delete baseEnv.OPENSSL_BIN;
const systemName = osName();

const entries: Entry[] = [
  haproxyEntry('2.6', `the system's (${systemName})`),
  haproxyEntry('3.0', "Debian 13's upstream source, built here", 'haproxy-3.0'),
  haproxyEntry('3.2', "Debian unstable's .deb", 'haproxy-3.2'),
  haproxyEntry('3.4', "Debian experimental's .deb", 'haproxy-3.4'),
  opensslEntry('3.0', `the system's (${systemName})`),
  opensslEntry('3.6', "Debian unstable's .deb", 'openssl-3.6'),
];

function haproxyEntry(series: string, from: string, folder?: string): Entry {
  const env = folder ? { ...baseEnv, PATH: `${path.join(matrixDir, folder)}:${baseEnv.PATH ?? ''}` } : baseEnv;
  return { id: `haproxy-${series}`, component: 'HAProxy', series, from, files: HAPROXY_TESTS, env };
}

function opensslEntry(series: string, from: string, folder?: string): Entry {
  const env = folder ? { ...baseEnv, OPENSSL_BIN: path.join(matrixDir, folder, 'openssl') } : baseEnv;
  return { id: `openssl-${series}`, component: 'OpenSSL', series, from, files: OPENSSL_TESTS, env };
}

function osName(): string {
  const release = readFileSync('/etc/os-release', 'utf8');
  const field = (name: string) => new RegExp(`^${name}="?([^"\\n]*)"?$`, 'm').exec(release)?.[1];
  return [field('NAME')?.replace(/ GNU\/Linux$/, ''), field('VERSION_ID')].filter(Boolean).join(' ');
}

/** The version the entry's program reports, checked against the series it stands for. */
function versionOf(entry: Entry): string {
  const [program, args, pattern] =
    entry.component === 'HAProxy'
      ? ['haproxy', ['-v'], /^HAProxy version (\S+)/]
      : [entry.env.OPENSSL_BIN ?? 'openssl', ['version'], /^OpenSSL (\S+)/];
  const output = execFileSync(program, args, { env: entry.env, encoding: 'utf8' });
  const version = pattern.exec(output)?.[1];
  if (version === undefined) throw new Error(`${program} ${args.join(' ')} printed no version: ${output}`);
  // A row must not claim a version it did not meet (a PATH that found another haproxy, say).
  if (!version.startsWith(`${entry.series}.`)) {
    throw new Error(`${entry.component} ${entry.series} is ${version} here (${program} ${args.join(' ')})`);
  }
  return version;
}

/** Runs the entry's tests; a program that does not run or report its version fails the entry, not the matrix. */
async function runEntry(entry: Entry, nodeTest: readonly string[]): Promise<Outcome> {
  let version: string;
  try {
    version = versionOf(entry);
  } catch (error) {
    console.log(`\n== ${entry.component} ${entry.series}: ${(error as Error).message}`);
    return { entry, version: '?', seconds: 0, tests: 0, passed: 0, failures: [], problem: (error as Error).message };
  }
  const tapPath = path.join(matrixDir, 'logs', `${entry.id}.tap`);
  // A run that dies before writing its own must not be read from the last one's.
  rmSync(tapPath, { force: true });
  console.log(`\n== ${entry.component} ${version} (${entry.from}): ${entry.files.join(' ')}`);
  const started = performance.now();
  const [command, ...args] = nodeTest;
  const exitCode = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(
      command,
      [
        ...args,
        // spec for whoever watches the run, TAP for the counts and failures below.
        '--test-reporter=spec',
        '--test-reporter-destination=stdout',
        '--test-reporter=tap',
        `--test-reporter-destination=${tapPath}`,
        ...entry.files,
      ],
      { cwd: repoRoot, env: entry.env, stdio: ['ignore', 'inherit', 'inherit'] },
    );
    child.on('error', reject);
    child.on('close', resolve);
  });
  const seconds = (performance.now() - started) / 1000;
  const report = parseTap(existsSync(tapPath) ? readFileSync(tapPath, 'utf8') : '');
  const outcome = { entry, version, seconds, tests: report.tests, passed: report.passed, failures: report.failures };
  if (report.tests === 0) return { ...outcome, problem: `no test ran (exit code ${exitCode}; see ${tapPath})` };
  if (exitCode !== 0 && report.failures.length === 0) return { ...outcome, problem: `exit code ${exitCode}` };
  return outcome;
}

interface TapReport {
  readonly tests: number;
  readonly passed: number;
  readonly failures: readonly Failure[];
}

/**
 * Reads node:test's TAP: the totals, and each failed test with its suites.
 * A suite that fails only because a test in it failed is not listed again.
 */
function parseTap(tap: string): TapReport {
  const lines = tap.split('\n');
  const total = (name: string) => Number(new RegExp(`^# ${name} (\\d+)$`, 'm').exec(tap)?.[1] ?? 0);
  const suites: string[] = [];
  const failures: Failure[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const level = Math.floor(line.search(/\S|$/) / 4);
    const subtest = /^\s*# Subtest: (.*)$/.exec(line);
    if (subtest) {
      suites.length = level;
      suites.push(unescapeTap(subtest[1]));
      continue;
    }
    const failed = /^\s*not ok \d+ - (.*?)(?: # (?:SKIP|TODO)\b.*)?$/.exec(line);
    if (!failed) continue;
    const blockEnd = `${' '.repeat(level * 4 + 2)}...`;
    const block: string[] = [];
    while (i + 1 < lines.length && lines[i + 1] !== blockEnd) block.push(lines[++i]);
    const yaml = block.join('\n');
    if (/^\s*failureType: 'subtestsFailed'$/m.test(yaml)) continue;
    const failureType = /^\s*failureType: '(.*)'$/m.exec(yaml)?.[1];
    const stackLine = /\((?:[^()]*\/)?(test\/[^():]+\.ts:\d+):\d+\)/.exec(yaml)?.[1];
    const file = /^\s*location: '(?:.*\/)?(test\/[^':]+)/m.exec(yaml)?.[1];
    failures.push({
      where: stackLine ?? file ?? '',
      name: [...suites.slice(0, level), unescapeTap(failed[1])].join(' › '),
      reason: [failureType === 'testCodeFailure' ? '' : failureType, errorOf(yaml)].filter(Boolean).join(': '),
    });
  }
  return { tests: total('tests'), passed: total('pass'), failures };
}

/** The first lines of a failure's `error:`, as one line. */
function errorOf(yaml: string): string {
  const error = /^(\s*)error: (.*)$/m.exec(yaml);
  if (!error) return '';
  const [whole, indent, value] = error;
  if (!value.startsWith('|')) return value.replace(/^'(.*)'$/, '$1');
  const rest = yaml.slice(error.index + whole.length + 1).split('\n');
  const end = rest.findIndex((line) => line.trim() !== '' && line.search(/\S/) <= indent.length);
  const body = end < 0 ? rest : rest.slice(0, end);
  const text = body
    .map((line) => line.trim())
    .filter(Boolean)
    .slice(0, 3)
    .join(' ');
  return text.length > 300 ? `${text.slice(0, 299)}…` : text;
}

const unescapeTap = (name: string) => name.replace(/\\(.)/g, '$1');

function counts(outcome: Outcome): string {
  return `${outcome.passed}/${outcome.tests}`;
}

function printSummary(outcomes: readonly Outcome[]): void {
  console.log('\n== Matrix summary');
  for (const outcome of outcomes) {
    const { entry } = outcome;
    const verdict = outcome.problem || outcome.failures.length > 0 ? 'FAIL' : 'ok  ';
    console.log(
      `${verdict} ${entry.component} ${outcome.version.padEnd(18)} ${counts(outcome).padStart(7)} passed  ${outcome.seconds.toFixed(0).padStart(4)} s  ${entry.from}`,
    );
    if (outcome.problem) console.log(`       ${outcome.problem}`);
    for (const failure of outcome.failures) {
      console.log(`       ✗ ${failure.name}\n         ${failure.where}: ${failure.reason}`);
    }
  }
}

const markdownCell = (text: string) => text.replace(/\|/g, '\\|');

function testedWithTable(outcomes: readonly Outcome[], totalSeconds: number): string {
  const date = new Date().toISOString().slice(0, 10);
  const rows = outcomes.map((outcome) => {
    const { entry } = outcome;
    const ran = entry.component === 'HAProxy' ? 'the HAProxy tests' : 'the CLI tests';
    const passed = counts(outcome) + (outcome.problem ? ` (${outcome.problem})` : '');
    return `| ${entry.component} ${entry.series} | \`${outcome.version}\` | ${entry.from} | ${ran} | ${markdownCell(passed)} | ${outcome.seconds.toFixed(0)} s |`;
  });
  const failures = outcomes.flatMap(({ entry, version, failures }) =>
    failures.map((failure) => `- ${entry.component} ${version}: ${markdownCell(failure.name)} (\`${failure.where}\`)`),
  );
  return [
    BEGIN_MARKER,
    `The HAProxy tests are those that start the \`haproxy\` on PATH (${HAPROXY_TESTS.map((file) => `\`${file}\``).join(', ')}):`,
    'the admin-socket client against a real HAProxy, and the built CLI stapling through one. The CLI tests are those',
    `that run the built CLI, whose \`openssl\` is \`OPENSSL_BIN\` (${OPENSSL_TESTS.map((file) => `\`${path.basename(file, '.test.ts')}\``).join(', ')}).`,
    '',
    '| component | version | from | what ran | passed | time |',
    '|---|---|---|---|---|---|',
    ...rows,
    '',
    ...(failures.length > 0 ? ['Failing:', '', ...failures, ''] : []),
    `\`make test-matrix\` on ${date}, ${availableParallelism()} cores, ${(totalSeconds / 60).toFixed(1)} min in all.`,
    END_MARKER,
  ].join('\n');
}

function writeReadme(table: string): void {
  const readme = readFileSync(readmePath, 'utf8');
  const begin = readme.indexOf(BEGIN_MARKER);
  const end = readme.indexOf(END_MARKER);
  if (begin < 0 || end < begin) throw new Error(`README.md has no ${BEGIN_MARKER} … ${END_MARKER} section to rewrite`);
  writeFileSync(readmePath, readme.slice(0, begin) + table + readme.slice(end + END_MARKER.length));
}

async function main(): Promise<void> {
  const nodeTest = process.argv.slice(2);
  if (nodeTest.length === 0) throw new Error('usage: test-matrix.ts NODE_TEST_COMMAND... (make test-matrix)');
  mkdirSync(path.join(matrixDir, 'logs'), { recursive: true });
  const started = performance.now();
  const outcomes: Outcome[] = [];
  for (const entry of entries) outcomes.push(await runEntry(entry, nodeTest));
  printSummary(outcomes);
  writeReadme(testedWithTable(outcomes, (performance.now() - started) / 1000));
  console.log(`\nREADME.md's "Tested with" table rewritten; TAP logs in ${path.relative(repoRoot, matrixDir)}/logs/.`);
  if (outcomes.some((outcome) => outcome.problem || outcome.failures.length > 0)) process.exitCode = 1;
}

await main();
