// Benchmark: one batch process against one process per certificate, on N
// leaves under one intermediate, with real `openssl ocsp` responders on
// 127.0.0.1. Reports medians of several rounds, per-certificate cost and
// peak memory. Run with `make bench` (BENCH_SIZES=1,100,1000 BENCH_ROUNDS=3).
//
// Real responders are 20-200 ms away, where the round trip and not the CPU
// bounds a batch, so the same batch is also timed against a responder behind
// a latency proxy (BENCH_NET_SIZES=1000, at BENCH_RTTS=10,50 ms), beside the
// floors it is judged by. BENCH_ORIGINAL=path/to/the/bash/hapos-upd adds the
// bash original to both. The report ends with the performance targets, each with
// its measured value and ratio, met or not.
//
// BENCH_BASELINE=path/to/another/checkout/dist/hapos-upd.js adds an A/B
// comparison: every measurement is also taken of that build, and the report
// ends with both medians side by side and the ratio new/baseline. The
// fixtures, responders and helpers are this checkout's; only the CLI differs.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../lib/process/run.ts';
import { REQUESTS_PER_RESPONDER } from '../lib/cli/defaults.ts';
import { mapConcurrently } from '../lib/util/concurrency.ts';
import { startLatencyProxy } from '../test/helpers/latency-proxy.ts';
import { startKeepAliveFront, startOcspResponder, type OcspResponder } from '../test/helpers/responder.ts';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const cli = path.join(repoRoot, 'dist', 'hapos-upd.js');
const sizes = (process.env.BENCH_SIZES ?? '1,100,1000').split(',').map(Number);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
/** One-process-per-certificate runs are slow; above this many they are sampled and scaled. */
const singleRunSample = Number(process.env.BENCH_SINGLE_SAMPLE ?? 100);
/** As many as the requests a batch has in flight to one host: none waits on another's answer, as with a real responder. */
const respondersCount = REQUESTS_PER_RESPONDER;
const netSizes = (process.env.BENCH_NET_SIZES ?? '1000').split(',').filter(Boolean).map(Number);
const netRttsMs = (process.env.BENCH_RTTS ?? '10,50').split(',').filter(Boolean).map(Number);
/** The bash script this tool replaces; not part of this checkout (github.com/pierky/haproxy-ocsp-stapling-updater). */
const original = process.env.BENCH_ORIGINAL ? path.resolve(process.env.BENCH_ORIGINAL) : undefined;
if (original && !existsSync(original)) throw new Error(`BENCH_ORIGINAL: no such file: ${original}`);
/** The bash original's runs behind the latency proxy, one process per certificate, sampled and scaled. */
const originalNetSample = Number(process.env.BENCH_ORIGINAL_SAMPLE ?? 20);
/** The batch's cap on requests in flight to one responder host: what the latency floor assumes. */
const requestsPerResponder = REQUESTS_PER_RESPONDER;

/** A built CLI being timed: this checkout's, and in A/B mode the baseline's. */
interface Build {
  /** Its dist/hapos-upd.js. */
  readonly cli: string;
}

const newBuild: Build = { cli };
const baselineBuild = baselineFromEnvironment();
const builds: readonly Build[] = baselineBuild ? [newBuild, baselineBuild] : [newBuild];

function baselineFromEnvironment(): Build | undefined {
  const given = process.env.BENCH_BASELINE;
  if (!given) return undefined;
  const baselineCli = path.resolve(given);
  // Failing now beats failing after the first fixture of a long run is built.
  if (!existsSync(baselineCli)) throw new Error(`BENCH_BASELINE: no such file: ${baselineCli}`);
  return { cli: baselineCli };
}

/**
 * The builds in the order round ROUND runs them. Whichever runs second finds
 * the page cache, the responders and the CPU's clock as the first left them,
 * so the order flips every round and the bias cancels out of the medians
 * (given an even number of rounds; with an odd one it is off by one round).
 */
const inRoundOrder = (round: number): readonly Build[] => (round % 2 === 0 ? builds : [...builds].reverse());

/** One measure's samples, kept per build so that both medians come from the same rounds. */
class Samples<T> {
  readonly #byBuild = new Map<Build, T[]>(builds.map((build) => [build, []]));

  add(build: Build, value: T): void {
    this.#byBuild.get(build)!.push(value);
  }

  of(build: Build): readonly T[] {
    return this.#byBuild.get(build)!;
  }
}

/** One row of the A/B table: the median of a measure for each build. */
interface Comparison {
  readonly measure: string;
  readonly unit: 's' | 'MB';
  readonly newMedian: number;
  readonly baselineMedian: number;
}

/** Filled as the figures are computed, printed at the end; stays empty without BENCH_BASELINE. */
const comparisons: Comparison[] = [];

/** Records a measure's medians for the A/B table, if there is a baseline to compare with. */
function addComparison(measure: string, unit: Comparison['unit'], samples: Samples<number>): void {
  if (!baselineBuild) return;
  comparisons.push({
    measure,
    unit,
    newMedian: median(samples.of(newBuild)),
    baselineMedian: median(samples.of(baselineBuild)),
  });
}

/** The performance targets, each a ratio that must stay at or under its limit. */
const targets = {
  latency: { text: '50 ms RTT, N=1000: batch wall / latency floor (N/4 x RTT)', limit: 1.3 },
  cpu: { text: "loopback, N=1000: batch CPU per certificate / bare openssl's", limit: 1.5 },
  wall: { text: `loopback, N=1000: batch wall / bare-openssl floor (xargs -P${availableParallelism()})`, limit: 1.5 },
  memory: { text: 'loopback, N=1000: batch peak memory / 120 MB', limit: 1 },
  single: { text: "single -d run wall / the bash original's", limit: 0.6 },
} as const;
type TargetName = keyof typeof targets;

/** What this run measured of each target, each figure naming its N; the last size timed replaces earlier ones'. */
const measuredTargets = new Map<TargetName, { readonly measured: string; readonly ratio: number }>();

function targetLines(): string[] {
  const lines = ['performance targets (ratio measured / limit; met when at or under it):'];
  for (const [name, { text, limit }] of Object.entries(targets) as [TargetName, (typeof targets)[TargetName]][]) {
    const result = measuredTargets.get(name);
    lines.push(
      result
        ? `  ${text}: ${result.measured}, ratio ${result.ratio.toFixed(2)} (limit ${limit}): ${result.ratio <= limit ? 'met' : 'NOT met'}`
        : `  ${text}: not measured in this run${name === 'single' ? ' (needs BENCH_ORIGINAL)' : ''}`,
    );
  }
  return lines;
}

interface Measured {
  readonly seconds: number;
  readonly peakKb: number;
  /** User plus system time of the command and every process it waited for. */
  readonly cpuSeconds: number;
}

/** Runs a command, returning wall time, peak resident memory and CPU time (from GNU time). */
async function measure(command: string[], env: NodeJS.ProcessEnv): Promise<Measured> {
  const started = process.hrtime.bigint();
  const stderr = await new Promise<string>((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-f', 'PEAK_KB=%M CPU=%U+%S', ...command], {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let text = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(text) : reject(new Error(`${command.join(' ')} exited ${code}: ${text}`)),
    );
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = /CPU=([\d.]+)\+([\d.]+)/.exec(stderr);
  return {
    seconds,
    peakKb: Number(/PEAK_KB=(\d+)/.exec(stderr)?.[1] ?? 0),
    cpuSeconds: cpu ? Number(cpu[1]) + Number(cpu[2]) : 0,
  };
}

const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

interface Fixture {
  readonly dir: string;
  readonly certDir: string;
  readonly certs: string[];
  readonly env: NodeJS.ProcessEnv;
  readonly responders: OcspResponder[];
}

/** N leaves under the test intermediate, spread over the responders, each bundle in certDir. */
async function makeFixture(size: number): Promise<Fixture> {
  const pki = path.join(repoRoot, 'fixtures', 'pki');
  await run(path.join(repoRoot, 'scripts', 'make-pki.sh'), [pki]);
  const dir = await mkdtemp(path.join(tmpdir(), 'hapos-upd-bench-'));
  const certDir = path.join(dir, 'certs');
  await mkdir(certDir);
  const serials = Array.from({ length: size }, (_, index) => (0x100000 + index).toString(16).toUpperCase());
  const index = path.join(dir, 'index.txt');
  await writeFile(
    index,
    serials.map((serial) => `V\t491231235959Z\t\t${serial}\tunknown\t/CN=leaf ${serial}\n`).join(''),
  );
  const responders = await Promise.all(
    Array.from({ length: respondersCount }, () =>
      startOcspResponder({
        index,
        ca: path.join(pki, 'int.pem'),
        signerCert: path.join(pki, 'ocsp-signer.pem'),
        signerKey: path.join(pki, 'ocsp-signer.key'),
      }),
    ),
  );
  const intermediate = await run('cat', [path.join(pki, 'int.pem')]);
  const certs = await mapConcurrently(serials, availableParallelism() * 2, async (serial, position) => {
    const extensions = path.join(dir, `${serial}.ext`);
    const responder = responders[position % responders.length]!;
    await writeFile(
      extensions,
      `basicConstraints=CA:FALSE\nauthorityInfoAccess=OCSP;URI:${responder.url}\nsubjectAltName=DNS:leaf-${serial}.hapos-upd.test\n`,
    );
    const signed = await run('openssl', [
      'x509',
      '-req',
      '-in',
      path.join(pki, 'leaf-ec.csr'),
      '-CA',
      path.join(pki, 'int.pem'),
      '-CAkey',
      path.join(pki, 'int.key'),
      '-set_serial',
      `0x${serial}`,
      '-days',
      '30',
      '-subj',
      `/CN=leaf ${serial}`,
      '-extfile',
      extensions,
    ]);
    if (signed.exitCode !== 0) throw new Error(signed.stderr);
    const bundle = path.join(certDir, `leaf-${serial}.pem`);
    await writeFile(bundle, signed.stdout + intermediate.stdout);
    return bundle;
  });
  return { dir, certDir, certs, env: { ...process.env, SSL_CERT_DIR: path.join(pki, 'trust') }, responders };
}

async function clearResponses(fixture: Fixture): Promise<void> {
  await run('find', [fixture.certDir, '(', '-name', '*.ocsp', '-o', '-name', '*.issuer', ')', '-delete']);
}

/** Times N single-certificate processes run one after another, as a cron job per certificate would. */
async function singleRuns(build: Build, fixture: Fixture, certs: string[]): Promise<number> {
  const started = process.hrtime.bigint();
  for (const cert of certs) await measure(['node', build.cli, '-S', '--cert', cert], fixture.env);
  return Number(process.hrtime.bigint() - started) / 1e9;
}

/**
 * The floor of this design: one bare `openssl ocsp` fetch-and-verify process
 * per certificate and nothing else, PARALLEL at a time, started by xargs with
 * no shell in between. URL names the responder each certificate is asked.
 */
async function bareOpensslFloor(
  fixture: Fixture,
  parallel: number,
  url: (position: number) => string,
): Promise<Measured> {
  const chain = path.join(repoRoot, 'fixtures', 'pki', 'int.pem');
  const list = path.join(fixture.dir, 'bare-openssl.args');
  // One line of arguments per certificate, split by xargs at blanks: the
  // fixture's paths (mkdtemp under the temp dir) and URLs have none.
  const argsOf = (cert: string, position: number) => [
    'ocsp',
    '-issuer',
    chain,
    '-cert',
    cert,
    '-no_nonce',
    '-timeout',
    '10',
    '-CAfile',
    chain,
    '-url',
    url(position),
  ];
  await writeFile(list, fixture.certs.map((cert, position) => `${argsOf(cert, position).join(' ')}\n`).join(''));
  return measure(['xargs', '-P', String(parallel), '-L', '1', '-a', list, 'openssl'], fixture.env);
}

/** Times the bash original run once per certificate of SAMPLE, one after another, scaled to SIZE. */
async function originalRuns(fixture: Fixture, sample: readonly string[], size: number, url: string): Promise<number> {
  const started = process.hrtime.bigint();
  for (const cert of sample) await measure(['bash', original!, '-S', '--ocsp-url', url, '--cert', cert], fixture.env);
  return ((Number(process.hrtime.bigint() - started) / 1e9) * size) / sample.length;
}

const format = (seconds: number) => (seconds >= 10 ? seconds.toFixed(1) : seconds.toFixed(3));

async function startupFigures(): Promise<string[]> {
  const node: number[] = [];
  const help = new Samples<number>();
  for (let round = 0; round < 15; round++) {
    node.push((await measure(['node', '-e', '0'], process.env)).seconds);
    for (const build of inRoundOrder(round))
      help.add(build, (await measure(['node', build.cli, '--help'], process.env)).seconds);
  }
  addComparison('hapos-upd --help (median of 15)', 's', help);
  const helpSeconds = median(help.of(newBuild));
  return [
    `start-up (median of 15): node -e 0 ${format(median(node))} s, hapos-upd --help ${format(helpSeconds)} s, ratio ${(helpSeconds / median(node)).toFixed(2)}`,
  ];
}

/** Wall time of one command run directly, with no GNU time in between. */
async function timeDirectly(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const started = process.hrtime.bigint();
  const result = await run(command, args, { env });
  if (result.exitCode !== 0)
    throw new Error(`${command} ${args.join(' ')} exited ${result.exitCode}: ${result.stderr}`);
  return Number(process.hrtime.bigint() - started) / 1e9;
}

/**
 * A single `-d` run against the same openssl processes it runs (version
 * check, chain verification, fetch-and-verify), timed alone, and Node's own
 * bare start, which no JavaScript tool can avoid.
 */
async function dryRunFigures(fixture: Fixture): Promise<string[]> {
  const cert = fixture.certs[0]!;
  const dry = new Samples<number>();
  const opensslOnly: number[] = [];
  const bareNode: number[] = [];
  const originalDry: number[] = [];
  const chain = path.join(repoRoot, 'fixtures', 'pki', 'int.pem');
  const ee = path.join(fixture.dir, 'ee.pem');
  await run('openssl', ['x509', '-in', cert, '-out', ee]);
  const url = fixture.responders[0]!.url;
  const fetchAndVerify = ['-issuer', chain, '-cert', ee, '-no_nonce', '-respout', `${ee}.der`, '-url', url];
  for (let round = 0; round < 15; round++) {
    for (const build of inRoundOrder(round))
      dry.add(build, await timeDirectly('node', [build.cli, '-d', '--ocsp-url', url, '--cert', cert], fixture.env));
    bareNode.push(await timeDirectly('node', ['-e', '0'], fixture.env));
    if (original)
      originalDry.push(await timeDirectly('bash', [original, '-d', '--ocsp-url', url, '--cert', cert], fixture.env));
    opensslOnly.push(
      (await timeDirectly('openssl', ['version'], fixture.env)) +
        (await timeDirectly('openssl', ['verify', '-CAfile', chain, ee], fixture.env)) +
        (await timeDirectly(
          'openssl',
          ['ocsp', ...fetchAndVerify, '-timeout', '10', '-CAfile', chain, '-out', `${ee}.status`],
          fixture.env,
        )),
    );
  }
  addComparison('one -d run (median of 15)', 's', dry);
  const [run1, openssl, node] = [median(dry.of(newBuild)), median(opensslOnly), median(bareNode)];
  const percent = (part: number, whole: number) => `${Math.round((100 * part) / whole)}%`;
  const lines = [
    `single -d run (median of 15): ${format(run1)} s; its three openssl processes alone: ${format(openssl)} s (${percent(openssl, run1)})`,
    `  beyond a bare node start (${format(node)} s): ${format(run1 - node)} s, of which openssl ${percent(openssl, run1 - node)}`,
  ];
  if (original) {
    const bash = median(originalDry);
    lines.push(`  the bash original's -d run (median of 15): ${format(bash)} s, ratio ${(run1 / bash).toFixed(2)}`);
    measuredTargets.set('single', { measured: `${format(run1)} s against ${format(bash)} s`, ratio: run1 / bash });
  }
  return lines;
}

/** The batch variants timed at every size, by label. */
const batchVariants: readonly (readonly [label: string, extra: readonly string[]])[] = [
  ['default --jobs', []],
  ['--jobs 4', ['--jobs', '4']],
];

/** The A/B table: one row per measure, both medians side by side and the ratio new/baseline. */
function comparisonTable(baseline: Build): string[] {
  const cell = (value: number, unit: Comparison['unit']) =>
    unit === 's' ? `${format(value)} s` : `${Math.round(value / 1024)} MB`;
  const rows = comparisons.map(({ measure, unit, newMedian, baselineMedian }) => [
    measure,
    cell(newMedian, unit),
    cell(baselineMedian, unit),
    (newMedian / baselineMedian).toFixed(3),
  ]);
  const header = ['measure (medians)', 'new', 'baseline', 'new/baseline'];
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  // The measure is text, left-aligned; the figures are right-aligned so that their points line up.
  const line = (row: readonly string[]) =>
    row
      .map((text, column) => (column === 0 ? text.padEnd(widths[column]!) : text.padStart(widths[column]!)))
      .join('  ');
  return [
    `A/B, new ${newBuild.cli} (the figures above are its) against baseline ${baseline.cli}, alternating which runs first each round:`,
    line(header),
    ...rows.map(line),
    'A ratio above 1 means the new build is slower (or bigger) than the baseline.',
  ];
}

async function main(): Promise<void> {
  const lines: string[] = [
    `hapos-upd bench: ${availableParallelism()} CPUs, ${rounds} rounds, responders: ${respondersCount}; behind the latency proxy: N=${netSizes.join(',') || 'none'} at RTT ${netRttsMs.join(',')} ms`,
  ];
  lines.push(...(await startupFigures()));
  for (const size of sizes) {
    const fixture = await makeFixture(size);
    try {
      if (size === sizes[0]) lines.push(...(await dryRunFigures(fixture)));
      const batches = new Map(batchVariants.map(([label]) => [label, new Samples<Measured>()]));
      const single = new Samples<number>();
      const floor: Measured[] = [];
      const sample = fixture.certs.slice(0, Math.min(size, singleRunSample));
      for (let round = 0; round < rounds; round++) {
        // Each measurement is taken of both builds back to back, so that
        // both see the machine in the same minute.
        for (const [label, extra] of batchVariants) {
          const samples = batches.get(label)!;
          for (const build of inRoundOrder(round)) {
            await clearResponses(fixture);
            const command = ['node', build.cli, '-S', '-q', ...extra, '--dir', fixture.certDir];
            samples.add(build, await measure(command, fixture.env));
          }
        }
        for (const build of inRoundOrder(round)) {
          await clearResponses(fixture);
          single.add(build, ((await singleRuns(build, fixture, sample)) * size) / sample.length);
        }
        // One per CPU: on loopback each process is CPU all along, and more at once would only take turns.
        floor.push(
          await bareOpensslFloor(
            fixture,
            availableParallelism(),
            (position) => fixture.responders[position % respondersCount]!.url,
          ),
        );
        const latest = (build: Build) => {
          const batch = (label: string) => format(batches.get(label)!.of(build).at(-1)!.seconds);
          return `single ${format(single.of(build).at(-1)!)} s, batch ${batch('default --jobs')} s, batch --jobs 4 ${batch('--jobs 4')} s`;
        };
        const ofBaseline = baselineBuild ? `; baseline: ${latest(baselineBuild)}` : '';
        console.log(`  N=${size} round ${round + 1}: ${latest(newBuild)}${ofBaseline}`);
      }
      const singleSeconds = median(single.of(newBuild));
      const sampled = sample.length < size ? `, scaled from ${sample.length} runs` : '';
      lines.push(
        `N=${size}: ${size} single runs ${format(singleSeconds)} s (${((1000 * singleSeconds) / size).toFixed(1)} ms/cert${sampled})`,
      );
      addComparison(`N=${size}: ${size} single runs${sampled}`, 's', single);
      for (const [label, samples] of batches) {
        const measured = samples.of(newBuild);
        const batchSeconds = median(measured.map((m) => m.seconds));
        lines.push(
          `  batch, ${label}: ${format(batchSeconds)} s (${((1000 * batchSeconds) / size).toFixed(1)} ms/cert, peak ${Math.round(median(measured.map((m) => m.peakKb)) / 1024)} MB), ${(singleSeconds / batchSeconds).toFixed(1)}x faster`,
        );
        addComparison(`N=${size}: batch, ${label}`, 's', fieldOf(samples, 'seconds'));
        addComparison(`N=${size}: batch, ${label}, peak memory`, 'MB', fieldOf(samples, 'peakKb'));
      }
      lines.push(...loopbackFloorFigures(size, floor, batches.get('default --jobs')!.of(newBuild)));
      console.log(lines.slice(-5).join('\n'));
    } finally {
      await Promise.all(fixture.responders.map((responder) => responder.stop()));
      await rm(fixture.dir, { recursive: true, force: true });
    }
  }
  for (const size of netSizes) lines.push(...(await networkFigures(size)));
  lines.push('', ...targetLines());
  if (baselineBuild) lines.push('', ...comparisonTable(baselineBuild));
  console.log(`\n${lines.join('\n')}`);
}

/** The default batch against the bare-openssl floor at SIZE, in wall and CPU time; feeds the loopback targets. */
function loopbackFloorFigures(size: number, floor: readonly Measured[], batch: readonly Measured[]): string[] {
  const perCertMs = (seconds: number) => `${((1000 * seconds) / size).toFixed(1)} ms/cert`;
  const [floorWall, floorCpu] = [median(floor.map((m) => m.seconds)), median(floor.map((m) => m.cpuSeconds))];
  const [batchWall, batchCpu] = [median(batch.map((m) => m.seconds)), median(batch.map((m) => m.cpuSeconds))];
  const peakMb = median(batch.map((m) => m.peakKb)) / 1024;
  measuredTargets.set('cpu', {
    measured: `N=${size}: ${perCertMs(batchCpu)} against ${perCertMs(floorCpu)} CPU`,
    ratio: batchCpu / floorCpu,
  });
  measuredTargets.set('wall', {
    measured: `N=${size}: ${format(batchWall)} s against ${format(floorWall)} s`,
    ratio: batchWall / floorWall,
  });
  measuredTargets.set('memory', { measured: `N=${size}: peak ${Math.round(peakMb)} MB`, ratio: peakMb / 120 });
  return [
    `  bare-openssl floor, xargs -P${availableParallelism()}: ${format(floorWall)} s wall, CPU ${perCertMs(floorCpu)}`,
    `  batch, default --jobs, against it: wall ${(batchWall / floorWall).toFixed(2)}x, CPU ${perCertMs(batchCpu)} (${(batchCpu / floorCpu).toFixed(2)}x)`,
  ];
}

/** The batch variants timed behind the latency proxy, by label: the default (built-in client, GET first), POST, and OpenSSL's client. */
const networkVariants: readonly (readonly [label: string, extra: readonly string[]])[] = [
  ['default (built-in client, GET)', []],
  ['--post', ['--post']],
  ['--http-client openssl', ['--http-client', 'openssl']],
];

/**
 * The batch of SIZE certificates against one responder at each RTT, beside
 * its floors: the round trips alone (N/4 x RTT, the batch's cap of requests
 * in flight to one host, one round trip each), bare openssl through the same
 * path as many at a time as that cap, and the bash original, one process per
 * certificate, sampled. The path is the latency proxy, then a keep-alive
 * front (what a CDN edge is to a CA's responder: real responders keep
 * connections open, `openssl ocsp -port` does not), then the responder.
 */
async function networkFigures(size: number): Promise<string[]> {
  const fixture = await makeFixture(size);
  const lines: string[] = [];
  const front = await startKeepAliveFront(
    fixture.responders.map((responder) => ({ host: '127.0.0.1', port: responder.port })),
  );
  try {
    for (const rttMs of netRttsMs) {
      const proxy = await startLatencyProxy({ targetHost: '127.0.0.1', targetPort: front.port, rttMs });
      try {
        const batches = new Map(networkVariants.map(([label]) => [label, new Samples<Measured>()]));
        const connections = new Map(networkVariants.map(([label]) => [label, [] as number[]]));
        const floor: number[] = [];
        const bash: number[] = [];
        const originalSample = fixture.certs.slice(0, Math.min(size, originalNetSample));
        for (let round = 0; round < rounds; round++) {
          for (const [label, extra] of networkVariants) {
            for (const build of inRoundOrder(round)) {
              await clearResponses(fixture);
              const before = proxy.connections;
              const command = [
                'node',
                build.cli,
                '-S',
                '-q',
                ...extra,
                '--ocsp-url',
                proxy.url,
                '--dir',
                fixture.certDir,
              ];
              batches.get(label)!.add(build, await measure(command, fixture.env));
              if (build === newBuild) connections.get(label)!.push(proxy.connections - before);
            }
          }
          floor.push((await bareOpensslFloor(fixture, requestsPerResponder, () => proxy.url)).seconds);
          if (original) {
            await clearResponses(fixture);
            bash.push(await originalRuns(fixture, originalSample, size, proxy.url));
          }
          const latest = networkVariants
            .map(([label]) => `${label} ${format(batches.get(label)!.of(newBuild).at(-1)!.seconds)} s`)
            .join(', ');
          const ofOriginal = original ? `, bash original ${format(bash.at(-1)!)} s` : '';
          console.log(
            `  RTT ${rttMs} ms, N=${size} round ${round + 1}: batch ${latest}; bare openssl ${format(floor.at(-1)!)} s${ofOriginal}`,
          );
        }
        const medianOf = (label: string) =>
          median(
            batches
              .get(label)!
              .of(newBuild)
              .map((m) => m.seconds),
          );
        const batchSeconds = medianOf(networkVariants[0]![0]);
        const latencyFloor = (size / requestsPerResponder) * (rttMs / 1000);
        const against = (what: string, seconds: number) =>
          `  ${what}: ${format(seconds)} s; default batch/it ${(batchSeconds / seconds).toFixed(2)}`;
        lines.push(`RTT ${rttMs} ms, N=${size}, batch -S -q --dir:`);
        for (const [label] of networkVariants) {
          const seconds = medianOf(label);
          const perCertificate = median(connections.get(label)!) / size;
          lines.push(
            `  ${label}: ${format(seconds)} s, ${(seconds / latencyFloor).toFixed(2)}x the latency floor, ${perCertificate.toFixed(2)} connections per certificate`,
          );
          addComparison(`RTT ${rttMs} ms, N=${size}: batch, ${label}`, 's', fieldOf(batches.get(label)!, 'seconds'));
        }
        lines.push(
          `  GET (the default) against --post: ${(batchSeconds / medianOf('--post')).toFixed(2)}x the time`,
          against(`latency floor, N/${requestsPerResponder} x RTT`, latencyFloor),
          against(`bare-openssl floor through the proxy, xargs -P${requestsPerResponder}`, median(floor)),
          original
            ? `${against(`bash original, one process per certificate (scaled from ${originalSample.length})`, median(bash))}, the batch ${(median(bash) / batchSeconds).toFixed(1)}x faster`
            : '  bash original: not timed (BENCH_ORIGINAL)',
        );
        console.log(lines.slice(-(networkVariants.length + 5)).join('\n'));
        if (rttMs === 50) {
          measuredTargets.set('latency', {
            measured: `N=${size}: ${format(batchSeconds)} s against ${format(latencyFloor)} s`,
            ratio: batchSeconds / latencyFloor,
          });
        }
      } finally {
        await proxy.close();
      }
    }
  } finally {
    await front.close();
    await Promise.all(fixture.responders.map((responder) => responder.stop()));
    await rm(fixture.dir, { recursive: true, force: true });
  }
  return lines;
}

/** One field of a batch's samples, per build: its seconds or its peak memory. */
function fieldOf(samples: Samples<Measured>, field: keyof Measured): Samples<number> {
  const values = new Samples<number>();
  for (const build of builds) for (const measured of samples.of(build)) values.add(build, measured[field]);
  return values;
}

await main();
