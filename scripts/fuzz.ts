// Fuzzing: the property tests' targets (test/helpers/fuzz-targets.ts) for a
// given time with a fresh seed. Run with `make fuzz` (FUZZ_SECONDS=600,
// FUZZ_SEED=N to replay a run). Each target runs in a worker thread, so that
// an input that makes a decoder spin is reported and stopped, not waited on.
// Prints, per target, the inputs tried, every failure (the input in hex, and
// in a file) and the slowest input; exits 1 on any failure, an input that
// took 100 ms or more included.
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import fc from 'fast-check';
import { describeInput, failureOf, fuzzTargets, runCase, type FuzzTarget } from '../test/helpers/fuzz-targets.ts';

/** Inputs drawn from one seed: a failure is replayed from the run's seed, its batch and its index. */
const BATCH_SIZE = 100;
/** An input still decoding after this long is a hang: its worker is stopped. */
const HANG_MS = 30_000;
/** Starting a worker (loading the seeds) or drawing a batch of inputs takes seconds; this long, something is wrong. */
const STALL_MS = 120_000;
/** However fast the decoders, a target stops after this many inputs. */
const MAX_INPUTS = 50_000_000;

interface InputAt {
  readonly batch: number;
  readonly index: number;
}

interface Job {
  readonly target: string;
  readonly seed: number;
  /** How long to fuzz, counted once the worker is ready. */
  readonly milliseconds: number;
  /** The first input to try: after a hang, the one after it. */
  readonly from: InputAt;
}

type WorkerMessage =
  | { readonly kind: 'ready' }
  | ({ readonly kind: 'start' } & InputAt)
  | ({
      readonly kind: 'end';
      readonly elapsedMs: number;
      readonly failure?: string;
      /** The input's bytes, when it failed. */
      readonly bytes?: Uint8Array;
      /** A description of the input, when it is the slowest this worker has seen. */
      readonly slowest?: string;
    } & InputAt)
  | { readonly kind: 'done' };

/** The inputs of BATCH, as every run with SEED draws them. */
const batchOf = (target: FuzzTarget, seed: number, batch: number) =>
  fc.sample(target.cases, { seed: (seed + batch) | 0, numRuns: BATCH_SIZE });

function runJob(job: Job): void {
  const target = fuzzTargets().find((candidate) => candidate.name === job.target)!;
  const post = (message: WorkerMessage) => parentPort!.postMessage(message);
  post({ kind: 'ready' });
  const deadline = Date.now() + job.milliseconds;
  let tried = 0;
  let slowestMs = -1;
  for (let batch = job.from.batch; Date.now() < deadline && tried < MAX_INPUTS; batch++) {
    const cases = batchOf(target, job.seed, batch);
    for (let index = batch === job.from.batch ? job.from.index : 0; index < cases.length; index++) {
      if (Date.now() >= deadline || tried >= MAX_INPUTS) break;
      post({ kind: 'start', batch, index });
      const fuzzCase = cases[index]!;
      const verdict = runCase(target, fuzzCase);
      tried++;
      const failure = failureOf(verdict);
      const slowest = verdict.elapsedMs > slowestMs;
      if (slowest) slowestMs = verdict.elapsedMs;
      post({
        kind: 'end',
        batch,
        index,
        elapsedMs: verdict.elapsedMs,
        ...(failure !== undefined && { failure, bytes: fuzzCase.bytes() }),
        ...(slowest && { slowest: `batch ${batch} input ${index}, ${describeInput(fuzzCase.bytes(), 32)}` }),
      });
    }
  }
  post({ kind: 'done' });
}

interface Failure {
  readonly failure: string;
  /** The failing input; none when the worker stalled between inputs. */
  readonly input?: InputAt & { readonly bytes: Buffer };
}

interface TargetReport {
  tried: number;
  slowestMs: number;
  slowestInput: string;
  readonly failures: Failure[];
}

/** This file again, in a worker: tsx registered first, as a worker does not inherit the main thread's loader. */
const workerEntry = new URL(
  `data:text/javascript,${encodeURIComponent(
    `import { register } from ${JSON.stringify(import.meta.resolve('tsx/esm/api'))};
register();
await import(${JSON.stringify(import.meta.url)});`,
  )}`,
);

type WorkerOutcome =
  | { readonly kind: 'done' }
  | { readonly kind: 'hung'; readonly at: InputAt; readonly fuzzedMs: number }
  | { readonly kind: 'stalled' };

/** Runs one worker until it is done, hangs on an input, or stalls between inputs. */
function runWorker(job: Job, report: TargetReport): Promise<WorkerOutcome> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(workerEntry, { workerData: job });
    let readyAt = Date.now();
    let watchdog: NodeJS.Timeout | undefined;
    const stopAfter = (ms: number, outcome: () => WorkerOutcome) => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => {
        void worker.terminate();
        resolve(outcome());
      }, ms);
    };
    const stalled = () => ({ kind: 'stalled' }) as const;
    stopAfter(STALL_MS, stalled);
    worker.on('message', (message: WorkerMessage) => {
      switch (message.kind) {
        case 'ready':
          readyAt = Date.now();
          return;
        case 'start':
          stopAfter(HANG_MS, () => ({ kind: 'hung', at: message, fuzzedMs: Date.now() - readyAt }));
          return;
        case 'done':
          clearTimeout(watchdog);
          resolve({ kind: 'done' });
          return;
        case 'end':
          stopAfter(STALL_MS, stalled);
          report.tried++;
          if (message.failure !== undefined) {
            const bytes = Buffer.from(message.bytes!);
            report.failures.push({
              failure: message.failure,
              input: { batch: message.batch, index: message.index, bytes },
            });
          }
          if (message.slowest !== undefined && message.elapsedMs > report.slowestMs) {
            report.slowestMs = message.elapsedMs;
            report.slowestInput = message.slowest;
          }
      }
    });
    worker.on('error', (error) => {
      clearTimeout(watchdog);
      reject(error);
    });
  });
}

async function fuzzTarget(target: FuzzTarget, seed: number, milliseconds: number): Promise<TargetReport> {
  const report: TargetReport = { tried: 0, slowestMs: 0, slowestInput: '', failures: [] };
  let from: InputAt = { batch: 0, index: 0 };
  // Each hang costs HANG_MS and shortens what is left: this ends by the time given plus one of them.
  for (let remaining = milliseconds; remaining > 0;) {
    const outcome = await runWorker({ target: target.name, seed, milliseconds: remaining, from }, report);
    if (outcome.kind === 'done') break;
    if (outcome.kind === 'stalled') {
      report.failures.push({ failure: `the worker decoded no input for ${STALL_MS / 1000} s` });
      break;
    }
    const { at } = outcome;
    report.tried++;
    const bytes = batchOf(target, seed, at.batch)[at.index]!.bytes();
    report.failures.push({ failure: `still decoding after ${HANG_MS / 1000} s`, input: { ...at, bytes } });
    remaining -= outcome.fuzzedMs;
    from = at.index + 1 < BATCH_SIZE ? { ...at, index: at.index + 1 } : { batch: at.batch + 1, index: 0 };
  }
  return report;
}

async function main(): Promise<number> {
  const seconds = Number(process.env.FUZZ_SECONDS ?? 60);
  const seed =
    process.env.FUZZ_SEED === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.FUZZ_SEED);
  if (!(seconds > 0) || !Number.isInteger(seed)) {
    console.error('FUZZ_SECONDS must be a positive number and FUZZ_SEED an integer');
    return 2;
  }
  const targets = fuzzTargets();
  const failuresDir = path.join(tmpdir(), `hapos-upd-fuzz-${seed}`);
  console.log(`Fuzzing ${targets.length} targets for ${seconds} s, seed ${seed} (replay with FUZZ_SEED=${seed})`);
  let failed = false;
  for (const target of targets) {
    const report = await fuzzTarget(target, seed, (seconds * 1000) / targets.length);
    console.log(
      `${target.name}: ${report.tried} inputs, ${report.failures.length} failures, slowest ${report.slowestMs.toFixed(1)} ms (${report.slowestInput || 'none'})`,
    );
    for (const { failure, input } of report.failures) {
      failed = true;
      if (input === undefined) {
        console.log(`  FAILED (seed ${seed}): ${failure}`);
        continue;
      }
      mkdirSync(failuresDir, { recursive: true });
      const file = path.join(failuresDir, `${target.name}-${input.batch}-${input.index}.bin`);
      writeFileSync(file, input.bytes);
      console.log(`  FAILED (seed ${seed}, batch ${input.batch}, input ${input.index}): ${failure}`);
      console.log(`    input ${describeInput(input.bytes)}`);
      console.log(`    saved in ${file}`);
    }
  }
  console.log(failed ? `FAILED: replay with FUZZ_SEED=${seed}` : 'No failure.');
  return failed ? 1 : 0;
}

if (isMainThread) {
  process.exitCode = await main();
} else {
  runJob(workerData as Job);
}
