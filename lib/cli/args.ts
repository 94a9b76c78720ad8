import { availableParallelism } from 'node:os';
import yargs from 'yargs';
import {
  defaultDeadlineSeconds,
  DEFAULT_LOCK_TIMEOUT_SECONDS,
  DEFAULT_MIN_JOBS,
  DEFAULT_RELOAD_COMMAND,
  DEFAULT_RETRIES,
  DEFAULT_SOCKET,
  DEFAULT_TIMEOUT_SECONDS,
  DEFAULT_WARN_DAYS,
  DEFAULT_WARN_HOURS,
} from './defaults.ts';
import type { UpdateOptions } from '../update/context.ts';

/** The settings the command line hands each certificate's update as they are. */
type UpdateSettings = Pick<
  UpdateOptions,
  | 'goodOnly'
  | 'ocspUrl'
  | 'ocspHost'
  | 'ocspProxy'
  | 'partialChain'
  | 'verify'
  | 'skipUpdate'
  | 'timeoutSeconds'
  | 'retries'
  | 'lockTimeoutSeconds'
  | 'deadlineSeconds'
  | 'skipFresh'
  | 'nonce'
  | 'get'
>;

/** What carries the requests to the responders (`--http-client`, `--use-curl`). */
type HttpClientName = 'openssl' | 'curl' | 'builtin';

/** What the command line asks for, before any file or binary is looked at. */
export interface CliOptions extends UpdateSettings {
  readonly certs: readonly string[];
  readonly debug: boolean;
  readonly keepTemp: boolean;
  readonly syslogPriority?: string;
  /** Chosen on the command line; otherwise a single `--cert` uses OpenSSL's client and a batch the built-in one. */
  readonly httpClient?: HttpClientName;
  /** `--post`: never GET, not even where a batch would ask by GET first. */
  readonly post: boolean;
  readonly sockets: readonly string[];
  /** `--VAfile`: a file, or `-` for the chain. */
  readonly vaFile?: string;
  /** Restarts HAProxy when a response cannot be stapled at run time. */
  readonly reloadCommand: string;
  /** Talk to HAProxy through socat instead of a native socket. */
  readonly useSocat: boolean;
  readonly dirs: readonly string[];
  readonly crtLists: readonly string[];
  /** HAProxy's `crt-base`: where relative crt-list paths point. */
  readonly crtBase?: string;
  /** Certificates in flight at once. */
  readonly jobs: number;
  readonly json: boolean;
  readonly quiet: boolean;
  /** `--check`: lint and dry-run the bundles, report findings, change nothing. */
  readonly check: boolean;
  readonly caFile?: string;
  readonly warnDays: number;
  readonly requireOcsp: boolean;
  /** Warnings fail a check too. */
  readonly strict: boolean;
  readonly junitFile?: string;
  /** `--status`: what each HAProxy staples, compared with the files on disk; nothing changed. */
  readonly status: boolean;
  /** A good staple with this little left is expiring. */
  readonly warnHours: number;
  /** `--metrics`: the Prometheus textfile written after the run. */
  readonly metricsFile?: string;
}

export type ParsedCommandLine =
  | { readonly kind: 'run'; readonly options: CliOptions }
  | { readonly kind: 'help' }
  | { readonly kind: 'version' }
  | { readonly kind: 'error'; readonly message: string };

type NumberRange = readonly [minimum: number, maximum: number];

/** What each numeric option accepts: beyond these, a value is a typo, not a wish. */
const ranges = {
  timeout: [1, 3600],
  retries: [0, 10],
  lockTimeout: [0, 86_400],
  deadline: [1, 86_400],
  jobs: [1, 1024],
  warnDays: [0, 3650],
  warnHours: [0, 8760],
} as const satisfies Record<string, NumberRange>;

/** One per CPU, and at least DEFAULT_MIN_JOBS: much of a certificate's time is spent waiting on its responder. */
const defaultJobs = () => Math.min(ranges.jobs[1], Math.max(DEFAULT_MIN_JOBS, availableParallelism()));

const valueOptions = {
  syslog: { alias: 'l' },
  'ocsp-url': {},
  'ocsp-host': {},
  'ocsp-proxy': {},
  'http-client': {},
  socket: { alias: 's' },
  VAfile: { alias: 'v' },
  cert: { alias: 'c' },
  timeout: {},
  retries: {},
  'lock-timeout': {},
  deadline: {},
  'reload-cmd': {},
  dir: {},
  'crt-list': {},
  'crt-base': {},
  jobs: {},
  'ca-file': {},
  'warn-days': {},
  junit: {},
  'warn-hours': {},
  metrics: {},
} as const;

const flagOptions = {
  debug: { alias: 'd' },
  'keep-temp': {},
  'good-only': { alias: 'g' },
  'use-curl': {},
  'partial-chain': {},
  noverify: {},
  'skip-update': { alias: 'S' },
  socat: {},
  'skip-fresh': {},
  nonce: {},
  get: {},
  post: {},
  json: {},
  quiet: { alias: 'q' },
  check: {},
  'require-ocsp': {},
  strict: {},
  status: {},
  help: { alias: 'h' },
  version: {},
} as const;

function buildParser() {
  const parser = yargs().strict().help(false).version(false).parserConfiguration({
    'boolean-negation': false,
    'camel-case-expansion': false,
    'dot-notation': false,
    'duplicate-arguments-array': true,
  });
  for (const [name, settings] of Object.entries(valueOptions)) {
    parser.option(name, { ...settings, type: 'string', requiresArg: true });
  }
  for (const [name, settings] of Object.entries(flagOptions)) {
    parser.option(name, { ...settings, type: 'boolean' });
  }
  return parser;
}

/**
 * Turns argv into options or a one-line error worded as the original's
 * (`unknown option: X`, `mandatory value is missing for X argument`). Pure:
 * yargs' parse callback neither prints nor exits.
 */
export function parseCommandLine(argv: readonly string[]): ParsedCommandLine {
  let parsed: ParsedCommandLine = { kind: 'error', message: 'unparsed command line' };
  buildParser().parse([...argv], {}, (error, args) => {
    if (!error) parsed = toParsed(args);
    else if (helpComesFirst(argv)) parsed = { kind: 'help' };
    else parsed = { kind: 'error', message: describeYargsError(error.message, argv) };
  });
  return parsed;
}

/**
 * The original reads its options in order and answers `-h` on the spot: a
 * `-h` before a faulty option is help, exit 0. Values of known options are
 * skipped, so `--cert -h` is not help.
 */
function helpComesFirst(argv: readonly string[]): boolean {
  const spellings = (options: Record<string, { readonly alias?: string }>) =>
    new Set(Object.entries(options).flatMap(([name, { alias }]) => [`--${name}`, ...(alias ? [`-${alias}`] : [])]));
  const takesValue = spellings(valueOptions);
  const flags = spellings(flagOptions);
  for (let index = 0; index < argv.length; index++) {
    const token = argv[index]!;
    if (token === '-h' || token === '--help') return true;
    if (takesValue.has(token)) index++;
    else if (!flags.has(token)) return false;
  }
  return false;
}

type Arguments = Record<string, unknown>;

/** A value yargs accepted but the options do not. */
class ArgumentError extends Error {}

function toParsed(args: Arguments): ParsedCommandLine {
  if (args.help === true) return { kind: 'help' };
  if (args.version === true) return { kind: 'version' };
  try {
    return { kind: 'run', options: toOptions(args) };
  } catch (error) {
    if (error instanceof ArgumentError) return { kind: 'error', message: error.message };
    throw error;
  }
}

/** How an option's values are read from what yargs parsed. */
function readerOf(args: Arguments) {
  const all = (name: string): string[] => {
    const value = args[name];
    if (value === undefined) return [];
    return (Array.isArray(value) ? value : [value]).map(String);
  };
  const last = (name: string) => all(name).at(-1);
  // The original tests these with `[ -z "$VAR" ]`: an empty value is no value.
  const lastNonEmpty = (name: string) => last(name) || undefined;
  // Bounded above too: a timer of 2^31 ms or more fires at once, and 1e308 is no duration.
  const wholeNumber = (name: string, fallback: number, [minimum, maximum]: NumberRange): number => {
    const text = last(name);
    if (text === undefined) return fallback;
    const value = Number(text);
    if (/^\s*\d+\s*$/.test(text) && value >= minimum && value <= maximum) return value;
    throw new ArgumentError(`--${name} wants a whole number from ${minimum} to ${maximum}, got: ${text}`);
  };
  return { all, last, lastNonEmpty, wholeNumber };
}

function toOptions(args: Arguments): CliOptions {
  const { all, last, lastNonEmpty, wholeNumber } = readerOf(args);
  const sockets = all('socket');
  const status = args.status === true;
  if (status) checkStatusArguments(args, sockets);
  const timeoutSeconds = wholeNumber('timeout', DEFAULT_TIMEOUT_SECONDS, ranges.timeout);
  const retries = wholeNumber('retries', DEFAULT_RETRIES, ranges.retries);
  return {
    certs: all('cert').filter((cert) => cert !== ''),
    debug: args.debug === true,
    keepTemp: args['keep-temp'] === true,
    goodOnly: args['good-only'] === true,
    syslogPriority: lastNonEmpty('syslog'),
    ocspUrl: lastNonEmpty('ocsp-url'),
    ocspHost: lastNonEmpty('ocsp-host'),
    ocspProxy: lastNonEmpty('ocsp-proxy'),
    httpClient: httpClientOf(args['use-curl'] === true, last('http-client'), args.get === true),
    partialChain: args['partial-chain'] === true,
    sockets: sockets.length > 0 ? sockets : [DEFAULT_SOCKET],
    vaFile: last('VAfile'),
    verify: args.noverify !== true,
    skipUpdate: args['skip-update'] === true,
    timeoutSeconds,
    retries,
    lockTimeoutSeconds: wholeNumber('lock-timeout', DEFAULT_LOCK_TIMEOUT_SECONDS, ranges.lockTimeout),
    deadlineSeconds: wholeNumber('deadline', defaultDeadlineSeconds(timeoutSeconds, retries), ranges.deadline),
    reloadCommand: last('reload-cmd') ?? DEFAULT_RELOAD_COMMAND,
    useSocat: args.socat === true,
    dirs: all('dir'),
    crtLists: all('crt-list'),
    crtBase: last('crt-base'),
    skipFresh: args['skip-fresh'] === true,
    nonce: args.nonce === true,
    get: args.get === true,
    post: requestMethodIsPost(args),
    jobs: wholeNumber('jobs', defaultJobs(), ranges.jobs),
    json: args.json === true,
    quiet: args.quiet === true,
    check: args.check === true,
    caFile: last('ca-file'),
    warnDays: wholeNumber('warn-days', DEFAULT_WARN_DAYS, ranges.warnDays),
    requireOcsp: args['require-ocsp'] === true,
    strict: args.strict === true,
    junitFile: last('junit'),
    status,
    warnHours: wholeNumber('warn-hours', DEFAULT_WARN_HOURS, ranges.warnHours),
    metricsFile: last('metrics'),
  };
}

/** `--post`, which `--get` contradicts. */
function requestMethodIsPost(args: Arguments): boolean {
  const post = args.post === true;
  if (post && args.get === true) throw new ArgumentError('--get cannot be combined with --post');
  return post;
}

const httpClientNames: readonly HttpClientName[] = ['openssl', 'curl', 'builtin'];

/** `--http-client`, or `--use-curl` (the original's way to name curl); the two must not disagree. */
function httpClientOf(useCurl: boolean, named: string | undefined, get: boolean): HttpClientName | undefined {
  const client = httpClientNames.find((name) => name === named);
  if (named !== undefined && client === undefined) {
    throw new ArgumentError(`--http-client wants openssl, curl or builtin, got: ${named}`);
  }
  if (useCurl && client !== undefined && client !== 'curl') {
    throw new ArgumentError(`--use-curl cannot be combined with --http-client ${client}`);
  }
  const chosen = useCurl ? 'curl' : client;
  if (get && chosen === 'openssl') {
    throw new ArgumentError("--get cannot be combined with --http-client openssl: OpenSSL's client sends POST only");
  }
  return chosen;
}

/** Options that choose certificates or another mode mean a mistake next to `--status`, which reads what HAProxy serves. */
const notWithStatus = ['cert', 'dir', 'crt-list', 'check'] as const;

/** A monitoring check names the HAProxy it watches: the default socket is the update's, as in the original. */
function checkStatusArguments(args: Arguments, sockets: readonly string[]): void {
  const conflicting = notWithStatus.find((name) => args[name] !== undefined && args[name] !== false);
  if (conflicting !== undefined) throw new ArgumentError(`--status cannot be combined with --${conflicting}`);
  if (sockets.length === 0) throw new ArgumentError('--status needs at least one --socket');
}

/**
 * The `-l`/`--syslog` priority of a command line that did not parse: the
 * original reads its options one by one, so an error in another option still
 * goes to syslog.
 */
export function syslogPriorityIn(argv: readonly string[]): string | undefined {
  let priority: string | undefined;
  argv.forEach((token, index) => {
    const value = argv[index + 1];
    if ((token === '-l' || token === '--syslog') && value !== undefined) priority = value || undefined;
  });
  return priority;
}

/** Rewords yargs' messages, naming the option as the user typed it. */
function describeYargsError(message: string, argv: readonly string[]): string {
  const missing = /^Not enough arguments following: (.+)$/.exec(message);
  if (missing) return `mandatory value is missing for ${asTyped(missing[1]!, argv)} argument`;
  const unknown = /^Unknown arguments?: (.+)$/.exec(message);
  if (unknown) return `unknown option: ${asTyped(unknown[1]!.split(', ')[0]!, argv)}`;
  return message;
}

function asTyped(name: string, argv: readonly string[]): string {
  const spellings = [`--${name}`, `-${name}`, name];
  const typed = argv.find((token) =>
    spellings.some((spelling) => token === spelling || token.startsWith(`${spelling}=`)),
  );
  if (typed !== undefined) return typed.split('=')[0]!;
  return name.length === 1 ? `-${name}` : `--${name}`;
}
