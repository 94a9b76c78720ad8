import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { run } from '../../lib/process/run.ts';

/** Runs openssl in `cwd` and returns its stdout; throws with its stderr when it fails. */
export async function openssl(cwd: string, args: readonly string[]): Promise<string> {
  const result = await run('openssl', [...args], { cwd });
  if (result.exitCode !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

export const keyTypes = {
  ec: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'],
  rsa: ['-newkey', 'rsa:2048'],
} as const;

export interface IndexEntry {
  /** Uppercase hex, as openssl writes it. */
  readonly serial: string;
  /** `YYMMDDHHMMSSZ[,reason]` when revoked. */
  readonly revoked?: string;
}

export interface ExchangeOptions {
  /** Given to the requesting `openssl ocsp` before `-issuer` and `-cert` (so `-sha256` applies to the CertIDs). */
  readonly requestArgs?: readonly string[];
  /** Given to the responding `openssl ocsp`; the default gives the response a 7-day Next Update. */
  readonly responderArgs?: readonly string[];
}

export interface Exchange {
  readonly requestPath: string;
  readonly responsePath: string;
  readonly responseDer: Buffer;
}

/**
 * A throwaway PKI in a temporary directory, and offline OCSP exchanges with
 * `openssl ocsp` as the responder: files are named after the CA (`ec.pem`,
 * `ec.key`, `ec.index`) and leaves (`ec-good.pem`).
 */
export class OcspTestPki {
  private exchangeCount = 0;

  private constructor(readonly dir: string) {}

  static async create(prefix: string): Promise<OcspTestPki> {
    return new OcspTestPki(await mkdtemp(path.join(tmpdir(), prefix)));
  }

  path(name: string): string {
    return path.join(this.dir, name);
  }

  async certificate(name: string): Promise<X509Certificate> {
    return new X509Certificate(await readFile(this.path(`${name}.pem`)));
  }

  /** A self-signed CA `ca`, plus the CSR (`ca-leaf.csr`, CN=leaf.test) that issue() signs for its leaves. */
  async createCa(ca: string, keyArgs: readonly string[], subject: string): Promise<void> {
    await Promise.all([
      openssl(this.dir, [
        'req',
        '-x509',
        ...keyArgs,
        '-nodes',
        '-keyout',
        `${ca}.key`,
        '-out',
        `${ca}.pem`,
        '-subj',
        subject,
        '-days',
        '2',
      ]),
      openssl(this.dir, [
        'req',
        ...keyArgs,
        '-nodes',
        '-keyout',
        `${ca}-leaf.key`,
        '-out',
        `${ca}-leaf.csr`,
        '-subj',
        '/CN=leaf.test',
      ]),
    ]);
  }

  /** `serial` is given to `-set_serial` (`0x1001`); `extensions` names a section of the `-extfile`. */
  async issue(
    ca: string,
    leaf: string,
    serial: string,
    extensions?: { readonly file: string; readonly section: string },
  ): Promise<void> {
    await openssl(this.dir, [
      'x509',
      '-req',
      '-in',
      `${ca}-leaf.csr`,
      '-CA',
      `${ca}.pem`,
      '-CAkey',
      `${ca}.key`,
      '-set_serial',
      serial,
      '-days',
      '2',
      '-out',
      `${leaf}.pem`,
      ...(extensions ? ['-extfile', extensions.file, '-extensions', extensions.section] : []),
    ]);
  }

  /**
   * The `openssl ca` database the responder answers from; serials not listed get status unknown.
   * Each entry gets its own subject: openssl refuses an index where two valid entries share one.
   */
  async writeIndex(ca: string, entries: readonly IndexEntry[]): Promise<void> {
    const line = ({ serial, revoked }: IndexEntry) =>
      `${revoked ? 'R' : 'V'}\t301231235959Z\t${revoked ?? ''}\t${serial}\tunknown\t/CN=leaf ${serial}\n`;
    await writeFile(this.path(`${ca}.index`), entries.map(line).join(''));
  }

  /** Builds a request for `leaves` (issued by `ca`) and answers it with openssl's responder signing as `ca`. */
  async exchange(
    ca: string,
    leaves: readonly string[],
    { requestArgs = [], responderArgs = ['-ndays', '7'] }: ExchangeOptions = {},
  ): Promise<Exchange> {
    const name = `exchange-${++this.exchangeCount}`;
    const requestPath = this.path(`${name}.req`);
    const responsePath = this.path(`${name}.resp`);
    await openssl(this.dir, [
      'ocsp',
      ...requestArgs,
      '-issuer',
      `${ca}.pem`,
      ...leaves.flatMap((leaf) => ['-cert', `${leaf}.pem`]),
      '-reqout',
      requestPath,
    ]);
    await openssl(this.dir, [
      'ocsp',
      '-index',
      `${ca}.index`,
      '-CA',
      `${ca}.pem`,
      '-rsigner',
      `${ca}.pem`,
      '-rkey',
      `${ca}.key`,
      '-reqin',
      requestPath,
      '-respout',
      responsePath,
      ...responderArgs,
    ]);
    return { requestPath, responsePath, responseDer: await readFile(responsePath) };
  }

  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}
