// What an HAProxy serves and staples, asked without changing anything: the
// certificates `show ssl cert` lists, the response each one's slot holds,
// and which ones HAProxy updates itself. `--status` judges the answers.
import { setTimeout as sleep } from 'node:timers/promises';
import type { SocketAddress } from './address.ts';
import { sendCommand, type CommandOptions } from './client.ts';
import { escapeCliWord, masterWorkers, showOcspUpdates, showStapledResponse, unexpectedReply } from './commands.ts';
import { parseCertificateList } from './replies.ts';
import {
  isCertificateLockBusy,
  parseCertificateDetails,
  parseOcspResponseText,
  type OcspResponseText,
} from './served-replies.ts';

/**
 * The response HAProxy staples for a certificate: its exact bytes from 2.8
 * on, before that only the text `show ssl ocsp-response ID` prints.
 */
type StapledResponse =
  | { readonly form: 'none' }
  | { readonly form: 'der'; readonly der: Buffer }
  | { readonly form: 'text'; readonly text: OcspResponseText };

export interface ServedCertificate {
  /** The path as HAProxy's configuration spells it (`show ssl cert`). */
  readonly name: string;
  /** The hex DER CertID of the certificate's response slot; undefined when HAProxy keeps none. */
  readonly certIdHex?: string;
  readonly stapled: StapledResponse;
  /** HAProxy fetches this certificate's responses itself (`ocsp-update on`, `show ssl ocsp-updates`). */
  readonly updatesItself: boolean;
}

interface ServingProcess {
  /** Behind a master CLI, the worker that answered. */
  readonly workerPid?: number;
  readonly certificates: readonly ServedCertificate[];
}

/**
 * `show ssl cert` only tries HAProxy's certificate lock: while another
 * session holds it (another `show ssl cert`, a transaction being committed)
 * the command is refused, so it is asked again for up to 2 s.
 */
const LOCKED_ATTEMPTS = 40;
const LOCKED_PAUSE_MS = 50;

/**
 * What the HAProxy at ADDRESS serves; through a master CLI, what each current
 * worker serves, since each holds responses of its own. Only `show` commands
 * are sent.
 */
export async function servedCertificates(
  address: SocketAddress,
  options: CommandOptions = {},
): Promise<ServingProcess[]> {
  const workers = await masterWorkers(address, options);
  return Promise.all(
    (workers ?? [undefined]).map(async (workerPid) => ({
      ...(workerPid !== undefined && { workerPid }),
      certificates: await servedBy(address, { ...options, workerPid }),
    })),
  );
}

/**
 * The certificates some `bind` line serves, one at a time: `show ssl cert`
 * commands in parallel would only contend for HAProxy's lock.
 */
async function servedBy(address: SocketAddress, options: CommandOptions): Promise<ServedCertificate[]> {
  const listReply = await showCertificates(address, 'show ssl cert', options);
  const list = parseCertificateList(listReply);
  if (list === undefined) throw unexpectedReply(address, 'show ssl cert', listReply);
  // Undefined before 2.8, which has no ocsp-update and cannot show a response's bytes either.
  const updatedItself = await showOcspUpdates(address, options);
  const served: ServedCertificate[] = [];
  for (const name of list.names) {
    const command = `show ssl cert ${escapeCliWord(name)}`;
    const reply = await showCertificates(address, command, options);
    const details = parseCertificateDetails(reply);
    if (details === undefined) throw unexpectedReply(address, command, reply);
    if (details.unused) continue;
    const certIdHex = details.ocspResponseKey;
    if (certIdHex === undefined) {
      served.push({ name, stapled: { form: 'none' }, updatesItself: false });
      continue;
    }
    const stapled =
      updatedItself === undefined
        ? await stapledText(address, certIdHex, options)
        : await stapledBytes(address, certIdHex, options);
    served.push({ name, certIdHex, stapled, updatesItself: updatedItself?.has(certIdHex) ?? false });
  }
  return served;
}

/** A `show ssl cert` command, asked again while HAProxy's certificate lock is busy; the last reply when it stays busy. */
async function showCertificates(address: SocketAddress, command: string, options: CommandOptions): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    const reply = await sendCommand(address, command, options);
    if (!isCertificateLockBusy(reply) || attempt >= LOCKED_ATTEMPTS) return reply;
    await sleep(LOCKED_PAUSE_MS);
  }
}

async function stapledBytes(address: SocketAddress, certIdHex: string, options: CommandOptions) {
  const der = await showStapledResponse(address, certIdHex, options);
  return der === undefined ? ({ form: 'none' } as const) : ({ form: 'der', der } as const);
}

async function stapledText(address: SocketAddress, certIdHex: string, options: CommandOptions) {
  const command = `show ssl ocsp-response ${certIdHex}`;
  const reply = await sendCommand(address, command, options);
  const text = parseOcspResponseText(reply);
  if (text === undefined) throw unexpectedReply(address, 'show ssl ocsp-response', reply);
  return text === 'none' ? ({ form: 'none' } as const) : ({ form: 'text', text } as const);
}
