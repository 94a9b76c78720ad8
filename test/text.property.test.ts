// Property tests of the text scanners that read foreign files and replies:
// PEM bundles (real certificates and keys among floods of BEGIN lines and
// junk), crt-lists and HAProxy replies. Each input is read in under 100 ms
// without an exception other than the scanner's own; what was written is
// read back (PEM as the lazy regular expressions read it before).
import { describe, test } from 'node:test';
import { assertTargetHolds, fuzzTargets, PROPERTY_SEED } from './helpers/fuzz-targets.ts';

/** Inputs per target: about 2 s each on this project's 2-core machine. */
const runs: Readonly<Record<string, number>> = {
  pem: 1500,
  'crt-list': 600,
  'haproxy-replies': 1500,
};

describe(`text scanners on hostile text (seed ${PROPERTY_SEED})`, { concurrency: 1 }, () => {
  const targets = fuzzTargets();
  for (const target of targets.filter((candidate) => candidate.name in runs)) {
    test(`${target.name}: ${runs[target.name]} inputs, each read in under 100 ms, what was written read back`, () =>
      assertTargetHolds(target, runs[target.name]!));
  }

  test('haproxy-one-line: 300 replies, each on one line in under 100 ms', () =>
    assertTargetHolds(
      targets.find((target) => target.name === 'haproxy-one-line')!,
      300,
      { endOnFailure: true },
    ));
});
