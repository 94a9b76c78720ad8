// Prometheus' text exposition format (version 0.0.4), as node_exporter's
// textfile collector reads it: gauges written, samples read back leniently
// from a file that may hold anything.
import { appendTo } from '../util/multimap.ts';

/** Label names and values in the order they are written. */
export type Labels = readonly (readonly [name: string, value: string])[];

interface GaugeSample {
  readonly labels: Labels;
  readonly value: number;
}

export interface Gauge {
  readonly name: string;
  readonly help: string;
  readonly samples: readonly GaugeSample[];
}

/** A label value as the format quotes it: a path may hold a backslash, a double quote or a line feed. */
const escapeLabelValue = (value: string) => value.replace(/[\\"\n]/g, (character) => LABEL_ESCAPES[character]!);

const LABEL_ESCAPES: Readonly<Record<string, string>> = { '\\': '\\\\', '"': '\\"', '\n': '\\n' };

function formatSample(name: string, { labels, value }: GaugeSample): string {
  const pairs = labels.map(([label, text]) => `${label}="${escapeLabelValue(text)}"`).join(',');
  return `${name}${pairs === '' ? '' : `{${pairs}}`} ${value}`;
}

/** Each gauge that has samples: its HELP and TYPE lines, then its samples; the file ends with a line feed. */
export function renderGauges(gauges: readonly Gauge[]): string {
  return gauges
    .filter((gauge) => gauge.samples.length > 0)
    .flatMap(({ name, help, samples }) => [
      `# HELP ${name} ${help}`,
      `# TYPE ${name} gauge`,
      ...samples.map((sample) => formatSample(name, sample)),
    ])
    .map((line) => `${line}\n`)
    .join('');
}

export interface ParsedSample {
  /** By label name; a Map, since a name such as `__proto__` is a valid label name. */
  readonly labels: ReadonlyMap<string, string>;
  readonly value: number;
}

const METRIC_NAME = /[a-zA-Z_:][a-zA-Z0-9_:]*/y;
const LABEL_NAME = /[a-zA-Z_][a-zA-Z0-9_]*/y;
const LABEL_UNESCAPES: ReadonlyMap<string, string> = new Map([
  ['\\', '\\'],
  ['"', '"'],
  ['n', '\n'],
]);

/**
 * The samples of the metrics NAMES in TEXT, by name. Whatever line is not a
 * well-formed sample of one of them, or has a value that is not a finite
 * number, is skipped: the text is a file from an earlier run, which anything
 * may have replaced. One pass over each line, so that its time is linear in
 * the size of the text.
 */
export function parseSamples(text: string, names: ReadonlySet<string>): Map<string, ParsedSample[]> {
  const found = new Map<string, ParsedSample[]>();
  for (const line of text.split('\n')) {
    const parsed = parseSampleLine(line, names);
    if (parsed !== undefined) appendTo(found, parsed.name, parsed.sample);
  }
  return found;
}

/** Reads `name{label="value",…} value [timestamp]`, or nothing. */
function parseSampleLine(line: string, names: ReadonlySet<string>): { name: string; sample: ParsedSample } | undefined {
  const name = matchAt(METRIC_NAME, line, 0);
  if (name === undefined || !names.has(name)) return undefined;
  let position = name.length;
  const labels = new Map<string, string>();
  if (line[position] === '{') {
    const end = readLabels(line, position + 1, labels);
    if (end === undefined) return undefined;
    position = end;
  }
  const [valueText, ...rest] = line
    .slice(position)
    .trim()
    .split(/[ \t]+/);
  if (valueText === undefined || valueText === '' || rest.length > 1) return undefined;
  const value = Number(valueText);
  if (!Number.isFinite(value)) return undefined;
  return { name, sample: { labels, value } };
}

/** Reads the labels after `{` into LABELS; the position after `}`, or undefined when they are malformed. */
function readLabels(line: string, start: number, labels: Map<string, string>): number | undefined {
  let position = start;
  for (;;) {
    if (line[position] === '}') return position + 1;
    const label = matchAt(LABEL_NAME, line, position);
    if (label === undefined || labels.has(label) || line[position + label.length] !== '=') return undefined;
    position += label.length + 1;
    if (line[position] !== '"') return undefined;
    let value = '';
    for (position++; line[position] !== '"'; position++) {
      const character = line[position];
      if (character === undefined) return undefined;
      if (character === '\\') {
        const escaped = LABEL_UNESCAPES.get(line[++position] ?? '');
        if (escaped === undefined) return undefined;
        value += escaped;
      } else {
        value += character;
      }
    }
    labels.set(label, value);
    position++;
    if (line[position] === ',') position++;
    else if (line[position] !== '}') return undefined;
  }
}

function matchAt(pattern: RegExp, text: string, position: number): string | undefined {
  pattern.lastIndex = position;
  return pattern.exec(text)?.[0];
}
