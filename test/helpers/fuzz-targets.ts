// The decoders that read foreign bytes, each with the inputs to throw at it:
// shared by the property tests (a fixed seed, a small budget) and
// `make fuzz` (a random seed, minutes). A decoder may return anything or
// throw its own typed error; any other exception, or an input that takes
// TIME_LIMIT_MS or more, is a failure.
import fc from 'fast-check';
import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { fileURLToPath } from 'node:url';
import {
  DerError,
  UniversalTag,
  contentOffset,
  describeTag,
  parseDer,
  readChildren,
  type DerElement,
} from '../../lib/pki/der.ts';
import {
  formatOid,
  readBitString,
  readBoolean,
  readEnumerated,
  readExplicit,
  readGeneralizedTime,
  readIa5String,
  readImplicit,
  readInteger,
  readIntegerHex,
  readNull,
  readOctetString,
  readOid,
  readSequence,
} from '../../lib/pki/der-readers.ts';
import { encodeSequence } from '../../lib/pki/der-encode.ts';
import { encodeElement } from './der-encode.ts';
import { computeCertId } from '../../lib/pki/cert-id.ts';
import { CertificateParseError, parseCertificateDetails } from '../../lib/pki/certificate.ts';
import { OcspParseError, parseOcspResponse } from '../../lib/pki/ocsp-response.ts';
import { findPemBlocks, parseBundle } from '../../lib/pki/bundle.ts';
import { parseCrtList, type CrtListEntry } from '../../lib/sources/crt-list.ts';
import { CrtListSyntaxError } from '../../lib/sources/errors.ts';
import { oneLine, parseCertificateList, parseOcspResponseIds, parseWorkerPids } from '../../lib/haproxy/replies.ts';
import { generatedDer, mutatedDer } from './der-tree.ts';
import { extensionsOf } from './certificate-surgery.ts';

/** Every input must be decoded in less than this. */
const TIME_LIMIT_MS = 100;

/** One input, ready to run. */
export interface FuzzCase {
  /** The input as bytes, for reports (Latin-1 for text read so, UTF-8 otherwise). */
  bytes(): Buffer;
  /** Runs the decoder: the part that is timed. */
  decode(): unknown;
  /** Checks what decode returned against what is known of the input; throws when it differs. */
  verify?(result: unknown): void;
}

export interface FuzzTarget {
  readonly name: string;
  readonly cases: fc.Arbitrary<FuzzCase>;
  /** The typed errors the decoder is allowed to throw. */
  readonly isOwnError: (error: unknown) => boolean;
}

export interface Verdict {
  readonly elapsedMs: number;
  /** Why the input failed: a foreign exception or a result that differs from what was expected. */
  readonly failure?: string;
}

const describeError = (error: unknown) =>
  error instanceof Error ? `${error.name}: ${error.message.slice(0, 500)}` : String(error).slice(0, 500);

/** Decodes one input and judges it (the time limit is the caller's to apply). */
export function runCase(target: FuzzTarget, fuzzCase: FuzzCase): Verdict {
  const attempt = (): Verdict & { result?: unknown } => {
    const startedAt = performance.now();
    try {
      const result = fuzzCase.decode();
      return { elapsedMs: performance.now() - startedAt, result };
    } catch (error) {
      const elapsedMs = performance.now() - startedAt;
      return target.isOwnError(error) ? { elapsedMs } : { elapsedMs, failure: describeError(error) };
    }
  };
  let verdict = attempt();
  // A garbage collection or a busy machine is not the decoder's doing: only an input slow three times counts.
  for (let retry = 0; retry < 2 && verdict.failure === undefined && verdict.elapsedMs >= TIME_LIMIT_MS; retry++) {
    const again = attempt();
    if (again.elapsedMs < verdict.elapsedMs) verdict = again;
  }
  if (verdict.failure !== undefined || fuzzCase.verify === undefined || !('result' in verdict)) return verdict;
  try {
    fuzzCase.verify(verdict.result);
    return { elapsedMs: verdict.elapsedMs };
  } catch (error) {
    return { elapsedMs: verdict.elapsedMs, failure: `unexpected result: ${describeError(error)}` };
  }
}

/** A failure message, or undefined when the verdict passes. */
export function failureOf(verdict: Verdict): string | undefined {
  if (verdict.failure !== undefined) return verdict.failure;
  if (verdict.elapsedMs >= TIME_LIMIT_MS) return `took ${verdict.elapsedMs.toFixed(1)} ms (limit ${TIME_LIMIT_MS} ms)`;
  return undefined;
}

/** INPUT's size and its first SHOWN bytes in hex, enough to recognise it in a report. */
export function describeInput(input: Buffer, shown = 256): string {
  return `${input.length} bytes: ${input.subarray(0, shown).toString('hex')}${input.length > shown ? '…' : ''}`;
}

/** Fixed: make test tries the same inputs every time, and `make fuzz` draws new ones. */
export const PROPERTY_SEED = 20261203;

/**
 * Asserts that NUM_RUNS inputs of TARGET pass, fast-check shrinking a
 * failing one unless END_ON_FAILURE.
 */
export function assertTargetHolds(target: FuzzTarget, numRuns: number, options: { endOnFailure?: boolean } = {}): void {
  const described = target.cases.map((fuzzCase) =>
    Object.assign(fuzzCase, { [fc.toStringMethod]: () => describeInput(fuzzCase.bytes()) }),
  );
  fc.assert(
    fc.property(described, (fuzzCase) => {
      const failure = failureOf(runCase(target, fuzzCase));
      if (failure !== undefined) throw new Error(`${target.name}: ${failure}`);
    }),
    { seed: PROPERTY_SEED, numRuns, endOnFailure: options.endOnFailure ?? false },
  );
}

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const VECTORS_DIR = '/usr/lib/python3/dist-packages/cryptography_vectors';

function requireDirectory(dir: string, remedy: string): string {
  if (!existsSync(dir)) throw new Error(`${dir} is missing: ${remedy}`);
  return dir;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath, entry.name))
    .sort();
}

function parsesAsCertificate(der: Buffer): boolean {
  try {
    new X509Certificate(der);
    return true;
  } catch {
    return false;
  }
}

/** Real material to mutate: Debian's python3-cryptography-vectors and this project's fixtures. */
export interface Seeds {
  /** DER OCSP responses (some deliberately odd, as the vectors are). */
  readonly responses: readonly Buffer[];
  /** DER OCSP requests: their CertIDs and extensions make good donors. */
  readonly requests: readonly Buffer[];
  /** DER certificates node parses. */
  readonly certificates: readonly Buffer[];
  /** PEM private keys, each with its own label. */
  readonly privateKeys: readonly string[];
}

let loadedSeeds: Seeds | undefined;

export function loadSeeds(): Seeds {
  if (loadedSeeds) return loadedSeeds;
  const vectors = requireDirectory(
    path.join(VECTORS_DIR, 'x509'),
    'install python3-cryptography-vectors (make test installs it); the property tests mutate its real certificates and OCSP responses',
  );
  const pkiDir = requireDirectory(path.join(repoRoot, 'fixtures', 'pki'), 'run make pki first');
  const ocspFixtures = path.join(repoRoot, 'fixtures', 'ocsp');
  const vectorOcsp = filesUnder(path.join(vectors, 'ocsp'));
  const fixtureDer = filesUnder(ocspFixtures).filter((file) => file.endsWith('.der'));
  const responses = [
    ...vectorOcsp.filter((file) => /resp/.test(path.basename(file))),
    ...fixtureDer.filter((file) => !file.endsWith('-req.der')),
  ].map((file) => readFileSync(file));
  const requests = [
    ...vectorOcsp.filter((file) => /req/.test(path.basename(file))),
    ...fixtureDer.filter((file) => file.endsWith('-req.der')),
  ].map((file) => readFileSync(file));
  const certificateFiles = [...filesUnder(vectors), ...filesUnder(ocspFixtures), ...filesUnder(pkiDir)].filter((file) =>
    /\.(pem|der|crt|cer)$/.test(file),
  );
  const certificates = certificateFiles.flatMap((file) => {
    const bytes = readFileSync(file);
    const candidates = bytes.includes('-----BEGIN CERTIFICATE-----')
      ? parseBundle(bytes.toString('latin1')).certificates.map((certificate) => certificate.x509.raw)
      : [bytes];
    return candidates.filter((der) => der.length > 0 && parsesAsCertificate(der));
  });
  if (responses.length < 10 || certificates.length < 100) {
    throw new Error(
      `too few seeds under ${VECTORS_DIR}: ${responses.length} responses, ${certificates.length} certificates`,
    );
  }
  const ecKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const privateKeys = [
    ecKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    ecKey.export({ type: 'sec1', format: 'pem' }).toString(),
    readFileSync(path.join(pkiDir, 'leaf-rsa.key'), 'latin1'),
  ];
  loadedSeeds = { responses, requests, certificates, privateKeys };
  return loadedSeeds;
}

/** Every typed reader of lib/pki/der-readers.ts on every element it can reach, the way the decoders use them. */
function readEverything(der: Buffer): number {
  const readers: ((element: DerElement) => unknown)[] = [
    (element) => readInteger(element, 'x'),
    (element) => readIntegerHex(element, 'x'),
    (element) => readEnumerated(element, 'x'),
    (element) => readBoolean(element, 'x'),
    (element) => readNull(element, 'x'),
    (element) => readOctetString(element, 'x'),
    (element) => readBitString(element, 'x'),
    (element) => readIa5String(element, 'x'),
    (element) => formatOid(readOid(element, 'x')),
    (element) => readGeneralizedTime(element, 'x'),
    // As the decoders do: only a context-specific tag is unwrapped.
    (element) => element.tagClass === 'context' && readExplicit(element, element.tagNumber, 'x'),
    (element) => readImplicit(element, element.tagNumber, UniversalTag.sequence, 'x'),
    (element) => describeTag(element),
  ];
  const ignoringDerErrors = (read: () => void) => {
    try {
      read();
    } catch (error) {
      if (!(error instanceof DerError)) throw error;
    }
  };
  const pending = [parseDer(der)];
  let visited = 0;
  // The walk is the test's own, not a decoder's: bounded (each element costs a dozen
  // exceptions, each with its stack trace), and with a stack of its own.
  while (pending.length > 0 && visited < 300) {
    const element = pending.pop()!;
    visited++;
    for (const read of readers) ignoringDerErrors(() => read(element));
    if (element.constructed) {
      ignoringDerErrors(() => {
        for (const child of readChildren(element, 'x')) pending.push(child);
      });
    } else if (element.tagNumber === UniversalTag.octetString) {
      ignoringDerErrors(() => pending.push(parseDer(element.value, contentOffset(element))));
    }
  }
  return visited;
}

const bytesCase = (bytes: Buffer, decode: (bytes: Buffer) => unknown): FuzzCase => ({
  bytes: () => bytes,
  decode: () => decode(bytes),
});

function derTarget(seeds: Seeds): FuzzTarget {
  const all = [...seeds.responses, ...seeds.requests, ...seeds.certificates.slice(0, 50)];
  return {
    name: 'der-readers',
    cases: fc
      .oneof(mutatedDer(all), generatedDer)
      .map((bytes) => bytesCase(bytes, (input) => (input.length === 0 ? 0 : readEverything(input)))),
    isOwnError: (error) => error instanceof DerError,
  };
}

function ocspTarget(seeds: Seeds): FuzzTarget {
  const donors = [...seeds.responses, ...seeds.requests, ...seeds.certificates.slice(0, 20)];
  return {
    name: 'ocsp-response',
    cases: fc
      .oneof(
        { weight: 8, arbitrary: mutatedDer(seeds.responses, donors) },
        { weight: 1, arbitrary: generatedDer.map((der) => Buffer.concat([Buffer.from([0x30]), der.subarray(1)])) },
        { weight: 1, arbitrary: fc.uint8Array({ maxLength: 256 }).map((bytes) => Buffer.from(bytes)) },
      )
      .map((bytes) => bytesCase(bytes, parseOcspResponse)),
    isOwnError: (error) => error instanceof OcspParseError,
  };
}

/**
 * Mutated certificates that node still parses (its own refusal is not this
 * decoder's business), each decoded as the EE and as the issuer.
 */
function certificateTarget(seeds: Seeds): FuzzTarget {
  const extensionsIfStrict = (der: Buffer) => {
    try {
      return extensionsOf(der);
    } catch (error) {
      if (error instanceof DerError) return [];
      throw error;
    }
  };
  const withExtensions = seeds.certificates.filter((der) => extensionsIfStrict(der).length > 0);
  // A change confined to one extension leaves the rest valid: node takes more of these
  // certificates than of those mutated anywhere, and they reach the extension decoding.
  const mutatedExtension = fc
    .tuple(fc.nat(withExtensions.length - 1), fc.nat(), mutatedDer(withExtensions.flatMap(extensionsOf)))
    .map(([index, at, extension]) => {
      const certificate = withExtensions[index]!;
      const extensions = extensionsOf(certificate);
      extensions[at % extensions.length] = extension;
      return withExtensionList(certificate, extensions);
    });
  const issuer = new X509Certificate(readFileSync(path.join(repoRoot, 'fixtures', 'ocsp', 'ca.pem')));
  const leaf = new X509Certificate(readFileSync(path.join(repoRoot, 'fixtures', 'ocsp', 'leaf.pem')));
  return {
    name: 'certificate',
    cases: fc
      .oneof(
        { weight: 1, arbitrary: fc.constantFrom(...seeds.certificates) },
        { weight: 3, arbitrary: mutatedDer(seeds.certificates) },
        { weight: 3, arbitrary: mutatedExtension },
      )
      .map((der) => {
        let x509: X509Certificate | undefined;
        try {
          x509 = new X509Certificate(der);
        } catch {
          x509 = undefined;
        }
        return {
          bytes: () => der,
          decode: () => {
            // Node refused it: nothing reaches this decoder then.
            if (x509 === undefined) return undefined;
            const outcomes: unknown[] = [];
            for (const decode of [
              () => parseCertificateDetails(x509),
              () => computeCertId(x509, issuer),
              () => computeCertId(x509, x509),
              () => computeCertId(leaf, x509),
            ]) {
              try {
                outcomes.push(decode());
              } catch (error) {
                if (!(error instanceof CertificateParseError)) throw error;
              }
            }
            return outcomes;
          },
        };
      }),
    isOwnError: (error) => error instanceof CertificateParseError,
  };
}

/** CERTIFICATE (DER) with EXTENSIONS instead of its own, its signature left as it was. */
function withExtensionList(certificate: Buffer, extensions: readonly Buffer[]): Buffer {
  const [tbs, algorithm, signature] = readSequence(parseDer(certificate), 'Certificate');
  const fields = readSequence(tbs!, 'TBSCertificate')
    .map((field) => field.der)
    .filter((field) => field[0] !== 0xa3);
  return encodeSequence([
    encodeSequence([...fields, encodeElement('context', true, 3, encodeSequence([...extensions]))]),
    algorithm!.der,
    signature!.der,
  ]);
}

/** The lazy regular expressions bundles were split with: the reference on small texts (they are quadratic). */
const referenceCertificates = (text: string) =>
  (text.match(/-----BEGIN CERTIFICATE-----\r?\n[\s\S]*?-----END CERTIFICATE-----/g) ?? []).map(
    (block) => `${block.replace(/\r\n/g, '\n')}\n`,
  );
const referencePrivateKey = (text: string) =>
  /-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----\r?\n[\s\S]*?-----END \1-----/.exec(text)?.[0];
const isPrivateKeyLabel = (label: string) => label.endsWith('PRIVATE KEY') && /^[A-Z0-9 ]*$/.test(label);
const referenceLimit = 20_000;

/** Flooding: FRAGMENT repeated up to a few megabytes. */
const flood = (fragment: fc.Arbitrary<string>, maxBytes: number) =>
  fc
    .tuple(fragment, fc.integer({ min: 1, max: 200_000 }))
    .map(([text, count]) => text.repeat(Math.max(1, Math.min(count, Math.floor(maxBytes / Math.max(1, text.length))))));

const latin1Text = fc.string({
  unit: fc.integer({ min: 0, max: 255 }).map((code) => String.fromCharCode(code)),
  maxLength: 40,
});

/** 2 MB: a bundle is a few kilobytes, and the scan takes about 10 ms a megabyte. */
const maxPemBytes = 2 * 1024 * 1024;

function pemTarget(seeds: Seeds): FuzzTarget {
  const blocks = seeds.certificates
    .slice(0, 30)
    .map(
      (der) =>
        `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`,
    );
  const label = fc.constantFrom(
    'CERTIFICATE',
    'PRIVATE KEY',
    'EC PRIVATE KEY',
    'RSA PRIVATE KEY',
    'X509 CRL',
    'CERT',
    '',
  );
  const lineEnd = fc.constantFrom('\n', '\r\n', '', '\r', '\r\r\n', '--\n');
  const fragment = fc.oneof(
    fc.constantFrom(...blocks, ...seeds.privateKeys),
    fc.constantFrom(...blocks).map((block) => block.replace(/\n/g, '\r\n')),
    fc.tuple(label, lineEnd).map(([name, end]) => `-----BEGIN ${name}-----${end}`),
    fc.tuple(label, lineEnd).map(([name, end]) => `-----END ${name}-----${end}`),
    latin1Text,
    fc.constantFrom('-----', '-----BEGIN ', '-----END ', '\n', '\r\n', 'MIIB', '====\n'),
  );
  const text = fc.oneof(
    { weight: 8, arbitrary: fc.array(fragment, { maxLength: 12 }).map((parts) => parts.join('')) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.array(fragment, { maxLength: 3 }), flood(fragment, maxPemBytes), fc.array(fragment, { maxLength: 3 }))
        .map(([before, middle, after]) => [...before, middle, ...after].join('')),
    },
    {
      weight: 1,
      arbitrary: flood(fc.constantFrom('A', ' ', '-', 'PRIVATE KEY'), maxPemBytes).map(
        (run) => `-----BEGIN ${run}-----\n`,
      ),
    },
  );
  return {
    name: 'pem',
    cases: text.map((input): FuzzCase => ({
      bytes: () => Buffer.from(input, 'latin1'),
      decode: () => ({
        certificates: parseBundle(input).blocks.map((block) => block.pem),
        privateKey: findPemBlocks(input, isPrivateKeyLabel)[0],
      }),
      verify: (result) => {
        if (input.length > referenceLimit) return;
        const expected = { certificates: referenceCertificates(input), privateKey: referencePrivateKey(input) };
        if (!isDeepStrictEqual(result, expected)) {
          throw new Error(
            `found ${JSON.stringify(result).slice(0, 300)}, the regular expressions ${JSON.stringify(expected).slice(0, 300)}`,
          );
        }
      },
    })),
    isOwnError: () => false,
  };
}

const crtListPath = '/etc/haproxy/crt-list.txt';
const separator = fc.constantFrom(' ', '  ', '\t', ' \t', '\v', '\f', ' \r');
/** A crt-list word: no whitespace, no brackets. */
const word = fc.stringMatching(/^[A-Za-z0-9_.\/*!:=,+%é-]{1,24}$/);

interface CrtListLine {
  readonly text: string;
  readonly expected: Omit<CrtListEntry, 'line'>;
}

const crtListLine: fc.Arbitrary<CrtListLine> = fc
  .record({
    certificate: word.filter((text) => !text.startsWith('#') && !text.startsWith('@')),
    options: fc.array(
      word.filter((text) => text !== 'ocsp-update'),
      { maxLength: 4 },
    ),
    ocspUpdate: fc.constantFrom(undefined, 'on' as const, 'off' as const),
    bracketed: fc.boolean(),
    filters: fc.array(word, { maxLength: 3 }),
    separators: fc.array(separator, { minLength: 8, maxLength: 8 }),
  })
  .map(({ certificate, options, ocspUpdate, bracketed, filters, separators }) => {
    const [s0, s1, s2, s3] = separators as [string, string, string, string];
    const optionWords = [...options, ...(ocspUpdate === undefined ? [] : ['ocsp-update', ocspUpdate])];
    const hasOptions = bracketed || optionWords.length > 0;
    const text = [
      certificate,
      hasOptions ? `${s0}[${s1}${optionWords.join(s2)}${s3}]` : '',
      ...filters.map((filter, index) => `${separators[4 + (index % 4)]}${filter}`),
    ].join('');
    return {
      text,
      expected: {
        path: path.isAbsolute(certificate) ? certificate : path.join(path.dirname(crtListPath), certificate),
        ocspUpdate,
        sslBindOptions: options,
        sniFilters: filters,
      },
    };
  });

function crtListTarget(): FuzzTarget {
  const lines = fc.array(
    fc.oneof(
      { weight: 6, arbitrary: crtListLine },
      { weight: 1, arbitrary: fc.constantFrom('', '# comment', '  # indented', '\t', '\r').map((text) => ({ text })) },
    ),
    { maxLength: 12 },
  );
  const valid = lines.map((parsed) => {
    const text = parsed.map((line) => line.text).join('\n');
    const expected = parsed.flatMap((line, index) =>
      'expected' in line ? [{ ...line.expected, line: index + 1 }] : [],
    );
    return { text, expected };
  });
  const noise = fc.constantFrom(
    ' ',
    '\t',
    '\r',
    '\n',
    '[',
    ']',
    '#',
    '@',
    '!',
    'ocsp-update',
    'on',
    'é',
    '\u0000',
    '\u2028',
  );
  const hostile = fc.oneof(
    fc.tuple(valid, fc.array(fc.tuple(fc.nat(), noise), { minLength: 1, maxLength: 6 })).map(([{ text }, insertions]) =>
      insertions.reduce((current, [at, inserted]) => {
        const position = current.length === 0 ? 0 : at % (current.length + 1);
        return current.slice(0, position) + inserted + current.slice(position);
      }, text),
    ),
    // Up to 32 KB: parseCrtList reads about a megabyte a second (8 µs a six-character
    // line), so more would pass the time limit, linear as it is.
    flood(fc.constantFrom('[', ']', ' ', '\t', 'a', 'a.pem\n', 'a.pem [ocsp-update on]\n', '#\n', '\n'), 32 * 1024),
  );
  return {
    name: 'crt-list',
    cases: fc.oneof(
      valid.map(({ text, expected }): FuzzCase => ({
        bytes: () => Buffer.from(text, 'utf8'),
        decode: () => parseCrtList(text, crtListPath),
        verify: (result) => {
          if (!isDeepStrictEqual(result, expected)) {
            throw new Error(
              `parsed ${JSON.stringify(result).slice(0, 300)}, written ${JSON.stringify(expected).slice(0, 300)}`,
            );
          }
        },
      })),
      hostile.map((text): FuzzCase => ({
        bytes: () => Buffer.from(text, 'utf8'),
        decode: () => parseCrtList(text, crtListPath),
      })),
    ),
    isOwnError: (error) => error instanceof CrtListSyntaxError,
  };
}

const certificateName = fc.stringMatching(/^\/[A-Za-z0-9_.\/-]{1,40}$/);
const certificateIdHex = fc
  .uint8Array({ minLength: 40, maxLength: 90 })
  .map((bytes) => Buffer.from(bytes).toString('hex'));
const pid = fc.integer({ min: 1, max: 4_194_304 });

interface Reply {
  readonly text: string;
  readonly expected?: {
    readonly certificates?: ReturnType<typeof parseCertificateList>;
    readonly ocspIds?: string[];
    readonly workers?: number[];
  };
}

const replies: fc.Arbitrary<Reply> = fc.oneof(
  fc
    .record({
      names: fc.array(certificateName, { maxLength: 8 }),
      pending: fc.array(certificateName, { maxLength: 3 }),
    })
    .map(({ names, pending }) => ({
      text: `${pending.length > 0 ? `# transaction\n${pending.map((name) => `*${name}\n`).join('')}` : ''}# filename\n${names.map((name) => `${name}\n`).join('')}\n`,
      expected: { certificates: { names, inTransaction: pending } },
    })),
  fc.array(certificateIdHex, { maxLength: 6 }).map((ids) => ({
    text: `# Certificate IDs\n${ids.map((id) => `Certificate ID key : ${id.toUpperCase()}\n Certificate ID:\n   Serial Number: 1001\n\n`).join('')}\n`,
    expected: { ocspIds: ids },
  })),
  fc
    .record({ workers: fc.array(pid, { maxLength: 6 }), old: fc.array(pid, { maxLength: 3 }) })
    .map(({ workers, old }) => ({
      text: [
        '#<PID>          <type>          <reloads>       <uptime>        <version>      ',
        '19682           master          1 [failed: 0]   0d00h00m02s     2.6.12-1+deb12u4',
        '# workers',
        ...workers.map((worker) => `${worker}           worker          0               0d00h00m01s     2.6.12`),
        '# old workers',
        ...old.map((worker) => `${worker}           worker          1               0d00h00m02s     2.6.12`),
        '# programs',
        '',
        '',
      ].join('\n'),
      expected: { workers },
    })),
  fc
    .constantFrom('', '\n', 'Unknown command\n', 'Permission denied\n', 'OCSP Response updated!\n')
    .map((text) => ({ text })),
);

/** Replies mangled, or flooded up to MAX_BYTES. */
const hostileReplies = (maxBytes: number): fc.Arbitrary<string> =>
  fc.oneof(
    fc
      .tuple(
        replies,
        fc.array(fc.tuple(fc.nat(), fc.constantFrom(' ', '\t', '\r', '\n', '#', '*', '\u0000', '\u001b[2J', 'é')), {
          maxLength: 6,
        }),
      )
      .map(([{ text }, insertions]) =>
        insertions.reduce((current, [at, inserted]) => {
          const position = current.length === 0 ? 0 : at % (current.length + 1);
          return current.slice(0, position) + inserted + current.slice(position);
        }, text),
      ),
    fc
      .tuple(
        replies,
        flood(
          fc.constantFrom(' ', '\t', ' \n', '\n', 'x', '# workers\n', '1 worker\n', 'Certificate ID key : ab\n'),
          maxBytes,
        ),
        replies,
      )
      .map(([before, middle, after]) => `${before.text}${middle}${after.text}`),
    flood(fc.constantFrom(' ', '\t '), maxBytes).map((run) => `a${run}b\n`),
  );

function haproxyReplyTarget(): FuzzTarget {
  const parseAll = (text: string) => ({
    certificates: parseCertificateList(text),
    ocspIds: parseOcspResponseIds(text),
    workers: parseWorkerPids(text),
  });
  return {
    name: 'haproxy-replies',
    cases: fc.oneof(
      replies.map(({ text, expected }): FuzzCase => ({
        bytes: () => Buffer.from(text, 'utf8'),
        decode: () => parseAll(text),
        verify: (result) => {
          const parsed = result as ReturnType<typeof parseAll>;
          for (const key of ['certificates', 'ocspIds', 'workers'] as const) {
            if (expected?.[key] !== undefined && !isDeepStrictEqual(parsed[key], expected[key])) {
              throw new Error(
                `${key}: parsed ${JSON.stringify(parsed[key]).slice(0, 300)}, sent ${JSON.stringify(expected[key]).slice(0, 300)}`,
              );
            }
          }
        },
      })),
      // Up to 128 KB: the three parsers read about 2 MB a second together (a 186 KB reply
      // took 82 ms), so more would pass the time limit, linear as they are.
      hostileReplies(128 * 1024).map((text): FuzzCase => ({
        bytes: () => Buffer.from(text, 'utf8'),
        decode: () => parseAll(text),
      })),
    ),
    isOwnError: () => false,
  };
}

function oneLineTarget(): FuzzTarget {
  return {
    name: 'haproxy-one-line',
    cases: fc
      .oneof(
        replies.map(({ text }) => text),
        // Up to 32 KB: a quadratic oneLine takes a second on that already, and hours on a megabyte.
        hostileReplies(32 * 1024),
      )
      .map((text): FuzzCase => ({
        bytes: () => Buffer.from(text, 'utf8'),
        decode: () => oneLine(text),
        verify: (result) => {
          if (typeof result !== 'string' || result.includes('\n'))
            throw new Error(`not one line: ${JSON.stringify(result).slice(0, 300)}`);
        },
      })),
    isOwnError: () => false,
  };
}

/** Every target, by name. */
export function fuzzTargets(): readonly FuzzTarget[] {
  const seeds = loadSeeds();
  return [
    derTarget(seeds),
    ocspTarget(seeds),
    certificateTarget(seeds),
    pemTarget(seeds),
    crtListTarget(),
    haproxyReplyTarget(),
    oneLineTarget(),
  ];
}
