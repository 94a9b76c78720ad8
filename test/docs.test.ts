// The man page and the shell completions `make build` renders from the help's
// data (scripts/write-docs.ts): each must name exactly the options --help does.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { run } from '../lib/process/run.ts';
import { runCli } from './helpers/cli.ts';

const built = (file: string) => fileURLToPath(new URL(`../dist/${file}`, import.meta.url));
const manPage = built('man/hapos-upd.1');
const bashCompletion = built('completion/hapos-upd.bash');
const zshCompletion = built('completion/_hapos-upd');

let help: string;

before(async () => {
  const result = await runCli(['-h']);
  assert.equal(result.exitCode, 0, result.stderr);
  help = result.stdout;
});

/** `-l, --syslog priority`, from the parts of a label. */
const label = (short: string | undefined, long: string, value: string | undefined) =>
  `${short ? `-${short}, ` : ''}--${long}${value ? ` ${value}` : ''}`;

/** Every option the help describes, as labelled there, once per description (`--json` has three). */
const helpLabels = () =>
  [...help.matchAll(/^ (?:-(\w), | {4})--([\w-]+)(?: (\w+))? +: /gm)].map(([, short, long, value]) =>
    label(short, long!, value),
  );

/** Every option in the long options of the help, each once. */
const helpOptionNames = () => [
  ...new Set(
    [...help.matchAll(/^ (?:-(\w), | {4})--([\w-]+)/gm)].flatMap(([, short, long]) => [
      ...(short ? [`-${short}`] : []),
      `--${long}`,
    ]),
  ),
];

test('the man page describes each option --help does, and no other, in the same order', async () => {
  // Wide enough that no option's tag wraps.
  const rendered = await run('man', ['-l', manPage], { env: { ...process.env, MANWIDTH: '200' } });
  assert.equal(rendered.exitCode, 0, rendered.stderr);
  const manLabels = [...rendered.stdout.matchAll(/^ {7}(?:-(\w), )?--([\w-]+)(?: (\w+))?$/gm)].map(
    ([, short, long, value]) => label(short, long!, value),
  );
  assert.ok(helpLabels().includes('-l, --syslog priority'), 'the help is read as laid out');
  assert.deepEqual(manLabels, helpLabels());
  assert.match(rendered.stdout, /^NAME\n {7}hapos-upd - Keeps HAProxy's stapled OCSP responses fresh$/m);
});

/** What the bash completion offers for a command line whose last word is being typed, and the compopt calls it made. */
async function bashCompletes(words: string[]): Promise<string[]> {
  const script = [
    // compopt only works while readline completes: stand-in that says what was asked.
    'compopt() { echo "compopt $*"; }',
    `source '${bashCompletion}'`,
    `COMP_WORDS=(hapos-upd ${words.map((word) => `'${word}'`).join(' ')})`,
    'COMP_CWORD=$((${#COMP_WORDS[@]} - 1))',
    '_hapos_upd',
    'printf "%s\\n" "${COMPREPLY[@]}"',
  ].join('\n');
  const result = await run('bash', ['-c', script]);
  assert.equal(result.exitCode, 0, result.stderr);
  return result.stdout.split('\n').filter((line) => line !== '');
}

test('bash completes every option of --help, and files, directories or nothing after one that takes a value', async () => {
  assert.deepEqual((await bashCompletes(['-'])).sort(), helpOptionNames().sort());
  assert.deepEqual(await bashCompletes(['--crt-']), ['--crt-list', '--crt-base']);
  assert.deepEqual(await bashCompletes(['--cert', '']), ['compopt -o default']);
  assert.deepEqual(await bashCompletes(['-d', '--crt-base', 'x']), ['compopt -o dirnames']);
  assert.deepEqual(await bashCompletes(['--timeout', '']), []);
});

test('zsh is given every option of --help once, each with a description, and a completion of its value', async () => {
  // _arguments stands in for zsh's own: it prints the specs as zsh would read them.
  const script = `_arguments() { shift; printf '%s\\n' "$@"; }\nsource '${zshCompletion}'`;
  const result = await run('zsh', ['-f', '-c', script]);
  assert.equal(result.exitCode, 0, result.stderr);
  const specs = result.stdout.split('\n').filter((line) => line !== '');
  const names = specs.map((spec) => {
    const [, repeatable, name, description, value] = /^(\*?)(-\w|--[\w-]+)\[((?:[^\\\]]|\\.)+)\](.*)$/.exec(spec) ?? [];
    assert.ok(name && description, `a spec zsh can read: ${spec}`);
    assert.equal(repeatable === '*', value !== '', `only options with a value may repeat: ${spec}`);
    if (value) assert.match(value, /^:\w+:(_files|_files -\/| )$/, spec);
    return name;
  });
  assert.deepEqual(names.sort(), helpOptionNames().sort());
  assert.ok(specs.includes("*--dir[every certificate of an HAProxy 'crt' directory]:dir:_files -/"));
  assert.ok(specs.includes("-d[don't do anything, print debug messages only]"));
});
