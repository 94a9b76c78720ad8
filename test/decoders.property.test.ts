// Property tests of the DER decoders on real responses and certificates
// (Debian's python3-cryptography-vectors and this project's fixtures), mutated
// and made up: each input is decoded in under 100 ms into a value or the
// decoder's own typed error. `make fuzz` runs the same targets for longer.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { run } from '../lib/process/run.ts';
import { parseCertificateDetails } from '../lib/pki/certificate.ts';
import { parseOcspResponse, type OcspResponse } from '../lib/pki/ocsp-response.ts';
import { assertTargetHolds, fuzzTargets, loadSeeds, PROPERTY_SEED } from './helpers/fuzz-targets.ts';

/** Inputs per target: about 2 s each on this project's 2-core machine. */
const runs: Readonly<Record<string, number>> = {
  'der-readers': 400,
  'ocsp-response': 4000,
  certificate: 4000,
};

describe(`decoders on hostile DER (seed ${PROPERTY_SEED})`, { concurrency: 1 }, () => {
  for (const target of fuzzTargets().filter((candidate) => candidate.name in runs)) {
    test(`${target.name}: ${runs[target.name]} inputs, each a value or the decoder's own error, in under 100 ms`, () =>
      assertTargetHolds(target, runs[target.name]!));
  }
});

describe('the real material decodes as the tools that made it read it', () => {
  test('certificates: serial number and OCSP URLs as node reads them, every extension decoded', () => {
    const { certificates } = loadSeeds();
    for (const der of certificates) {
      const x509 = new X509Certificate(der);
      const details = parseCertificateDetails(x509);
      const asNumber = (hex: string) => (hex.startsWith('-') ? -BigInt(`0x${hex.slice(1)}`) : BigInt(`0x${hex}`));
      assert.equal(asNumber(details.serialNumber), asNumber(x509.serialNumber), x509.subject);
      const nodeUrls = [...(x509.infoAccess ?? '').matchAll(/^OCSP - URI:(.*)$/gm)].map((match) => match[1]);
      assert.deepEqual(details.ocspUrls, nodeUrls, x509.subject);
      assert.equal(details.unreadableAia, undefined);
      assert.equal(details.unreadableTlsFeature, undefined);
    }
  });

  test('responses: the certificates and statuses openssl ocsp -resp_text shows', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'hapos-upd-vectors-'));
    try {
      let compared = 0;
      for (const [index, der] of loadSeeds().responses.entries()) {
        let response: OcspResponse;
        try {
          response = parseOcspResponse(der);
        } catch {
          continue;
        }
        const file = path.join(dir, `${index}.der`);
        await writeFile(file, der);
        const shown = await run('openssl', ['ocsp', '-respin', file, '-resp_text', '-noverify']);
        const opensslSingles = [
          ...shown.stdout.matchAll(/Certificate ID:\n(?:.*\n){3}\s*Serial Number: ([0-9A-F]+)\n\s*Cert Status: (\w+)/g),
        ].map((match) => [match[1], match[2]]);
        const singles =
          response.responseStatus === 'successful'
            ? response.responses.map((single) => [single.certId.serialNumber, single.certStatus])
            : [];
        assert.deepEqual(singles, opensslSingles, `response ${index}`);
        compared++;
      }
      assert.ok(compared >= 15, `${compared} responses compared`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
