import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { checkExitCode } from '../lib/cli/exit-codes.ts';
import { isIssuedBy, orderedChain } from '../lib/pki/bundle.ts';
import type { Finding, FindingCode } from '../lib/check/findings.ts';
import { lintBundle } from '../lib/check/lints.ts';
import { keyTypes, OfflinePki } from './helpers/pki.ts';
import {
  AUTHORITY_INFO_ACCESS,
  TLS_FEATURE,
  extension,
  extensionId,
  ocspAia,
  withEmptySubject,
  withExtensions,
} from './helpers/certificate-surgery.ts';

/*
 * A P-256 PKI made offline by OfflinePki in `before`: Root → Int → leaves, plus "Int" re-keyed (same name, another
 * key, as after a CA rotation) and an unrelated root. Leaves point at an OCSP URL nobody contacts; responses come
 * from `openssl ocsp -index` answering requests read from files.
 */

const dayMs = 24 * 60 * 60 * 1000;
const ocspUrl = 'http://127.0.0.1:9/ocsp';
const caExtensions = ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign'];
const aia = (url: string) => `authorityInfoAccess=OCSP;URI:${url}`;

interface LeafSpec {
  readonly serial: string;
  readonly days: number;
  readonly key: 'leaf' | 'other';
  readonly extensions: readonly string[];
}

const leafSpecs = {
  leaf: { serial: '1001', days: 90, key: 'leaf', extensions: [aia(ocspUrl)] },
  expiring: { serial: '1002', days: 10, key: 'leaf', extensions: [aia(ocspUrl)] },
  noUrl: { serial: '1003', days: 90, key: 'leaf', extensions: [] },
  mustStaple: {
    serial: '1004',
    days: 90,
    key: 'leaf',
    extensions: [aia(ocspUrl), '1.3.6.1.5.5.7.1.24=DER:30:03:02:01:05'],
  },
  other: { serial: '1005', days: 90, key: 'other', extensions: [aia(ocspUrl)] },
  ldapUrl: { serial: '1006', days: 90, key: 'leaf', extensions: [aia('ldap://127.0.0.1/cn=ocsp')] },
} as const satisfies Record<string, LeafSpec>;
type LeafName = keyof typeof leafSpecs;

interface Pki {
  readonly dir: string;
  /** PEM text by file base name: root, int, intRekeyed, otherRoot and the leaves. */
  readonly pem: Readonly<Record<'root' | 'int' | 'intRekeyed' | 'otherRoot' | LeafName, string>>;
  readonly keys: Readonly<Record<'leaf' | 'other', string>>;
  /** DER OCSP responses signed by Int. */
  readonly ocsp: Readonly<Record<'leafGood' | 'otherGood' | 'expiringRevoked' | 'leafNoNextUpdate', Buffer>>;
}

async function createPki(): Promise<Pki> {
  const offline = await OfflinePki.create('hapos-upd-lint-');
  try {
    const ca = (name: string, subject: string, issuer?: string) =>
      offline.createCa(name, keyTypes.ec, subject, caExtensions, { issuer, days: 3650 });
    await Promise.all([
      ca('root', '/CN=Lint Root'),
      offline.createKey('leaf', keyTypes.ec),
      offline.createKey('other', keyTypes.ec),
    ]);
    await Promise.all([
      ca('int', '/CN=Lint Int', 'root'),
      ca('intRekeyed', '/CN=Lint Int', 'root'),
      ca('otherRoot', '/CN=Other Root'),
    ]);
    await Promise.all([
      ...Object.entries(leafSpecs).map(([name, spec]) =>
        offline.issueLeaf('int', name, {
          key: spec.key,
          subject: `/CN=${name}.lint.test`,
          days: spec.days,
          serial: `0x${spec.serial}`,
          extensions: ['basicConstraints=CA:FALSE', ...spec.extensions],
        }),
      ),
      offline.writeIndex('int', [
        { serial: '1001' },
        { serial: '1002', revoked: '261101000000Z,keyCompromise' },
        { serial: '1005' },
      ]),
    ]);
    // Without -ndays, `openssl ocsp` leaves Next Update out.
    const respond = async (leaf: LeafName, responderArgs?: readonly string[]) =>
      (await offline.exchange('int', [leaf], { requestArgs: ['-no_nonce'], responderArgs })).responseDer;
    const [leafGood, otherGood, expiringRevoked, leafNoNextUpdate] = await Promise.all([
      respond('leaf'),
      respond('other'),
      respond('expiring'),
      respond('leaf', []),
    ]);
    const read = (name: string) => readFile(offline.path(name), 'utf8');
    const names = ['root', 'int', 'intRekeyed', 'otherRoot', ...Object.keys(leafSpecs)] as const;
    const pemTexts = await Promise.all(names.map((name) => read(`${name}.pem`)));
    return {
      dir: offline.dir,
      pem: Object.fromEntries(names.map((name, i) => [name, pemTexts[i]])) as Pki['pem'],
      keys: { leaf: await read('leaf.key'), other: await read('other.key') },
      ocsp: { leafGood, otherGood, expiringRevoked, leafNoNextUpdate },
    };
  } catch (error) {
    await offline.remove();
    throw error;
  }
}

interface ExtraFiles {
  readonly key?: string;
  readonly issuer?: string;
  readonly ocsp?: Buffer | string;
}

const codes = (findings: readonly Finding[]) => findings.map((finding) => finding.code);

function only(findings: readonly Finding[], code: FindingCode): Finding {
  const matching = findings.filter((finding) => finding.code === code);
  assert.equal(matching.length, 1, `one ${code} finding expected in ${JSON.stringify(findings, null, 2)}`);
  return matching[0]!;
}

describe('lintBundle', () => {
  let pki: Pki;
  let bundleCount = 0;
  const now = () => new Date();
  const at = (offsetMs: number): Parameters<typeof lintBundle>[1] => ({ now: new Date(Date.now() + offsetMs) });

  before(async () => {
    pki = await createPki();
  });

  after(async () => {
    if (pki) await rm(pki.dir, { recursive: true, force: true });
  });

  /** Writes `site.pem` (the parts concatenated) and its extra files in a directory of its own. */
  async function bundle(parts: readonly string[], extra: ExtraFiles = {}): Promise<string> {
    const dir = path.join(pki.dir, `bundle-${++bundleCount}`);
    await mkdir(dir);
    const certPath = path.join(dir, 'site.pem');
    await writeFile(certPath, parts.join(''));
    if (extra.key !== undefined) await writeFile(`${certPath}.key`, extra.key);
    if (extra.issuer !== undefined) await writeFile(`${certPath}.issuer`, extra.issuer);
    if (extra.ocsp !== undefined) await writeFile(`${certPath}.ocsp`, extra.ocsp);
    return certPath;
  }

  const goodBundle = () => [pki.pem.leaf, pki.pem.int, pki.keys.leaf];

  describe('a well-formed bundle', () => {
    it('has no findings: with or without the root, its key inside or in CRT.key, CRLF line ends', async () => {
      assert.deepEqual(await lintBundle(await bundle(goodBundle(), { ocsp: pki.ocsp.leafGood }), { now: now() }), []);
      const withRoot = await bundle([pki.pem.leaf, pki.pem.int, pki.pem.root, pki.keys.leaf]);
      assert.deepEqual(await lintBundle(withRoot, { now: now() }), []);
      const keyBeside = await bundle([pki.pem.leaf, pki.pem.int], { key: pki.keys.leaf });
      assert.deepEqual(await lintBundle(keyBeside, { now: now() }), []);
      const crlf = await bundle(goodBundle().map((part) => part.replace(/\n/g, '\r\n')));
      assert.deepEqual(await lintBundle(crlf, { now: now() }), []);
    });

    it('finds the issuer in CRT.issuer when the bundle holds only the EE certificate', async () => {
      const certPath = await bundle([pki.pem.leaf, pki.keys.leaf], { issuer: pki.pem.int, ocsp: pki.ocsp.leafGood });
      assert.deepEqual(await lintBundle(certPath, { now: now() }), []);
    });
  });

  describe('the bundle', () => {
    it('bundle-unreadable: the file does not exist', async () => {
      const certPath = path.join(pki.dir, 'missing.pem');
      const finding = only(await lintBundle(certPath, { now: now() }), 'bundle-unreadable');
      assert.equal(finding.cert, certPath);
      assert.match(finding.message, /ENOENT/);
      assert.equal(finding.kind, 'certificate');
    });

    it('no-certificate: a key alone', async () => {
      const certPath = await bundle([pki.keys.leaf]);
      const findings = await lintBundle(certPath, { now: now() });
      assert.deepEqual(codes(findings), ['no-certificate']);
      assert.equal(findings[0]!.message, `can't extract EE certificate from ${certPath}`);
      assert.equal(findings[0]!.severity, 'error');
      assert.equal(findings[0]!.kind, 'certificate');
    });

    it('certificate-unparseable: a corrupted block, the others still linted', async () => {
      const garbage = '-----BEGIN CERTIFICATE-----\nTm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n';
      const findings = await lintBundle(await bundle([pki.pem.leaf, garbage, pki.pem.int, pki.keys.leaf]), {
        now: now(),
      });
      assert.deepEqual(codes(findings), ['certificate-unparseable']);
      assert.match(findings[0]!.message, /^certificate 2 of the bundle is not a valid certificate/);
      assert.equal(findings[0]!.kind, 'parsing');
    });
  });

  describe('the chain', () => {
    it('chain-order (error): a CA certificate first, naming the one that looks like the EE', async () => {
      const findings = await lintBundle(await bundle([pki.pem.int, pki.pem.leaf, pki.pem.root, pki.keys.leaf]), {
        now: now(),
      });
      assert.deepEqual(codes(findings), ['chain-order', 'key-mismatch']);
      const order = only(findings, 'chain-order');
      assert.equal(order.severity, 'error');
      assert.match(
        order.message,
        /^certificate 1 \(CN=Lint Int\) is a CA certificate; certificate 2 \(CN=leaf\.lint\.test\) looks like the EE certificate/,
      );
      assert.match(
        only(findings, 'key-mismatch').message,
        /it matches certificate 2 \(CN=leaf\.lint\.test\), which belongs first/,
      );
    });

    it('chain-order (warning): intermediates out of order', async () => {
      const findings = await lintBundle(await bundle([pki.pem.leaf, pki.pem.root, pki.pem.int, pki.keys.leaf]), {
        now: now(),
      });
      const order = only(findings, 'chain-order');
      assert.equal(order.severity, 'warning');
      assert.match(
        order.message,
        /certificate 2 \(CN=Lint Root\) follows certificate 1 \(CN=leaf\.lint\.test\) but did not issue it; order the chain as 1, 3, 2/,
      );
      assert.deepEqual(codes(findings), ['chain-order']);
    });

    it('chain-unrelated: a certificate of another PKI', async () => {
      const certPath = await bundle([pki.pem.leaf, pki.pem.int, pki.pem.otherRoot, pki.keys.leaf]);
      const findings = await lintBundle(certPath, { now: now() });
      assert.deepEqual(codes(findings), ['chain-unrelated']);
      assert.match(findings[0]!.message, /^certificate 3 \(CN=Other Root\) is on no chain with the EE certificate/);
      assert.equal(findings[0]!.severity, 'warning');
    });

    it('issuer-missing: the intermediate left out, without blaming the root for it', async () => {
      const findings = await lintBundle(await bundle([pki.pem.leaf, pki.pem.root, pki.keys.leaf]), { now: now() });
      assert.deepEqual(codes(findings), ['issuer-missing']);
      assert.match(
        findings[0]!.message,
        /^the issuer of certificate 1 \(CN=leaf\.lint\.test\), CN=Lint Int, is neither in the bundle nor in .*site\.pem\.issuer/,
      );
      assert.equal(findings[0]!.kind, 'certificate');
    });

    it("issuer-missing: a re-keyed intermediate of the same name is not the issuer; HAProxy's refusal with .ocsp", async () => {
      const certPath = await bundle([pki.pem.leaf, pki.pem.intRekeyed, pki.keys.leaf], { ocsp: pki.ocsp.leafGood });
      const finding = only(await lintBundle(certPath, { now: now() }), 'issuer-missing');
      assert.match(finding.message, /impossible to compute the OCSP certificate ID/);
    });

    it('issuer-missing: a lone EE certificate is a parsing error for the original tool (exit 3)', async () => {
      const finding = only(
        await lintBundle(await bundle([pki.pem.leaf, pki.keys.leaf]), { now: now() }),
        'issuer-missing',
      );
      assert.equal(finding.kind, 'parsing');
    });
  });

  describe('the private key', () => {
    it('key-mismatch: another key in the bundle', async () => {
      const findings = await lintBundle(await bundle([pki.pem.leaf, pki.pem.int, pki.keys.other]), { now: now() });
      assert.deepEqual(codes(findings), ['key-mismatch']);
      assert.match(
        findings[0]!.message,
        /^the private key in the bundle does not match certificate 1 \(CN=leaf\.lint\.test\)/,
      );
      assert.equal(findings[0]!.kind, 'certificate');
    });

    it('key-mismatch: another key in CRT.key beside a keyless bundle', async () => {
      const certPath = await bundle([pki.pem.leaf, pki.pem.int], { key: pki.keys.other });
      const findings = await lintBundle(certPath, { now: now() });
      assert.deepEqual(codes(findings), ['key-mismatch']);
      assert.ok(findings[0]!.message.includes(`in ${certPath}.key does not match`));
    });

    it('key-mismatch: an EE certificate with an empty subject, which node gives as undefined', async () => {
      const emptySubject = withEmptySubject(pki.pem.leaf, await readFile(path.join(pki.dir, 'int.key'), 'utf8'));
      const findings = await lintBundle(await bundle([emptySubject, pki.pem.int, pki.keys.other]), { now: now() });
      assert.deepEqual(codes(findings), ['key-mismatch']);
      assert.match(findings[0]!.message, /^the private key in the bundle does not match certificate 1 \(empty name\)/);
    });

    it('CRT.key is ignored when the bundle has a key, as HAProxy does', async () => {
      const certPath = await bundle(goodBundle(), { key: pki.keys.other });
      assert.deepEqual(await lintBundle(certPath, { now: now() }), []);
    });

    it('key-missing: no key anywhere, a warning', async () => {
      const findings = await lintBundle(await bundle([pki.pem.leaf, pki.pem.int]), { now: now() });
      assert.deepEqual(codes(findings), ['key-missing']);
      assert.equal(findings[0]!.severity, 'warning');
    });

    it('megabytes of BEGIN lines without an END: scanned in linear time, the key beside the bundle used', async () => {
      const flood = '-----BEGIN PRIVATE KEY-----\n'.repeat(100_000);
      const certPath = await bundle([pki.pem.leaf, pki.pem.int, flood], { key: pki.keys.leaf });
      const startedAt = performance.now();
      assert.deepEqual(await lintBundle(certPath, { now: now() }), []);
      const elapsedMs = performance.now() - startedAt;
      // A generous bound: the lazy regular expression took minutes on this.
      assert.ok(elapsedMs < 5000, `took ${elapsedMs} ms`);
    });

    it('key-unreadable: a passphrase-protected key', async () => {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const encrypted = privateKey
        .export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'x' })
        .toString();
      const findings = await lintBundle(await bundle([pki.pem.leaf, pki.pem.int, encrypted]), { now: now() });
      assert.deepEqual(codes(findings), ['key-unreadable']);
      assert.match(findings[0]!.message, /^the private key in the bundle can't be read/);
    });
  });

  describe('validity', () => {
    it('cert-expired: after the EE certificate ends', async () => {
      const findings = await lintBundle(await bundle(goodBundle()), at(91 * dayMs));
      const finding = only(findings, 'cert-expired');
      assert.match(finding.message, /^certificate 1 \(CN=leaf\.lint\.test\) expired at \d{4}-/);
      assert.equal(finding.severity, 'error');
    });

    it('cert-not-yet-valid: before the certificates begin', async () => {
      const findings = await lintBundle(await bundle(goodBundle()), at(-3600_000));
      assert.deepEqual(codes(findings), ['cert-not-yet-valid', 'cert-not-yet-valid']);
      assert.match(findings[0]!.message, /^certificate 1 \(CN=leaf\.lint\.test\) is not valid before/);
    });

    it('cert-expiring: within warnDays (21 by default)', async () => {
      const certPath = await bundle([pki.pem.expiring, pki.pem.int, pki.keys.leaf]);
      const finding = only(await lintBundle(certPath, { now: now() }), 'cert-expiring');
      assert.equal(finding.severity, 'warning');
      assert.match(finding.message, /expires at .*, in 9 days \(warning threshold: 21\)/);
      assert.deepEqual(await lintBundle(certPath, { now: now(), warnDays: 5 }), []);
    });
  });

  describe('the EE certificate', () => {
    it('no-ocsp-url: a warning, an error with requireOcsp, exit 2 either way', async () => {
      const certPath = await bundle([pki.pem.noUrl, pki.pem.int, pki.keys.leaf]);
      const warning = only(await lintBundle(certPath, { now: now() }), 'no-ocsp-url');
      assert.equal(warning.severity, 'warning');
      assert.match(warning.message, /^OCSP server URL not found in the EE certificate/);
      assert.equal(warning.kind, 'no-ocsp-url');
      const error = only(await lintBundle(certPath, { now: now(), requireOcsp: true }), 'no-ocsp-url');
      assert.equal(error.severity, 'error');
      assert.equal(error.kind, 'no-ocsp-url');
    });

    it('ocsp-url-format: an ldap:// URL', async () => {
      const findings = await lintBundle(await bundle([pki.pem.ldapUrl, pki.pem.int, pki.keys.leaf]), { now: now() });
      assert.deepEqual(codes(findings), ['ocsp-url-format']);
      assert.equal(findings[0]!.message, 'OCSP server URL not in http[s]:// format: ldap://127.0.0.1/cn=ocsp');
      assert.equal(findings[0]!.kind, 'parsing');
    });

    /** The `leaf` certificate with its extensions edited, signed again by Int. */
    const editedLeaf = async (edit: (extensions: Buffer[]) => Buffer[]) =>
      withExtensions(pki.pem.leaf, await readFile(path.join(pki.dir, 'int.key'), 'utf8'), edit);

    it('ocsp-url-format: an Authority Information Access that cannot be decoded (a URI with a non-ASCII byte)', async () => {
      const uri = Buffer.from(`${ocspUrl}\xe9`, 'latin1');
      const leaf = await editedLeaf((extensions) =>
        extensions.map((der) =>
          extensionId(der) === AUTHORITY_INFO_ACCESS ? extension(AUTHORITY_INFO_ACCESS, ocspAia(uri)) : der,
        ),
      );
      const uriOffset = new X509Certificate(leaf).raw.indexOf(uri) - 2;
      const findings = await lintBundle(await bundle([leaf, pki.pem.int, pki.keys.leaf]), { now: now() });
      assert.deepEqual(findings, [
        {
          cert: findings[0]?.cert,
          code: 'ocsp-url-format',
          severity: 'error',
          message: `OCSP server URL not in http[s]:// format (can't decode the EE certificate's Authority Information Access extension: URI: non-ASCII IA5String (at byte ${uriOffset}))`,
          kind: 'parsing',
        },
      ]);
    });

    it('ocsp-url-format: a URL of 100 KB, quoted cut short', async () => {
      const url = `ldap://127.0.0.1/${'x'.repeat(100_000)}`;
      const leaf = await editedLeaf((extensions) =>
        extensions.map((der) =>
          extensionId(der) === AUTHORITY_INFO_ACCESS
            ? extension(AUTHORITY_INFO_ACCESS, ocspAia(Buffer.from(url)))
            : der,
        ),
      );
      const finding = only(
        await lintBundle(await bundle([leaf, pki.pem.int, pki.keys.leaf]), { now: now() }),
        'ocsp-url-format',
      );
      assert.match(
        finding.message,
        /^OCSP server URL not in http\[s\]:\/\/ format: ldap:\/\/127\.0\.0\.1\/x+… \(\d+ more characters\)$/,
      );
      assert.ok(finding.message.length < 300, `${finding.message.length} characters`);
    });

    it('tls-feature-unreadable: a TLS Feature that cannot be decoded, a warning that does not claim Must-Staple', async () => {
      const leaf = await editedLeaf((extensions) => [
        ...extensions,
        extension(TLS_FEATURE, Buffer.from('3003040105', 'hex')),
      ]);
      const findings = await lintBundle(await bundle([leaf, pki.pem.int, pki.keys.leaf]), { now: now() });
      assert.deepEqual(codes(findings), ['tls-feature-unreadable']);
      assert.equal(findings[0]!.severity, 'warning');
      assert.equal(findings[0]!.kind, 'parsing');
      assert.match(
        findings[0]!.message,
        /^certificate 1 \(CN=leaf\.lint\.test\): can't decode the EE certificate's TLS Feature extension: TLS feature: expected INTEGER, found OCTET STRING \(at byte \d+\): whether it demands OCSP stapling \(Must-Staple\) is unknown$/,
      );
    });

    it('must-staple: a warning', async () => {
      const findings = await lintBundle(await bundle([pki.pem.mustStaple, pki.pem.int, pki.keys.leaf]), { now: now() });
      assert.deepEqual(codes(findings), ['must-staple']);
      assert.equal(findings[0]!.severity, 'warning');
      assert.match(findings[0]!.message, /Must-Staple/);
    });
  });

  describe('CRT.issuer', () => {
    it('issuer-file-mismatch: a stale .issuer (the re-keyed intermediate)', async () => {
      const certPath = await bundle(goodBundle(), { issuer: pki.pem.intRekeyed });
      const finding = only(await lintBundle(certPath, { now: now() }), 'issuer-file-mismatch');
      assert.equal(finding.severity, 'error');
      assert.ok(
        finding.message.startsWith(`${certPath}.issuer starts with CN=Lint Int, which did not issue certificate 1`),
      );
      assert.match(
        finding.message,
        /can't validate the EE certificate, and HAProxy will refuse to load the bundle once its \.ocsp file exists/,
      );
      const withOcsp = await bundle(goodBundle(), { issuer: pki.pem.intRekeyed, ocsp: pki.ocsp.leafGood });
      assert.match(
        only(await lintBundle(withOcsp, { now: now() }), 'issuer-file-mismatch').message,
        /HAProxy refuses to load the bundle while its \.ocsp file exists \("is not an issuer"\)/,
      );
    });

    it('issuer-file-mismatch: the issuer is in the file, but not first', async () => {
      const certPath = await bundle(goodBundle(), { issuer: pki.pem.otherRoot + pki.pem.int });
      const finding = only(await lintBundle(certPath, { now: now() }), 'issuer-file-mismatch');
      assert.match(finding.message, /hapos-upd finds the issuer further in it \(certificate 2\), but HAProxy/);
    });

    it('issuer-file-unreadable: no certificate in it', async () => {
      const findings = await lintBundle(await bundle(goodBundle(), { issuer: 'not a certificate\n' }), { now: now() });
      assert.deepEqual(codes(findings), ['issuer-file-unreadable']);
    });
  });

  describe('CRT.ocsp', () => {
    it('ocsp-file-mismatch: the response of another certificate', async () => {
      const findings = await lintBundle(await bundle(goodBundle(), { ocsp: pki.ocsp.otherGood }), { now: now() });
      assert.deepEqual(codes(findings), ['ocsp-file-mismatch']);
      assert.match(findings[0]!.message, /OCSP response is for another certificate \(serial 1005, expected 1001\)/);
      assert.equal(findings[0]!.kind, 'ocsp');
    });

    it('ocsp-file-expired: past its Next Update', async () => {
      const certPath = await bundle(goodBundle(), { ocsp: pki.ocsp.leafGood });
      const findings = await lintBundle(certPath, at(8 * dayMs));
      assert.deepEqual(codes(findings), ['ocsp-file-expired']);
      assert.match(findings[0]!.message, /OCSP response has expired/);
      assert.equal(findings[0]!.kind, 'ocsp');
    });

    it('ocsp-file-unreadable: an HTML error page', async () => {
      const findings = await lintBundle(await bundle(goodBundle(), { ocsp: '<html>502 Bad Gateway</html>' }), {
        now: now(),
      });
      assert.deepEqual(codes(findings), ['ocsp-file-unreadable']);
      assert.match(findings[0]!.message, /not an OCSP response: text starting with/);
      assert.equal(findings[0]!.kind, 'parsing');
    });

    it('ocsp-file-empty: the placeholder that enables `set ssl ocsp-response`, a warning', async () => {
      const findings = await lintBundle(await bundle(goodBundle(), { ocsp: '' }), { now: now() });
      assert.deepEqual(codes(findings), ['ocsp-file-empty']);
      assert.equal(findings[0]!.severity, 'warning');
    });

    it('ocsp-file-unusable: no Next Update, or a tryLater answer', async () => {
      const noNextUpdate = await bundle(goodBundle(), { ocsp: pki.ocsp.leafNoNextUpdate });
      assert.match(
        only(await lintBundle(noNextUpdate, { now: now() }), 'ocsp-file-unusable').message,
        /no Next Update/,
      );
      const tryLater = await bundle(goodBundle(), { ocsp: Buffer.from('30030a0103', 'hex') });
      assert.match(only(await lintBundle(tryLater, { now: now() }), 'ocsp-file-unusable').message, /'tryLater'/);
    });

    it('ocsp-file-revoked: a revoked status', async () => {
      const certPath = await bundle([pki.pem.expiring, pki.pem.int, pki.keys.leaf], { ocsp: pki.ocsp.expiringRevoked });
      const findings = await lintBundle(certPath, { now: now() });
      assert.deepEqual(codes(findings), ['cert-expiring', 'ocsp-file-revoked']);
      assert.match(findings[1]!.message, /certificate revoked at 2026-11-01T00:00:00\.000Z \(reason: keyCompromise\)/);
    });
  });

  describe('orderedChain and isIssuedBy', () => {
    const parsed = (name: keyof Pki['pem']) => ({ name, x509: new X509Certificate(pki.pem[name]) });

    it('orders a shuffled chain from the EE certificate up and sets unrelated certificates aside', () => {
      const chain = orderedChain([parsed('root'), parsed('otherRoot'), parsed('leaf'), parsed('int')]);
      assert.ok(chain);
      assert.equal(chain.leaf.name, 'leaf');
      assert.deepEqual(
        chain.issuers.map((entry) => entry.name),
        ['int', 'root'],
      );
      assert.deepEqual(
        chain.unrelated.map((entry) => entry.name),
        ['otherRoot'],
      );
      assert.equal(orderedChain([]), undefined);
    });

    it('prefers the first certificate among several EE certificates', () => {
      const chain = orderedChain([parsed('other'), parsed('int'), parsed('leaf')]);
      assert.equal(chain?.leaf.name, 'other');
      assert.deepEqual(
        chain?.unrelated.map((entry) => entry.name),
        ['leaf'],
      );
    });

    it('needs the issuer key, not only its name', () => {
      const leaf = parsed('leaf').x509;
      assert.equal(isIssuedBy(leaf, parsed('int').x509), true);
      assert.equal(isIssuedBy(leaf, parsed('intRekeyed').x509), false);
      assert.equal(isIssuedBy(leaf, parsed('otherRoot').x509), false);
    });
  });

  describe('checkExitCode', () => {
    it("is the first error's exit code, 0 with warnings only", async () => {
      const noUrl = await bundle([pki.pem.noUrl, pki.pem.int, pki.keys.other]);
      assert.equal(checkExitCode(await lintBundle(noUrl, { now: now() })), 1);
      assert.equal(checkExitCode(await lintBundle(noUrl, { now: now(), requireOcsp: false })), 1);
      const warningsOnly = await bundle([pki.pem.noUrl, pki.pem.int]);
      assert.equal(checkExitCode(await lintBundle(warningsOnly, { now: now() })), 0);
      assert.equal(checkExitCode(await lintBundle(warningsOnly, { now: now(), requireOcsp: true })), 2);
    });
  });
});
