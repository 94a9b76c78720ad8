import { run } from '../process/run.ts';
import type { Log } from '../util/log.ts';
import { formatSocketAddress, parseSocketAddress, type SocketAddress } from './address.ts';
import type { CommandOptions } from './client.ts';
import {
  findCertificateName,
  masterWorkers,
  setOcspResponse,
  showOcspResponseIds,
  showOcspUpdates,
  showStapledResponse,
  stapleThroughTransaction,
} from './commands.ts';
import {
  HaproxyArgumentError,
  HaproxyError,
  HaproxyReplyError,
  HaproxySocketError,
  HaproxyUpdateError,
  OcspResponseRejectedError,
  SocatMissingError,
} from './errors.ts';
import { sendCommandWithSocat, socatAvailable } from './socat.ts';

/** How to reach HAProxy, and what to do when only a reload will load a response. */
export interface NotifierSettings {
  /** The admin sockets, spelled as HAProxy's `stats socket` lines spell them. */
  readonly sockets: readonly string[];
  /** Every command goes through socat instead of a native connection. */
  readonly useSocat: boolean;
  /** Run with `sh -c` when HAProxy can take a certificate's first response no other way. */
  readonly reloadCommand: string;
  /** The socat program to run; `socat`, found on the PATH, when undefined. */
  readonly socatBinary?: string;
}

export interface HaproxyUpdate {
  readonly cert: string;
  readonly responseDer: Buffer;
  /** The hex DER CertID HAProxy lists the response under (`show ssl ocsp-response`). */
  readonly certIdHex: string;
  /** The EE's issuer, which a first-staple transaction may have to hand HAProxy too. */
  readonly issuerPem: string;
  /** Upper-case hex, no colons: how `show ssl cert NAME` identifies the certificate. */
  readonly sha1Fingerprint: string;
  /**
   * Whether a response HAProxy already staples for the certificate is newer
   * than this one, which then is not pushed: HAProxy may fetch responses itself.
   */
  readonly isOlderThan: (stapledDer: Buffer) => boolean;
  /** Aborts when the certificate's deadline passes: every exchange with HAProxy stops then. */
  readonly signal?: AbortSignal;
}

/**
 * What one HAProxy did with the response: took it (`pushed`), took it in a
 * `set ssl cert` transaction, will load it from the file when reloaded,
 * or already staples a newer response or this very one.
 */
export type HaproxyAction = 'pushed' | 'transaction' | 'reload' | 'holds-newer' | 'holds-same';

export interface HaproxyTargetReport {
  /** The socket, as given. */
  readonly socket: string;
  /** Behind a master CLI, the worker. */
  readonly workerPid?: number;
  readonly action: HaproxyAction;
  /** HAProxy fetches this certificate's responses itself (`ocsp-update on`) and will replace the one pushed. */
  readonly updatesItself: boolean;
}

/** What the update of one certificate needs. */
export interface HaproxyNotifier {
  /**
   * Hands HAProxy the new response; says what each HAProxy did with it. A
   * `reload` is only noted: the run's reloadIfNeeded() runs it, once.
   */
  notify(update: HaproxyUpdate): Promise<readonly HaproxyTargetReport[]>;
}

/** What a run needs: the updates, then at most one reload. */
export interface HaproxyRunNotifier extends HaproxyNotifier {
  /**
   * Runs the reload command once if any update needed it: true when it ran.
   * Throws HaproxyUpdateError when it fails or is still running when SIGNAL aborts.
   */
  reloadIfNeeded(signal?: AbortSignal): Promise<boolean>;
}

/**
 * The install step's HAProxy part, done so that it cannot silently fail: the response
 * goes to every socket (every worker behind a master CLI), each reply is
 * checked, a certificate HAProxy holds no response for yet is stapled through
 * a `set ssl cert` transaction instead of a reload, and HAProxy must then
 * staple exactly the bytes sent (2.8+) or list the certificate's ID (before).
 * From 2.8 a response HAProxy already staples, or a newer one, is left alone.
 * Only when no transaction is possible is a reload needed, run once for the
 * whole run by reloadIfNeeded().
 */
export function haproxyNotifier(settings: NotifierSettings, log: Log): HaproxyRunNotifier {
  const sockets = settings.sockets.map((spec) => ({ spec, address: parseSocketAddress(spec) }));
  const { socatBinary } = settings;
  const transport: CommandOptions['transport'] = settings.useSocat
    ? (address, command, commandOptions) =>
        sendCommandWithSocat(address, command, { ...commandOptions, binary: socatBinary })
    : undefined;
  let socatChecked: Promise<void> | undefined;
  // Behind a master CLI, every current worker gets the response. Asked once
  // per socket: a socket that fails, fails every certificate of the batch.
  const workersBehind = askedOncePerRun<SocketAddress, readonly (number | undefined)[]>();
  const targetsOf = (address: SocketAddress, signal: AbortSignal | undefined) =>
    workersBehind(address, () =>
      masterWorkers(address, { transport, signal }).then((workers) => workers ?? [undefined]),
    );
  // Asked once per HAProxy (each worker behind a master CLI), like the workers.
  const updatesKnown = askedOncePerRun<string, OcspUpdates>();
  const ocspUpdatesOf = (address: SocketAddress, commandOptions: CommandOptions) =>
    updatesKnown(`${formatSocketAddress(address)} ${commandOptions.workerPid ?? ''}`, () =>
      showOcspUpdates(address, commandOptions).then((ids): OcspUpdates =>
        ids === undefined ? { supported: false } : { supported: true, ids },
      ),
    );
  // HAProxy applies `set ssl cert` to whichever transaction is open: one update at a time.
  let queue: Promise<unknown> = Promise.resolve();
  // A reload restarts every worker: one per run, after every update, however many need it.
  let reloadNeeded = false;

  const notifyOne = async (update: HaproxyUpdate) => {
    if (settings.useSocat) {
      socatChecked ??= socatAvailable(socatBinary).then((available) => {
        if (!available) throw new SocatMissingError();
      });
      await socatChecked;
    }
    log.debug('Updating haproxy.');
    const failures: string[] = [];
    const reports: HaproxyTargetReport[] = [];
    for (const { spec, address } of sockets) {
      try {
        for (const workerPid of await targetsOf(address, update.signal)) {
          const commandOptions = { transport, workerPid, signal: update.signal };
          const ocspUpdates = await ocspUpdatesOf(address, commandOptions);
          const report = await updateTarget(address, update, commandOptions, ocspUpdates, log);
          reports.push({ socket: spec, ...(workerPid !== undefined && { workerPid }), ...report });
        }
      } catch (error) {
        // A value HAProxy must never be sent is a fault of the program, not of this socket.
        if (!(error instanceof HaproxyError) || error instanceof HaproxyArgumentError) throw error;
        // The original's words first, for whoever greps logs for them; then why.
        failures.push(`can't update haproxy ssl ocsp-response using ${spec} socket (${error.message})`);
      }
    }
    if (failures.length > 0) throw new HaproxyUpdateError(failures.join('; '));
    if (reports.some((report) => report.action === 'reload')) reloadNeeded = true;
    return reports;
  };

  return {
    notify(update) {
      const done = queue.then(() => notifyOne(update));
      queue = done.catch(() => undefined);
      return done;
    },
    async reloadIfNeeded(signal) {
      await queue;
      if (!reloadNeeded) return false;
      reloadNeeded = false;
      await reload(settings.reloadCommand, log, signal);
      return true;
    },
  };
}

/**
 * A question put to HAProxy once per run, its answer shared by every
 * certificate, unless asking stopped at a certificate's deadline: that says
 * nothing about the socket, so the next certificate asks again.
 */
function askedOncePerRun<K, V>(): (key: K, ask: () => Promise<V>) => Promise<V> {
  const answers = new Map<K, Promise<V>>();
  return (key, ask) => {
    let answer = answers.get(key);
    if (answer === undefined) {
      answer = ask();
      answers.set(key, answer);
      answer.catch((error: unknown) => {
        if (error instanceof HaproxySocketError && error.failure === 'deadline') answers.delete(key);
      });
    }
    return answer;
  };
}

/** What `show ssl ocsp-updates` told: whether HAProxy has it (2.8+), and the IDs it updates itself. */
type OcspUpdates = { readonly supported: false } | { readonly supported: true; readonly ids: ReadonlySet<string> };

type TargetOutcome = Omit<HaproxyTargetReport, 'socket' | 'workerPid'>;

/** HAProxy took the response without complaint, yet does not list it or staples other bytes: the failure it kept silent. */
class ResponseNotStapledError extends HaproxyError {
  override readonly name = 'ResponseNotStapledError';
}

async function updateTarget(
  address: SocketAddress,
  update: HaproxyUpdate,
  commandOptions: CommandOptions,
  ocspUpdates: OcspUpdates,
  log: Log,
): Promise<TargetOutcome> {
  const where = `${formatSocketAddress(address)}${commandOptions.workerPid === undefined ? '' : ` (worker ${commandOptions.workerPid})`}`;
  const updatesItself = ocspUpdates.supported && ocspUpdates.ids.has(update.certIdHex);
  if (updatesItself) {
    log.debug(
      `HAProxy at ${where} updates the response for ${update.cert} itself (ocsp-update on): it will replace this one at its next update.`,
    );
  }
  if (ocspUpdates.supported) {
    const stapled = await showStapledResponse(address, update.certIdHex, commandOptions);
    if (stapled?.equals(update.responseDer)) {
      log.debug(`HAProxy at ${where} already staples this response.`);
      return { action: 'holds-same', updatesItself };
    }
    if (stapled !== undefined && update.isOlderThan(stapled)) {
      log.debug(`HAProxy at ${where} staples a newer response for ${update.cert}: not replaced.`);
      return { action: 'holds-newer', updatesItself };
    }
  }
  const action = await pushResponse(address, update, commandOptions, where, log);
  if (action === 'reload') return { action, updatesItself };
  if (ocspUpdates.supported) {
    // From 2.8 HAProxy shows the very bytes it staples: nothing less proves the push.
    const stapled = await showStapledResponse(address, update.certIdHex, commandOptions);
    if (stapled !== undefined && !stapled.equals(update.responseDer) && update.isOlderThan(stapled)) {
      log.debug(
        `HAProxy at ${where} fetched a newer response for ${update.cert} itself meanwhile: it staples that one.`,
      );
      return { action: 'holds-newer', updatesItself };
    }
    if (!stapled?.equals(update.responseDer)) {
      throw new ResponseNotStapledError(
        `HAProxy at ${where} accepted the OCSP response but ${stapled === undefined ? 'holds none for its certificate ID' : `staples ${stapled.length} other bytes instead of its ${update.responseDer.length}`} afterwards (show ssl ocsp-response base64)`,
      );
    }
  } else {
    const held = await showOcspResponseIds(address, commandOptions);
    if (!held.includes(update.certIdHex)) {
      throw new ResponseNotStapledError(
        `HAProxy at ${where} accepted the OCSP response but does not list its certificate ID afterwards (show ssl ocsp-response)`,
      );
    }
  }
  log.debug(`HAProxy at ${where} staples the new response.`);
  return { action, updatesItself };
}

/** `set ssl ocsp-response`; for a certificate HAProxy holds no response for yet, a transaction or else a reload. */
async function pushResponse(
  address: SocketAddress,
  update: HaproxyUpdate,
  commandOptions: CommandOptions,
  where: string,
  log: Log,
): Promise<'pushed' | 'transaction' | 'reload'> {
  const base64 = update.responseDer.toString('base64');
  try {
    await setOcspResponse(address, base64, commandOptions);
    return 'pushed';
  } catch (error) {
    if (!(error instanceof OcspResponseRejectedError) || !error.certificateIdMismatch) throw error;
  }
  // HAProxy files responses only for certificates that had one (or an empty
  // .ocsp, or ocsp-update on) when it started: staple this first one in a transaction.
  const name = await findCertificateName(address, update.cert, {
    ...commandOptions,
    sha1Fingerprint: update.sha1Fingerprint,
  });
  if (name === undefined) {
    log.debug(`HAProxy at ${where} does not list ${update.cert}: a reload will load it.`);
    return 'reload';
  }
  log.debug(
    `HAProxy at ${where} holds no response for ${name} yet: stapling it with 'set ssl cert ${name}.ocsp' and 'commit ssl cert ${name}'.`,
  );
  try {
    await stapleThroughTransaction(address, name, base64, { ...commandOptions, issuerPem: update.issuerPem });
  } catch (transactionError) {
    if (transactionError instanceof HaproxyReplyError && /Unknown command/i.test(transactionError.reply)) {
      log.debug(`HAProxy at ${where} has no 'set ssl cert' (before 2.2): a reload will load the response.`);
      return 'reload';
    }
    throw transactionError;
  }
  return 'transaction';
}

async function reload(command: string, log: Log, signal: AbortSignal | undefined): Promise<void> {
  log.debug('Reloading haproxy.');
  const reloaded = await run('sh', ['-c', command], { signal, ownProcessGroup: true });
  if (reloaded.stopped === 'aborted') {
    throw new HaproxyUpdateError(`can't reload haproxy with '${command}' (still running at the deadline, --deadline)`);
  }
  if (reloaded.exitCode !== 0) throw new HaproxyUpdateError(`can't reload haproxy with '${command}'`);
}
