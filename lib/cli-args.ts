import { availableParallelism } from 'node:os';
import yargs from 'yargs';
import { PROGRAM_NAME } from './run-log.ts';

/** What the command line asks for, before any file or binary is looked at. */
export interface CliOptions {
  readonly certs: readonly string[];
  readonly debug: boolean;
  readonly keepTemp: boolean;
  readonly goodOnly: boolean;
  readonly syslogPriority?: string;
  readonly ocspUrl?: string;
  readonly ocspHost?: string;
  readonly ocspProxy?: string;
  readonly useCurl: boolean;
  readonly partialChain: boolean;
  readonly sockets: readonly string[];
  readonly vaFile?: string;
  readonly verify: boolean;
  readonly skipUpdate: boolean;
  readonly timeoutSeconds: number;
  readonly retries: number;
  readonly lockTimeoutSeconds: number;
  /** Restarts HAProxy when a response cannot be stapled at run time. */
  readonly reloadCommand: string;
  /** Talk to HAProxy through socat instead of a native socket. */
  readonly useSocat: boolean;
  readonly dirs: readonly string[];
  readonly crtLists: readonly string[];
  readonly skipFresh: boolean;
  /** Certificates in flight at once. */
  readonly jobs: number;
  readonly json: boolean;
  readonly quiet: boolean;
}

export type ParsedCommandLine =
  | { readonly kind: 'run'; readonly options: CliOptions }
  | { readonly kind: 'help' }
  | { readonly kind: 'version' }
  | { readonly kind: 'error'; readonly message: string };

export const DEFAULT_SOCKET = '/run/haproxy/admin.sock';
const DEFAULT_TIMEOUT_SECONDS = 10;
const DEFAULT_RETRIES = 2;
const DEFAULT_LOCK_TIMEOUT_SECONDS = 30;
export const DEFAULT_RELOAD_COMMAND = 'service haproxy reload';
/** One per CPU, and at least two: most of a certificate's time is spent waiting on openssl or the network. */
const defaultJobs = () => Math.max(2, availableParallelism());

const valueOptions = {
  syslog: { alias: 'l' },
  'ocsp-url': {},
  'ocsp-host': {},
  'ocsp-proxy': {},
  socket: { alias: 's' },
  VAfile: { alias: 'v' },
  cert: { alias: 'c' },
  timeout: {},
  retries: {},
  'lock-timeout': {},
  'reload-cmd': {},
  dir: {},
  'crt-list': {},
  jobs: {},
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
  json: {},
  quiet: { alias: 'q' },
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
    parsed = error ? { kind: 'error', message: describeYargsError(error.message, argv) } : toParsed(args);
  });
  return parsed;
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

function toOptions(args: Arguments): CliOptions {
  const all = (name: string): string[] => {
    const value = args[name];
    if (value === undefined) return [];
    return (Array.isArray(value) ? value : [value]).map(String);
  };
  const last = (name: string) => all(name).at(-1);
  const wholeNumber = (name: string, fallback: number, minimum: number): number => {
    const text = last(name);
    if (text === undefined) return fallback;
    const value = Number(text);
    if (text.trim() !== '' && Number.isInteger(value) && value >= minimum) return value;
    throw new ArgumentError(`--${name} wants a whole number ${minimum > 0 ? 'above 0' : 'of 0 or more'}, got: ${text}`);
  };
  const sockets = all('socket');
  return {
    certs: all('cert'),
    debug: args.debug === true,
    keepTemp: args['keep-temp'] === true,
    goodOnly: args['good-only'] === true,
    syslogPriority: last('syslog'),
    ocspUrl: last('ocsp-url'),
    ocspHost: last('ocsp-host'),
    ocspProxy: last('ocsp-proxy'),
    useCurl: args['use-curl'] === true,
    partialChain: args['partial-chain'] === true,
    sockets: sockets.length > 0 ? sockets : [DEFAULT_SOCKET],
    vaFile: last('VAfile'),
    verify: args.noverify !== true,
    skipUpdate: args['skip-update'] === true,
    timeoutSeconds: wholeNumber('timeout', DEFAULT_TIMEOUT_SECONDS, 1),
    retries: wholeNumber('retries', DEFAULT_RETRIES, 0),
    lockTimeoutSeconds: wholeNumber('lock-timeout', DEFAULT_LOCK_TIMEOUT_SECONDS, 0),
    reloadCommand: last('reload-cmd') ?? DEFAULT_RELOAD_COMMAND,
    useSocat: args.socat === true,
    dirs: all('dir'),
    crtLists: all('crt-list'),
    skipFresh: args['skip-fresh'] === true,
    jobs: wholeNumber('jobs', defaultJobs(), 1),
    json: args.json === true,
    quiet: args.quiet === true,
  };
}

/** Rewords yargs' messages, naming the option as the user typed it. */
export function describeYargsError(message: string, argv: readonly string[]): string {
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

export const HELP_TEXT = `
HAProxy OCSP Stapling Updater (TypeScript) - ${PROGRAM_NAME}

Usage:
 ${PROGRAM_NAME} [options] --cert crt_full_path

This program extracts and queries the OCSP server present in a
certificate to obtain its revocation status, then updates HAProxy by
writing the '.issuer' and the '.ocsp' files and by sending it the
'set ssl ocsp-response' command through the admin socket.

The crt_full_path argument is the full path to the certificate bundle
used in haproxy 'crt' setting. End-entity (EE) certificate plus any
intermediate CA certificates must be concatenated there.
An OCSP query is sent to the OCSP server given on the command line
(--ocsp-url and --ocsp-host argument); if these arguments are missing,
URL and Host header values are automatically extracted from the
certificate.
If the '.issuer' file already exists it's used to build the OCSP
request, otherwise the chain is extracted from crt_full_path and used
to identify the issuer.
Finally, it writes the related '.issuer' and '.ocsp' files and updates
haproxy through its admin socket (--socket argument, default
${DEFAULT_SOCKET}).

Exit codes:
 0       OK
 1       openssl certificates handling error
 2       OCSP server URL not found
 3       string parsing / PEM manipulation error
 4       OCSP error
 5       haproxy management error
 9       program error (wrong arguments, missing dependencies)

Options:

 -d, --debug           : don't do anything, print debug messages only.

     --keep-temp       : keep temporary directory after exiting (for
                         debug purposes).

 -g, --good-only       : do not update haproxy if OCSP response
                         certificate status value is not 'good'.

 -l, --syslog priority : log errors to syslog system log module.
                         The priority may be specified numerically
                         or as a facility.level pair (e.g.
                         local7.error).

     --ocsp-url url    : OCSP server URL; use this instead of the
                         one in the EE certificate.

     --ocsp-host host  : OCSP server hostname to be used in the
                         'Host:' header; use this instead of the one
                         extracted from the OCSP server URL.

     --ocsp-proxy proxy : OCSP server proxy; use this to reach OCSP server
                         through an HTTP proxy (http[s]://host:port).

     --use-curl        : Uses curl instead of OpenSSL's basic HTTP client.
                         This is useful for networks with complex proxy setups.

     --partial-chain   : Allow partial certificate chain if at least one certificate
                         is in trusted store. Useful when validating an intermediate
                         certificate without the root CA.

 -s, --socket file     : haproxy admin socket. If omitted,
                         ${DEFAULT_SOCKET} is used by default.

 -v, --VAfile file     : same as the openssl ocsp -VAfile option
                         with 'file' as argument. For more details:
                         'man ocsp'.
                         If file = "-" then the chain extracted
                         from the certificate's bundle (or .issuer
                         file) is used (useful for OCSP responses
                         that don't include the signer certificate).

     --noverify        : Do not verify OCSP response.

 -S, --skip-update     : Do not notify haproxy of the new OCSP response.

     --timeout seconds : give up an OCSP HTTP exchange after this many
                         seconds (default ${DEFAULT_TIMEOUT_SECONDS}).

     --retries n       : retry a failed OCSP exchange (no answer, server
                         error, 'tryLater') n times with growing pauses
                         (default ${DEFAULT_RETRIES}).

     --lock-timeout seconds : wait this long for another run on the same
                         certificate to finish (default ${DEFAULT_LOCK_TIMEOUT_SECONDS}), then exit 9.

     --reload-cmd cmd  : command that reloads HAProxy when a first response
                         cannot be stapled at run time (HAProxy older than
                         2.2, or a certificate it does not list); default
                         '${DEFAULT_RELOAD_COMMAND}'.

     --socat           : talk to the admin socket through socat, as the
                         original did, instead of a native connection.

Many certificates:

 -c, --cert file       : may be given several times.

     --dir dir         : every certificate of an HAProxy 'crt' directory
                         (.key, .issuer, .ocsp, .sctl files are skipped).

     --crt-list file   : every certificate of an HAProxy crt-list.

     --skip-fresh      : leave alone certificates whose response in place
                         is valid and has more than half of its validity
                         (and more than an hour) ahead.

     --jobs n          : certificates processed at once (default: one per
                         CPU, at least 2); at most 4 requests at a time go
                         to one OCSP responder.

     --json            : print one JSON document with every result.

 -q, --quiet           : print errors only.

     --version         : print the version and exit.

 -h, --help            : this help.

Environment:
 OPENSSL_BIN           : the openssl binary (default: openssl).
 CURL_BIN              : the curl binary for --use-curl (default: curl).
`;
