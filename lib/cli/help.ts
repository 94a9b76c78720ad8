// The help text. Kept apart from the argument parser so that
// `hapos-upd --help` loads nothing heavy.
import { PROGRAM_NAME } from './program.ts';
import * as defaults from './defaults.ts';

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
${defaults.DEFAULT_SOCKET}).

Exit codes:
 0       OK
 1       openssl certificates handling error
 2       OCSP server URL not found
 3       string parsing / PEM manipulation error
 4       OCSP error
 5       haproxy management error
 6       --status: a staple expires within --warn-hours
 7       --status: a staple is missing, expired, revoked or unknown
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
                         ${defaults.DEFAULT_SOCKET} is used by default.

 -v, --VAfile file     : same as the openssl ocsp -VAfile option
                         with 'file' as argument. For more details:
                         'man ocsp'.
                         If file = "-" then the chain extracted
                         from the certificate's bundle (or .issuer
                         file) is used (useful for OCSP responses
                         that don't include the signer certificate).

     --noverify        : Do not verify OCSP response.

     --nonce           : send a nonce in the OCSP request and accept only
                         a response that carries it back (exit 4
                         otherwise), for responders that refuse requests
                         without one. A response made for a nonce cannot
                         be cached: CDNs and RFC 5019 responders may
                         ignore the nonce or refuse the request.

 -S, --skip-update     : Do not notify haproxy of the new OCSP response.

     --timeout seconds : give up an OCSP HTTP exchange after this many
                         seconds (default ${defaults.DEFAULT_TIMEOUT_SECONDS}, at most 3600).

     --retries n       : retry a failed OCSP exchange (no answer, server
                         error, 'tryLater') n times with growing pauses
                         (default ${defaults.DEFAULT_RETRIES}, at most 10).

     --lock-timeout seconds : wait this long for another run on the same
                         certificate to finish (default ${defaults.DEFAULT_LOCK_TIMEOUT_SECONDS}), then exit 9.

     --deadline seconds : once its lock is held, a certificate's whole
                         update (verification, every OCSP attempt and the
                         pauses between them, HAProxy) must end within
                         this (default: (retries + 1) x timeout + 30, i.e.
                         ${defaults.defaultDeadlineSeconds(defaults.DEFAULT_TIMEOUT_SECONDS, defaults.DEFAULT_RETRIES)}); the step running then fails with its
                         own exit code.

     --reload-cmd cmd  : command that reloads HAProxy when a first response
                         cannot be stapled at run time (HAProxy older than
                         2.2, or a certificate it does not list); run once,
                         after every certificate; default
                         '${defaults.DEFAULT_RELOAD_COMMAND}'.

     --socat           : talk to the admin socket through socat, as the
                         original did, instead of a native connection.

Many certificates:

 -c, --cert file       : may be given several times.

     --dir dir         : every certificate of an HAProxy 'crt' directory
                         (.key, .issuer, .ocsp, .sctl files are skipped).

     --crt-list file   : every certificate of an HAProxy crt-list.

     --crt-base dir    : HAProxy's crt-base: relative crt-list paths are
                         resolved against it (default: the list's directory).

     --skip-fresh      : leave alone certificates whose response in place
                         says good, is valid and has more than half of its
                         validity (and more than an hour) ahead.

     --jobs n          : certificates processed at once (default: one per
                         CPU, at least 2); at most 4 requests at a time go
                         to one OCSP responder.

     --json            : print one JSON document with every result.

 -q, --quiet           : print errors only.

Checking bundles (CI):

     --check           : lint each bundle and query its responder, as -d
                         would, but write nothing and never touch HAProxy;
                         report findings; exit with the class of the first
                         error (1 certificate, 2 no URL, 3 parsing, 4 OCSP).

     --ca-file file    : trust anchors for the chain check instead of the
                         system store.

     --warn-days n     : warn when a certificate expires within n days
                         (default ${defaults.DEFAULT_WARN_DAYS}).

     --require-ocsp    : a certificate without an OCSP URL is an error.

     --strict          : warnings fail the check too.

     --junit file      : also write a JUnit XML report (one test case per
                         certificate).

     --json            : (with --check) print the findings as one JSON
                         document.

Staple status (monitoring):

     --status          : ask each --socket (at least one; a master CLI asks
                         every worker) what it staples for every certificate
                         it serves, and compare with the .ocsp files on
                         disk; change nothing. Exit 0 when every staple is
                         good with more than --warn-hours left, 6 when one
                         expires sooner, 7 when one is missing, expired,
                         revoked or unknown (5: a socket can't be used).
                         Not with --cert, --dir, --crt-list or --check.

     --warn-hours n    : (with --status) a staple with n hours or less left
                         is expiring (default ${defaults.DEFAULT_WARN_HOURS}).

     --json            : (with --status) print one JSON document.

Prometheus metrics:

     --metrics file    : after any run (update, batch, --check, --status),
                         write what it found for Prometheus to file (for
                         node_exporter's textfile collector: a .prom file
                         in its directory), replaced atomically; a
                         certificate that failed keeps its last success
                         from the file's previous content. Exit 9 when
                         the file cannot be written after a run that
                         succeeded.

     --version         : print the version and exit.

 -h, --help            : this help.

Environment:
 OPENSSL_BIN           : the openssl binary (default: openssl).
 CURL_BIN              : the curl binary for --use-curl (default: curl).
 SOCAT_BIN             : the socat binary for --socat (default: socat).
`;
