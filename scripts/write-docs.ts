// Renders what lib/cli/help.ts says as the man page and the bash and zsh
// completions, into dist/ (scripts/build.mjs runs this): the same options,
// values and words as `hapos-upd --help`, however the help changes.
import { mkdirSync, writeFileSync } from 'node:fs';
import { HELP, type OptionHelp } from '../lib/cli/help.ts';
import { PROGRAM_NAME } from '../lib/cli/program.ts';
import packageJson from '../package.json' with { type: 'json' };

/**
 * Text as roff prints it: a backslash is roff's escape, a line starting with
 * `.` or `'` would be a request, and `\-` is the minus sign an option can be
 * copied with (a bare `-` is a hyphen in UTF-8 output).
 */
const roff = (text: string) =>
  text
    .replaceAll('\\', '\\e')
    .replaceAll('-', '\\-')
    .replace(/^[.']/gm, '\\&$&')
    // An abbreviation ending a line ends no sentence, which roff would follow with two spaces.
    .replace(/\b(?:e\.g|i\.e)\.$/gm, '$&\\&');

const bold = (text: string) => `\\fB${roff(text)}\\fR`;
const italic = (text: string) => `\\fI${roff(text)}\\fR`;

function manOption({ short, long, value, text }: OptionHelp): string {
  const names = [...(short === undefined ? [] : [bold(`-${short}`)]), bold(`--${long}`)].join(', ');
  // .br: the text of a tag narrower than the indent (--json) would begin on the tag's line.
  return `.TP\n${names}${value === undefined ? '' : ` ${italic(value)}`}\n.br\n${roff(text)}`;
}

const manEntries = (entries: readonly (readonly [string, string])[]) =>
  entries.map(([name, meaning]) => `.TP\n${bold(name)}\n${roff(meaning)}`);

/** What `whatis` shows: the package's description up to its colon. */
const oneLine = packageJson.description.split(':')[0]!;

function manPage(): string {
  return [
    `.TH ${roff(PROGRAM_NAME.toUpperCase())} 1 "" "${roff(`${PROGRAM_NAME} ${packageJson.version}`)}" "User Commands"`,
    // Option names must stay whole, unhyphenated and unstretched, to be typed as read.
    '.nh',
    '.ad l',
    '.SH NAME',
    `${roff(PROGRAM_NAME)} \\- ${roff(oneLine)}`,
    '.SH SYNOPSIS',
    `${bold(PROGRAM_NAME)} ${roff(HELP.usage)}`,
    '.SH DESCRIPTION',
    `${roff(HELP.title)}.`,
    ...HELP.description.flatMap((paragraph) => ['.PP', roff(paragraph)]),
    '.SH OPTIONS',
    ...HELP.sections.flatMap(({ title, options }, index) => [
      // The help's first section, "Options", is the page's OPTIONS itself; the others its subsections.
      ...(index === 0 ? [] : [`.SS ${roff(title ?? 'Other options')}`]),
      ...options.map(manOption),
    ]),
    '.SH EXIT STATUS',
    ...manEntries(HELP.exitCodes),
    '.SH ENVIRONMENT',
    ...manEntries(HELP.environment),
    '.SH SEE ALSO',
    `${bold('haproxy')}(1), ${bold('openssl-ocsp')}(1)`,
    '',
  ].join('\n');
}

/** Every option once (`--json` is described in three sections, first as the update's), in the order of the help. */
const options = HELP.sections
  .flatMap((section) => section.options)
  .filter((option, index, all) => all.findIndex((other) => other.long === option.long) === index);

/** What a value is completed with: paths for a file (a socket too), directories for a directory, else nothing. */
const valueKind = (value: string) => (value === 'file' ? 'file' : value === 'dir' ? 'dir' : 'word');

const spellings = ({ short, long }: OptionHelp) => [...(short === undefined ? [] : [`-${short}`]), `--${long}`];

function bashCompletion(): string {
  const withValue = (kind: string) =>
    options.filter((option) => option.value !== undefined && valueKind(option.value) === kind).flatMap(spellings);
  const functionName = `_${PROGRAM_NAME.replaceAll('-', '_')}`;
  return `# bash completion for ${PROGRAM_NAME}, generated from its --help by scripts/write-docs.ts.
${functionName}() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD - 1]}
  COMPREPLY=()
  case $prev in
  ${withValue('file').join(' | ')})
    compopt -o default
    return
    ;;
  ${withValue('dir').join(' | ')})
    compopt -o dirnames
    return
    ;;
  ${withValue('word').join(' | ')})
    return
    ;;
  esac
  mapfile -t COMPREPLY < <(compgen -W '${options.flatMap(spellings).join(' ')}' -- "$cur")
}
complete -F ${functionName} ${PROGRAM_NAME}
`;
}

/** The help's first words about an option, up to its first pause, for zsh to show beside it. */
function summary(text: string): string {
  const [first = ''] = text.replaceAll('\n', ' ').split(/ \(|[.;:](?: |$)/);
  return first.replaceAll("'", "'\\''").replace(/[[\]]/g, '\\$&');
}

const zshAction = { file: '_files', dir: '_files -/', word: ' ' } as const;

/** One option for zsh's _arguments: `'*'{-c,--cert}'[may be given several times]:file:_files'`. */
function zshSpec(option: OptionHelp): string {
  const names = spellings(option);
  // A repeated option is never an error: some add up (--cert), the others take the last.
  const repeatable = option.value === undefined ? '' : '*';
  const quotedNames =
    names.length === 1 ? `'${repeatable}${names[0]}` : `${repeatable && `'${repeatable}'`}{${names.join(',')}}'`;
  const value = option.value === undefined ? '' : `:${option.value}:${zshAction[valueKind(option.value)]}`;
  return `${quotedNames}[${summary(option.text)}]${value}'`;
}

function zshCompletion(): string {
  return `#compdef ${PROGRAM_NAME}
# zsh completion for ${PROGRAM_NAME}, generated from its --help by scripts/write-docs.ts.
_arguments -s \\
${options.map((option) => `  ${zshSpec(option)}`).join(' \\\n')}
`;
}

mkdirSync('dist/man', { recursive: true });
mkdirSync('dist/completion', { recursive: true });
writeFileSync(`dist/man/${PROGRAM_NAME}.1`, manPage());
writeFileSync(`dist/completion/${PROGRAM_NAME}.bash`, bashCompletion());
writeFileSync(`dist/completion/_${PROGRAM_NAME}`, zshCompletion());
