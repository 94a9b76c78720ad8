// Benchmark: one batch process against one process per certificate, on N
// leaves under one intermediate, with real `openssl ocsp` responders on
// 127.0.0.1. Reports medians of several rounds, per-certificate cost and
// peak memory. Run with `make bench` (BENCH_SIZES=1,100,1000 BENCH_ROUNDS=3).
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../lib/process/run.ts';
import { mapConcurrently } from '../lib/util/concurrency.ts';
import { startOcspResponder, type OcspResponder } from '../test/helpers/responder.ts';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const cli = path.join(repoRoot, 'dist', 'hapos-upd.js');
const sizes = (process.env.BENCH_SIZES ?? '1,100,1000').split(',').map(Number);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
/** One-process-per-certificate runs are slow; above this many they are sampled and scaled. */
const singleRunSample = Number(process.env.BENCH_SINGLE_SAMPLE ?? 100);
const respondersCount = 2;

interface Measured {
  readonly seconds: number;
  readonly peakKb: number;
}

/** Runs a command, returning wall time and peak resident memory (from GNU time). */
async function measure(command: string[], env: NodeJS.ProcessEnv): Promise<Measured> {
  const started = process.hrtime.bigint();
  const stderr = await new Promise<string>((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-f', 'PEAK_KB=%M', ...command], {
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
  return { seconds, peakKb: Number(/PEAK_KB=(\d+)/.exec(stderr)?.[1] ?? 0) };
}

const median = (values: number[]) => {
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
async function singleRuns(fixture: Fixture, certs: string[]): Promise<number> {
  const started = process.hrtime.bigint();
  for (const cert of certs) await measure(['node', cli, '-S', '--cert', cert], fixture.env);
  return Number(process.hrtime.bigint() - started) / 1e9;
}

const format = (seconds: number) => (seconds >= 10 ? seconds.toFixed(1) : seconds.toFixed(3));

async function startupFigures(): Promise<string[]> {
  const node: number[] = [];
  const help: number[] = [];
  for (let round = 0; round < 15; round++) {
    node.push((await measure(['node', '-e', '0'], process.env)).seconds);
    help.push((await measure(['node', cli, '--help'], process.env)).seconds);
  }
  return [
    `start-up (median of 15): node -e 0 ${format(median(node))} s, hapos-upd --help ${format(median(help))} s, ratio ${(median(help) / median(node)).toFixed(2)}`,
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
  const dry: number[] = [];
  const opensslOnly: number[] = [];
  const bareNode: number[] = [];
  const chain = path.join(repoRoot, 'fixtures', 'pki', 'int.pem');
  const ee = path.join(fixture.dir, 'ee.pem');
  await run('openssl', ['x509', '-in', cert, '-out', ee]);
  const url = fixture.responders[0]!.url;
  const fetchAndVerify = ['-issuer', chain, '-cert', ee, '-no_nonce', '-respout', `${ee}.der`, '-url', url];
  for (let round = 0; round < 15; round++) {
    dry.push(await timeDirectly('node', [cli, '-d', '--ocsp-url', url, '--cert', cert], fixture.env));
    bareNode.push(await timeDirectly('node', ['-e', '0'], fixture.env));
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
  const [run1, openssl, node] = [median(dry), median(opensslOnly), median(bareNode)];
  const percent = (part: number, whole: number) => `${Math.round((100 * part) / whole)}%`;
  return [
    `single -d run (median of 15): ${format(run1)} s; its three openssl processes alone: ${format(openssl)} s (${percent(openssl, run1)})`,
    `  beyond a bare node start (${format(node)} s): ${format(run1 - node)} s, of which openssl ${percent(openssl, run1 - node)}`,
  ];
}

async function main(): Promise<void> {
  const lines: string[] = [
    `hapos-upd bench: ${availableParallelism()} CPUs, ${rounds} rounds, responders: ${respondersCount}`,
  ];
  lines.push(...(await startupFigures()));
  for (const size of sizes) {
    const fixture = await makeFixture(size);
    try {
      if (size === sizes[0]) lines.push(...(await dryRunFigures(fixture)));
      const batches: Record<string, Measured[]> = { 'default --jobs': [], '--jobs 4': [] };
      const single: number[] = [];
      const sample = fixture.certs.slice(0, Math.min(size, singleRunSample));
      for (let round = 0; round < rounds; round++) {
        for (const [label, extra] of [
          ['default --jobs', []],
          ['--jobs 4', ['--jobs', '4']],
        ] as const) {
          await clearResponses(fixture);
          batches[label]!.push(
            await measure(['node', cli, '-S', '-q', ...extra, '--dir', fixture.certDir], fixture.env),
          );
        }
        await clearResponses(fixture);
        single.push(((await singleRuns(fixture, sample)) * size) / sample.length);
        const latest = (label: string) => format(batches[label]!.at(-1)!.seconds);
        console.log(
          `  N=${size} round ${round + 1}: single ${format(single.at(-1)!)} s, batch ${latest('default --jobs')} s, batch --jobs 4 ${latest('--jobs 4')} s`,
        );
      }
      const singleSeconds = median(single);
      const sampled = sample.length < size ? `, scaled from ${sample.length} runs` : '';
      lines.push(
        `N=${size}: ${size} single runs ${format(singleSeconds)} s (${((1000 * singleSeconds) / size).toFixed(1)} ms/cert${sampled})`,
      );
      for (const [label, measured] of Object.entries(batches)) {
        const batchSeconds = median(measured.map((m) => m.seconds));
        lines.push(
          `  batch, ${label}: ${format(batchSeconds)} s (${((1000 * batchSeconds) / size).toFixed(1)} ms/cert, peak ${Math.round(median(measured.map((m) => m.peakKb)) / 1024)} MB), ${(singleSeconds / batchSeconds).toFixed(1)}x faster`,
        );
      }
      console.log(lines.slice(-3).join('\n'));
    } finally {
      await Promise.all(fixture.responders.map((responder) => responder.stop()));
      await rm(fixture.dir, { recursive: true, force: true });
    }
  }
  console.log(`\n${lines.join('\n')}`);
}

await main();
