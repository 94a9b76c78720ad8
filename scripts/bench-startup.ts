// Start-up of the single executable beside `node -e 0` (`make bench-startup`):
// the median wall time of BENCH_STARTUP_RUNS runs (default 10) of each
// command, taken in turns so that a busy moment weighs on all alike. The
// npm package's, run by node, is timed too.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

const runs = Number(process.env.BENCH_STARTUP_RUNS ?? 10);
const executable = `dist/hapos-upd-${process.platform}-${process.arch}`;
if (!existsSync(executable)) throw new Error(`${executable} is missing: make sea builds it`);
const scratch = await mkdtemp(path.join(tmpdir(), 'hapos-upd-bench-'));
// A run's own start: parse, temp dir, openssl found, then exit 1 on a bundle that is not there.
const run = ['-S', '--cert', path.join(scratch, 'missing.pem')];

const commands: readonly (readonly [label: string, command: string, args: readonly string[], exitCode: number])[] = [
  ['node -e 0', process.execPath, ['-e', '0'], 0],
  ['executable --version', executable, ['--version'], 0],
  ['executable --help', executable, ['--help'], 0],
  ['executable -S --cert missing.pem', executable, run, 1],
  ['npm package --version', process.execPath, ['dist/hapos-upd.js', '--version'], 0],
  ['npm package -S --cert missing.pem', process.execPath, ['dist/hapos-upd.js', ...run], 1],
];

const timesMs = commands.map((): number[] => []);
try {
  for (let round = 0; round < runs; round++) {
    commands.forEach(([label, command, args, exitCode], index) => {
      const started = process.hrtime.bigint();
      const result = spawnSync(command, args, { stdio: 'ignore' });
      timesMs[index]!.push(Number(process.hrtime.bigint() - started) / 1e6);
      if (result.status !== exitCode) throw new Error(`${label}: exit ${result.status ?? result.signal}`);
    });
  }
} finally {
  await rm(scratch, { recursive: true, force: true });
}

const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};
const medians = timesMs.map(median);
console.log(`median of ${runs} runs, Node ${process.version}`);
commands.forEach(([label], index) => {
  const ratio = medians[index]! / medians[0]!;
  console.log(`${label.padEnd(34)} ${medians[index]!.toFixed(1).padStart(7)} ms  ${ratio.toFixed(2)}× node -e 0`);
});
