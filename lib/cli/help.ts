// The help text. Kept apart from the argument parser so that
// `hapos-upd --help` loads nothing heavy. Written as data, from which the
// help text here and, at build time, the man page and the shell completions
// (scripts/write-docs.ts) are rendered, so that they never disagree.
import { PROGRAM_NAME } from './program.ts';
import * as defaults from './defaults.ts';

/** One option as the help describes it; its text wrapped as the help prints it. */
export interface OptionHelp {
  readonly short?: string;
  readonly long: string;
  /** What its value is called; a flag has none. */
  readonly value?: string;
  readonly text: string;
}

/** Options under a heading; the general ones at the end have none, and the help lists them under the one before. */
interface OptionSection {
  readonly title?: string;
  readonly options: readonly OptionHelp[];
}

/** A name and what it means: an exit code, an environment variable. */
type Entry = readonly [name: string, meaning: string];

interface Help {
  readonly title: string;
  readonly usage: string;
  /** Paragraphs, each wrapped as the help prints it. */
  readonly description: readonly string[];
  readonly exitCodes: readonly Entry[];
  readonly sections: readonly OptionSection[];
  readonly environment: readonly Entry[];
}

export const HELP: Help = {
  title: 'HAProxy OCSP Stapling Updater (TypeScript)',
  usage: '[options] --cert crt_full_path',
  description: [
    `This program extracts and queries the OCSP server present in a
certificate to obtain its revocation status, then updates HAProxy by
writing the '.issuer' and the '.ocsp' files and by sending it the
'set ssl ocsp-response' command through the admin socket.`,
    `The crt_full_path argument is the full path to the certificate bundle
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
${defaults.DEFAULT_SOCKET}).`,
  ],
  exitCodes: [
    ['0', 'OK'],
    ['1', 'openssl certificates handling error'],
    ['2', 'OCSP server URL not found'],
    ['3', 'string parsing / PEM manipulation error'],
    ['4', 'OCSP error'],
    ['5', 'haproxy management error'],
    ['6', '--status: a staple expires within --warn-hours'],
    ['7', '--status: a staple is missing, expired, revoked or unknown'],
    ['9', 'program error (wrong arguments, missing dependencies)'],
  ],
  sections: [
    {
      title: 'Options',
      options: [
        { short: 'd', long: 'debug', text: "don't do anything, print debug messages only." },
        {
          long: 'keep-temp',
          text: `keep temporary directory after exiting (for
debug purposes).`,
        },
        {
          short: 'g',
          long: 'good-only',
          text: `do not update haproxy if OCSP response
certificate status value is not 'good'.`,
        },
        {
          short: 'l',
          long: 'syslog',
          value: 'priority',
          text: `log errors to syslog system log module.
The priority may be specified numerically
or as a facility.level pair (e.g.
local7.error).`,
        },
        {
          long: 'ocsp-url',
          value: 'url',
          text: `OCSP server URL; use this instead of the
one in the EE certificate.`,
        },
        {
          long: 'ocsp-host',
          value: 'host',
          text: `OCSP server hostname to be used in the
'Host:' header; use this instead of the one
extracted from the OCSP server URL.`,
        },
        {
          long: 'ocsp-proxy',
          value: 'proxy',
          text: `OCSP server proxy; use this to reach OCSP server
through an HTTP proxy (http[s]://host:port).`,
        },
        {
          long: 'use-curl',
          text: `Uses curl instead of OpenSSL's basic HTTP client.
This is useful for networks with complex proxy setups.`,
        },
        {
          long: 'partial-chain',
          text: `Allow partial certificate chain if at least one certificate
is in trusted store. Useful when validating an intermediate
certificate without the root CA.`,
        },
        {
          short: 's',
          long: 'socket',
          value: 'file',
          text: `haproxy admin socket. If omitted,
${defaults.DEFAULT_SOCKET} is used by default.`,
        },
        {
          short: 'v',
          long: 'VAfile',
          value: 'file',
          text: `same as the openssl ocsp -VAfile option
with 'file' as argument. For more details:
'man ocsp'.
If file = "-" then the chain extracted
from the certificate's bundle (or .issuer
file) is used (useful for OCSP responses
that don't include the signer certificate).`,
        },
        { long: 'noverify', text: 'Do not verify OCSP response.' },
        {
          long: 'nonce',
          text: `send a nonce in the OCSP request and accept only
a response that carries it back (exit 4
otherwise), for responders that refuse requests
without one. A response made for a nonce cannot
be cached: CDNs and RFC 5019 responders may
ignore the nonce or refuse the request.`,
        },
        {
          long: 'http-client',
          value: 'c',
          text: `what sends the OCSP request: openssl (its basic
client; the default for a single --cert),
builtin (HTTP/1.1 whose connections stay open
across a batch, so that a request costs one round
trip instead of two; the default for several
certificates and with --get) or curl (as
--use-curl). builtin speaks http:// only: an
https:// responder or proxy is asked by openssl.`,
        },
        {
          long: 'get',
          text: `ask with GET (RFC 5019: the request, base64 and
URL-encoded, appended to the URL) when the URL
stays within 255 bytes, so that a CDN before the
responder may answer from its cache; POST when it
is longer, or when the GET is answered with an
error or no OCSP response. Needs the builtin or
curl client. A batch through the builtin client
asks by GET first anyway, and by POST for the rest
of the run a host that refused a GET.`,
        },
        { long: 'post', text: "ask with POST only, as OpenSSL's client does." },
        { short: 'S', long: 'skip-update', text: 'Do not notify haproxy of the new OCSP response.' },
        {
          long: 'timeout',
          value: 'seconds',
          text: `give up an OCSP HTTP exchange after this many
seconds (default ${defaults.DEFAULT_TIMEOUT_SECONDS}, at most 3600).`,
        },
        {
          long: 'retries',
          value: 'n',
          text: `retry a failed OCSP exchange (no answer, server
error, 'tryLater') n times with growing pauses
(default ${defaults.DEFAULT_RETRIES}, at most 10).`,
        },
        {
          long: 'lock-timeout',
          value: 'seconds',
          text: `wait this long for another run on the same
certificate to finish (default ${defaults.DEFAULT_LOCK_TIMEOUT_SECONDS}), then exit 9.`,
        },
        {
          long: 'deadline',
          value: 'seconds',
          text: `once its lock is held, a certificate's whole
update (verification, every OCSP attempt and the
pauses between them, HAProxy) must end within
this (default: (retries + 1) x timeout + 30, i.e.
${defaults.defaultDeadlineSeconds(defaults.DEFAULT_TIMEOUT_SECONDS, defaults.DEFAULT_RETRIES)}); the step running then fails with its
own exit code.`,
        },
        {
          long: 'reload-cmd',
          value: 'cmd',
          text: `command that reloads HAProxy when a first response
cannot be stapled at run time (HAProxy older than
2.2, or a certificate it does not list); run once,
after every certificate; default
'${defaults.DEFAULT_RELOAD_COMMAND}'.`,
        },
        {
          long: 'socat',
          text: `talk to the admin socket through socat, as the
original did, instead of a native connection.`,
        },
      ],
    },
    {
      title: 'Many certificates',
      options: [
        { short: 'c', long: 'cert', value: 'file', text: 'may be given several times.' },
        {
          long: 'dir',
          value: 'dir',
          text: `every certificate of an HAProxy 'crt' directory
(.key, .issuer, .ocsp, .sctl files are skipped).`,
        },
        { long: 'crt-list', value: 'file', text: 'every certificate of an HAProxy crt-list.' },
        {
          long: 'crt-base',
          value: 'dir',
          text: `HAProxy's crt-base: relative crt-list paths are
resolved against it (default: the list's directory).`,
        },
        {
          long: 'skip-fresh',
          text: `leave alone certificates whose response in place
says good, is valid and has more than half of its
validity (and more than an hour) ahead.`,
        },
        {
          long: 'jobs',
          value: 'n',
          text: `certificates processed at once (default: one per
CPU, at least ${defaults.DEFAULT_MIN_JOBS}); at most ${defaults.REQUESTS_PER_RESPONDER} requests at a time go
to one OCSP responder.`,
        },
        { long: 'json', text: 'print one JSON document with every result.' },
        { short: 'q', long: 'quiet', text: 'print errors only.' },
      ],
    },
    {
      title: 'Checking bundles (CI)',
      options: [
        {
          long: 'check',
          text: `lint each bundle and query its responder, as -d
would, but write nothing and never touch HAProxy;
report findings; exit with the class of the first
error (1 certificate, 2 no URL, 3 parsing, 4 OCSP).`,
        },
        {
          long: 'ca-file',
          value: 'file',
          text: `trust anchors for the chain check instead of the
system store.`,
        },
        {
          long: 'warn-days',
          value: 'n',
          text: `warn when a certificate expires within n days
(default ${defaults.DEFAULT_WARN_DAYS}).`,
        },
        { long: 'require-ocsp', text: 'a certificate without an OCSP URL is an error.' },
        { long: 'strict', text: 'warnings fail the check too.' },
        {
          long: 'junit',
          value: 'file',
          text: `also write a JUnit XML report (one test case per
certificate).`,
        },
        {
          long: 'json',
          text: `(with --check) print the findings as one JSON
document.`,
        },
      ],
    },
    {
      title: 'Staple status (monitoring)',
      options: [
        {
          long: 'status',
          text: `ask each --socket (at least one; a master CLI asks
every worker) what it staples for every certificate
it serves, and compare with the .ocsp files on
disk; change nothing. Exit 0 when every staple is
good with more than --warn-hours left, 6 when one
expires sooner, 7 when one is missing, expired,
revoked or unknown (5: a socket can't be used).
Not with --cert, --dir, --crt-list or --check.`,
        },
        {
          long: 'warn-hours',
          value: 'n',
          text: `(with --status) a staple with n hours or less left
is expiring (default ${defaults.DEFAULT_WARN_HOURS}).`,
        },
        { long: 'json', text: '(with --status) print one JSON document.' },
      ],
    },
    {
      title: 'Prometheus metrics',
      options: [
        {
          long: 'metrics',
          value: 'file',
          text: `after any run (update, batch, --check, --status),
write what it found for Prometheus to file (for
node_exporter's textfile collector: a .prom file
in its directory), replaced atomically; a
certificate that failed keeps its last success
from the file's previous content. Exit 9 when
the file cannot be written after a run that
succeeded.`,
        },
      ],
    },
    {
      options: [
        { long: 'version', text: 'print the version and exit.' },
        { short: 'h', long: 'help', text: 'this help.' },
      ],
    },
  ],
  environment: [
    ['OPENSSL_BIN', 'the openssl binary (default: openssl).'],
    ['CURL_BIN', 'the curl binary for --use-curl (default: curl).'],
    ['SOCAT_BIN', 'the socat binary for --socat (default: socat).'],
  ],
};

/** How an option is named in the help's left column: ` -l, --syslog priority`. */
function optionLabel({ short, long, value }: OptionHelp): string {
  return `${short === undefined ? '    ' : `-${short}, `}--${long}${value === undefined ? '' : ` ${value}`}`;
}

/** A name, then its text from the 26th column on, as the original's help lays it out. */
const entryLine = (name: string, text: string) =>
  `${` ${name}`.padEnd(22)} : ${text.split('\n').join(`\n${' '.repeat(25)}`)}`;

function renderHelp(help: Help): string {
  const sections = help.sections.map(({ title, options }) =>
    [
      ...(title === undefined ? [] : [`${title}:`]),
      ...options.map((option) => entryLine(optionLabel(option), option.text)),
    ].join('\n\n'),
  );
  return [
    '',
    `${help.title} - ${PROGRAM_NAME}`,
    '',
    'Usage:',
    ` ${PROGRAM_NAME} ${help.usage}`,
    '',
    help.description.join('\n\n'),
    '',
    'Exit codes:',
    ...help.exitCodes.map(([code, meaning]) => ` ${code.padEnd(8)}${meaning}`),
    '',
    sections.join('\n\n'),
    '',
    'Environment:',
    ...help.environment.map(([name, meaning]) => entryLine(name, meaning)),
    '',
  ].join('\n');
}

export const HELP_TEXT = renderHelp(HELP);
