/** The private key HAProxy loads with the bundle, and whether it matches the certificate it serves. */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { findPemBlocks } from '../pki/bundle.ts';
import type { Findings } from './findings.ts';
import { describeEntry, readExtraFile, type BundleContext } from './lint-context.ts';

/** OpenSSL's PEM_read_bio_PrivateKey takes every block type ending so: PRIVATE KEY, EC PRIVATE KEY... */
const isPrivateKeyLabel = (label: string) => label.endsWith('PRIVATE KEY') && /^[A-Z0-9 ]*$/.test(label);

/** The first private key block, the one HAProxy loads. */
function firstPrivateKeyPem(text: string): string | undefined {
  return findPemBlocks(text, isPrivateKeyLabel)[0];
}

/** PKCS#8 and the traditional `Proc-Type` header both mark a key protected by a passphrase. */
const ENCRYPTED_KEY = /^-----BEGIN ENCRYPTED PRIVATE KEY-----|^Proc-Type: 4,ENCRYPTED/m;

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** The key, or why it can't be used. */
function parsePrivateKey(pem: string): KeyObject | string {
  if (ENCRYPTED_KEY.test(pem)) return 'it needs a passphrase, which HAProxy asks for on its terminal';
  try {
    return createPrivateKey(pem);
  } catch (error) {
    return errorText(error);
  }
}

function checkKey(key: KeyObject, where: string, { entries, chain }: BundleContext, findings: Findings): void {
  const [first] = entries;
  if (first.x509.checkPrivateKey(key)) return;
  const hint =
    chain.leaf !== first && chain.leaf.x509.checkPrivateKey(key)
      ? `; it matches ${describeEntry(chain.leaf)}, which belongs first`
      : '';
  findings.add(
    'key-mismatch',
    'error',
    'certificate',
    `the private key ${where} does not match ${describeEntry(first)}: HAProxy refuses to load the bundle ("inconsistencies between private key and certificate loaded")${hint}`,
  );
}

/** HAProxy 2.6 takes the first private key of the bundle, else `CRT.key`, and checks it against the first certificate. */
export function lintKey(context: BundleContext, findings: Findings): void {
  const bundleKeyPem = firstPrivateKeyPem(context.text);
  const keyPath = `${context.certPath}.key`;
  if (bundleKeyPem) {
    const key = parsePrivateKey(bundleKeyPem);
    if (typeof key !== 'string') {
      checkKey(key, 'in the bundle', context, findings);
      return;
    }
    findings.add(
      'key-unreadable',
      'error',
      'certificate',
      `the private key in the bundle can't be read (${key}): HAProxy looks for ${keyPath} instead`,
    );
  }

  const keyFile = readExtraFile(keyPath);
  if (keyFile.state === 'absent') {
    if (bundleKeyPem) return;
    findings.add(
      'key-missing',
      'warning',
      'certificate',
      `no private key in the bundle nor in ${keyPath}: HAProxy refuses to load the bundle unless its key comes from elsewhere ("No Private Key found")`,
    );
    return;
  }
  const keyPem = keyFile.state === 'read' ? firstPrivateKeyPem(keyFile.bytes.toString('latin1')) : undefined;
  const key = keyPem === undefined ? undefined : parsePrivateKey(keyPem);
  if (key === undefined || typeof key === 'string') {
    const reason = keyFile.state === 'failed' ? keyFile.reason : (key ?? 'no PEM private key in it');
    findings.add(
      'key-unreadable',
      'error',
      'certificate',
      `${keyPath} can't be read (${reason}): HAProxy refuses to load the bundle`,
    );
    return;
  }
  checkKey(key, `in ${keyPath}`, context, findings);
}
