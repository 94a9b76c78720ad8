// Reading a --metrics file as Prometheus would: with the Prometheus project's
// own parser (prometheus_client, Debian's python3-prometheus-client), and
// line by line against the text format's grammar, which that parser is more
// lenient about than node_exporter's (a trailing word after the value, a
// series written twice).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { run } from '../../lib/process/run.ts';

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface MetricFamily {
  readonly name: string;
  readonly type: string;
  readonly documentation: string;
  readonly samples: readonly Sample[];
}

// Debian's python3, where python3-prometheus-client is installed, whatever else PATH has first.
const PYTHON = '/usr/bin/python3';

const PARSE = `
import json, sys
from prometheus_client.parser import text_string_to_metric_families
with open(sys.argv[1], encoding='utf-8') as file:
    families = text_string_to_metric_families(file.read())
    print(json.dumps([
        {'name': f.name, 'type': f.type, 'documentation': f.documentation,
         'samples': [{'name': s.name, 'labels': s.labels, 'value': s.value} for s in f.samples]}
        for f in families
    ]))
`;

const METRIC_NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"';
const SAMPLE_LINE = new RegExp(
  `^(${METRIC_NAME})(\\{${LABEL}(?:,${LABEL})*\\})? (-?\\d+(?:\\.\\d+)?(?:e[+-]?\\d+)?|[+-]Inf|NaN)$`,
);

/** FILE's metric families, after checking that every line keeps to the format and every series is written once. */
export async function parseMetricsFile(file: string): Promise<MetricFamily[]> {
  const text = await readFile(file, 'utf8');
  assertWellFormed(text);
  const parsed = await run(PYTHON, ['-c', PARSE, file]);
  assert.equal(parsed.exitCode, 0, `prometheus_client refused ${file}: ${parsed.stderr}\n${text}`);
  return JSON.parse(parsed.stdout) as MetricFamily[];
}

function assertWellFormed(text: string): void {
  assert.ok(text.endsWith('\n'), 'the file ends with a line feed');
  const described = new Map<string, string[]>();
  const series = new Set<string>();
  for (const line of text.slice(0, -1).split('\n')) {
    const comment = /^# (HELP|TYPE) (\S+) (.+)$/.exec(line);
    if (comment !== null) {
      const [, keyword, name] = comment;
      const seen = described.get(name!) ?? [];
      assert.ok(!seen.includes(keyword!), `one ${keyword} line for ${name}`);
      described.set(name!, [...seen, keyword!]);
      if (keyword === 'TYPE') assert.equal(comment[3], 'gauge', line);
      continue;
    }
    const sample = SAMPLE_LINE.exec(line);
    assert.ok(sample !== null, `not a sample line: ${JSON.stringify(line)}`);
    assert.deepEqual(described.get(sample[1]!), ['HELP', 'TYPE'], `HELP and TYPE come before ${sample[1]}`);
    const key = `${sample[1]}${sample[2] ?? ''}`;
    assert.ok(!series.has(key), `series written twice: ${key}`);
    series.add(key);
  }
}

/** The samples of NAME whose labels include LABELS. */
export function samplesOf(
  families: readonly MetricFamily[],
  name: string,
  labels: Readonly<Record<string, string>> = {},
): Sample[] {
  return families
    .flatMap((family) => family.samples)
    .filter(
      (sample) =>
        sample.name === name && Object.entries(labels).every(([label, value]) => sample.labels[label] === value),
    );
}

/** The value of the one sample of NAME whose labels include LABELS; fails when there is none or several. */
export function valueOf(
  families: readonly MetricFamily[],
  name: string,
  labels: Readonly<Record<string, string>> = {},
): number {
  const found = samplesOf(families, name, labels);
  assert.equal(found.length, 1, `one sample of ${name} ${JSON.stringify(labels)}, found ${JSON.stringify(found)}`);
  return found[0]!.value;
}
