import assert from 'node:assert/strict';
import { access, readFile } from 'node:fs/promises';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { run } from '../lib/process/run.ts';
import {
  asn1UtcTime,
  createTestPki,
  fetchOcspResponse,
  type LeafName,
  type TestLeaf,
  type TestPki,
} from './helpers/pki.ts';
import {
  startFakeHttpServer,
  startOcspResponder,
  startRecordingProxy,
  type OcspResponderOptions,
} from './helpers/responder.ts';

/** OCSPResponse with responseStatus tryLater (3) and no responseBytes. */
const tryLaterResponse = Buffer.from([0x30, 0x03, 0x0a, 0x01, 0x03]);

let pki: TestPki;

before(async () => {
  pki = await createTestPki();
});

after(async () => {
  await pki?.close();
});

function openssl(args: readonly string[]) {
  return run('openssl', args, { env: pki.env, timeoutMs: 10_000 });
}

/** The query the bash updater makes, verified against the leaf's issuer. */
function queryOcsp(leafName: LeafName, extraArgs: readonly string[] = [], url?: string) {
  const leaf = pki.leaves[leafName];
  const responderUrl = url ?? leaf.ocspUrl;
  assert.ok(responderUrl, `${leafName} has an OCSP URL`);
  return openssl([
    'ocsp',
    '-issuer',
    leaf.issuer,
    '-cert',
    leaf.cert,
    '-url',
    responderUrl,
    '-CAfile',
    leaf.issuer,
    ...extraArgs,
  ]);
}

function statusOf(leafName: LeafName, stdout: string): string | undefined {
  const prefix = `${pki.leaves[leafName].cert}: `;
  return stdout
    .split('\n')
    .find((line) => line.startsWith(prefix))
    ?.slice(prefix.length);
}

describe('OCSP responders answer each leaf as intended', () => {
  const expectations: ReadonlyArray<readonly [LeafName, string, 'verifies' | 'fails verification']> = [
    ['good', 'good', 'verifies'],
    ['goodEc', 'good', 'verifies'],
    ['revoked', 'revoked', 'verifies'],
    ['unknownToResponder', 'unknown', 'verifies'],
    ['issuerSigned', 'good', 'verifies'],
    ['expired', 'good', 'verifies'],
    ['notYetValid', 'good', 'verifies'],
    ['expiringSoon', 'good', 'verifies'],
    ['mustStaple', 'good', 'verifies'],
    ['noCerts', 'good', 'fails verification'],
    ['noEku', 'good', 'fails verification'],
    ['rogue', 'good', 'fails verification'],
    ['otherChain', 'unknown', 'fails verification'],
  ];
  for (const [leafName, status, verification] of expectations) {
    test(`${leafName}: ${status}, ${verification}`, async () => {
      const result = await queryOcsp(leafName);
      assert.equal(statusOf(leafName, result.stdout), status, result.stdout + result.stderr);
      assert.match(result.stdout, /^\tNext Update: /m);
      if (verification === 'verifies') {
        assert.equal(result.exitCode, 0, result.stderr);
        assert.match(result.stderr, /^Response verify OK$/m);
      } else {
        assert.notEqual(result.exitCode, 0);
        assert.match(result.stderr, /^Response Verify Failure$/m);
      }
    });
  }

  test('revoked carries a reason and a revocation time', async () => {
    const { stdout } = await queryOcsp('revoked');
    assert.match(stdout, /^\tReason: keyCompromise$/m);
    assert.match(stdout, /^\tRevocation Time: /m);
  });

  test('the verification failures are the intended ones', async () => {
    assert.match((await queryOcsp('noEku')).stderr, /missing ocspsigning usage/);
    assert.match((await queryOcsp('rogue')).stderr, /Verify error: self-signed certificate/);
    assert.match((await queryOcsp('noCerts')).stderr, /signer certificate not found/);
  });

  test('noCerts verifies only given the delegated signer as -VAfile', async () => {
    const withSigner = await queryOcsp('noCerts', ['-VAfile', pki.ocspSigner]);
    assert.equal(withSigner.exitCode, 0, withSigner.stderr);
    assert.match(withSigner.stderr, /^Response verify OK$/m);
    const withIssuer = await queryOcsp('noCerts', ['-VAfile', pki.intermediate]);
    assert.match(withIssuer.stderr, /signer certificate not found/);
  });

  test('responders record the requests they receive', async () => {
    const alreadyReceived = pki.responders.issuerSigned.requests.length;
    await queryOcsp('issuerSigned');
    assert.deepEqual(pki.responders.issuerSigned.requests.slice(alreadyReceived), ['POST / HTTP/1.0']);
  });
});

describe('leaf certificates', () => {
  test('chain to the trusted root through SSL_CERT_DIR, unless out of validity or from the other chain', async () => {
    const verify = async (leafName: LeafName, issuer = pki.intermediate) => {
      const result = await openssl(['verify', '-CAfile', issuer, pki.leaves[leafName].cert]);
      return { exitCode: result.exitCode, output: result.stdout + result.stderr };
    };
    const good = await verify('good');
    assert.equal(good.exitCode, 0, good.output);
    assert.match((await verify('expired')).output, /certificate has expired/);
    assert.match((await verify('notYetValid')).output, /certificate is not yet valid/);
    assert.match((await verify('otherChain')).output, /unable to get local issuer certificate/);
    assert.match((await verify('otherChain', pki.otherIntermediate)).output, /unable to get issuer certificate/);
  });

  test('carry the names, serial, URL and extensions announced', async () => {
    const inspect = async ([leafName, leaf]: [string, TestLeaf]) => {
      // With -ext, openssl 3.0 x509 silently drops the -ocsp_uri output.
      const [fields, extensions] = await Promise.all([
        openssl(['x509', '-in', leaf.cert, '-noout', '-serial', '-subject', '-ocsp_uri']),
        openssl(['x509', '-in', leaf.cert, '-noout', '-ext', 'subjectAltName']),
      ]);
      assert.match(fields.stdout, new RegExp(`^serial=${leaf.serialHex}$`, 'm'), leafName);
      assert.match(fields.stdout, new RegExp(`^subject=CN = ${leaf.commonName}$`, 'm'), leafName);
      if (leaf.ocspUrl) assert.match(fields.stdout, new RegExp(`^${leaf.ocspUrl}$`, 'm'), leafName);
      else assert.doesNotMatch(fields.stdout, /^http/m, leafName);
      assert.match(extensions.stdout, new RegExp(`DNS:${leaf.commonName}$`, 'm'), leafName);
    };
    await Promise.all(Object.entries(pki.leaves).map(inspect));
    assert.equal(pki.leaves.noUrl.ocspUrl, undefined);
    const mustStaple = await openssl(['x509', '-in', pki.leaves.mustStaple.cert, '-noout', '-ext', 'tlsfeature']);
    assert.match(mustStaple.stdout, /TLS Feature:\s+status_request/);
  });

  test('expiringSoon expires in five days', async () => {
    const checkend = (days: number) =>
      openssl(['x509', '-in', pki.leaves.expiringSoon.cert, '-noout', '-checkend', String(days * 86_400)]);
    assert.equal((await checkend(4)).exitCode, 0);
    assert.equal((await checkend(6)).exitCode, 1);
  });

  test('bundles hold leaf then issuer, and the key only when asked', async () => {
    const leaf = pki.leaves.good;
    const [cert, issuer, key, bundle, bundleWithKey] = await Promise.all(
      [leaf.cert, leaf.issuer, leaf.key, leaf.bundle, leaf.bundleWithKey].map((file) => readFile(file, 'utf8')),
    );
    assert.equal(bundle, cert + issuer);
    assert.equal(bundleWithKey, cert + issuer + key);
    assert.doesNotMatch(bundle, /PRIVATE KEY/);
    assert.equal(pki.leaves.otherChain.issuer, pki.otherIntermediate);
  });

  test('asn1UtcTime formats as openssl ca expects', () => {
    assert.equal(asn1UtcTime(new Date('2026-03-04T05:06:07.890Z')), '260304050607Z');
  });
});

describe('startOcspResponder', () => {
  const startDelegated = (options: Partial<OcspResponderOptions> = {}) =>
    startOcspResponder({
      index: pki.index,
      ca: pki.intermediate,
      signerCert: pki.ocspSigner,
      signerKey: pki.keys.ocspSigner,
      ...options,
    });

  test('honours nmin', async () => {
    const responder = await startDelegated({ nmin: 5 });
    try {
      const { stdout } = await queryOcsp('good', [], responder.url);
      const [thisUpdate, nextUpdate] = ['This', 'Next'].map((which) =>
        Date.parse(new RegExp(`${which} Update: (.*)`).exec(stdout)?.[1] ?? ''),
      );
      assert.equal(nextUpdate! - thisUpdate!, 5 * 60_000, stdout);
    } finally {
      await responder.stop();
    }
  });

  test('can leave Next Update out', async () => {
    const responder = await startDelegated({ omitNextUpdate: true });
    try {
      const { stdout } = await queryOcsp('good', [], responder.url);
      assert.match(stdout, /^\tThis Update: /m);
      assert.doesNotMatch(stdout, /Next Update/);
    } finally {
      await responder.stop();
    }
  });

  test('reports a port already in use', async () => {
    await assert.rejects(startDelegated({ port: pki.responders.delegated.port }), /Address already in use/);
  });
});

describe('startFakeHttpServer', () => {
  test('records the request and answers with the given bytes', async () => {
    const server = await startFakeHttpServer(() => ({ body: tryLaterResponse }));
    try {
      const result = await queryOcsp('good', [], server.url);
      assert.match(result.stdout + result.stderr, /Responder Error: trylater \(3\)/);
      assert.equal(server.requests.length, 1);
      const [request] = server.requests;
      assert.equal(request!.method, 'POST');
      assert.equal(request!.url, '/');
      // OpenSSL 3.0 leaves the port out of the Host header.
      assert.equal(request!.headers.host, '127.0.0.1');
      assert.equal(request!.headers['content-type'], 'application/ocsp-request');
      assert.equal(request!.body[0], 0x30, 'a DER SEQUENCE');
    } finally {
      await server.close();
    }
  });

  test('serves a genuine response that then verifies', async () => {
    const genuine = await fetchOcspResponse(pki, 'good');
    const server = await startFakeHttpServer(() => ({ body: genuine }));
    try {
      const result = await queryOcsp('good', ['-no_nonce'], server.url);
      assert.equal(result.exitCode, 0, result.stderr);
      assert.equal(statusOf('good', result.stdout), 'good');
    } finally {
      await server.close();
    }
  });

  test('answers with any status, raw bytes, or not at all', async () => {
    const replies = [
      { status: 404, headers: { 'Content-Type': 'text/html' }, body: '<html>not here</html>' },
      { raw: 'garbage\r\n\r\n' },
      'hang',
    ] as const;
    const server = await startFakeHttpServer((request) => replies[Number(request.url.slice(1))]!);
    try {
      const notFound = await fetch(`${server.url}0`);
      assert.equal(notFound.status, 404);
      assert.equal(await notFound.text(), '<html>not here</html>');
      await assert.rejects(fetch(`${server.url}1`));
      await assert.rejects(
        new Promise((resolve, reject) => {
          const request = http.request(`${server.url}2`, { method: 'POST', timeout: 200 }, resolve);
          request.on('timeout', () => request.destroy(new Error('no answer')));
          request.on('error', reject);
          request.end('body');
        }),
        /no answer/,
      );
      assert.deepEqual(
        server.requests.map((request) => [request.method, request.url]),
        [
          ['GET', '/0'],
          ['GET', '/1'],
          ['POST', '/2'],
        ],
      );
      assert.equal(server.requests[2]!.body.toString(), 'body');
    } finally {
      await server.close();
    }
  });
});

describe('startRecordingProxy', () => {
  test('forwards to the responder, keeping the Host header, and records the request line', async () => {
    const proxy = await startRecordingProxy();
    try {
      const result = await queryOcsp('good', ['-proxy', proxy.url, '-header', 'Host=ocsp.example.test']);
      assert.equal(result.exitCode, 0, result.stderr);
      assert.equal(statusOf('good', result.stdout), 'good');
      assert.deepEqual(
        proxy.requests.map(({ requestLine, host, forwarded }) => ({ requestLine, host, forwarded })),
        [{ requestLine: `POST ${pki.leaves.good.ocspUrl} HTTP/1.0`, host: 'ocsp.example.test', forwarded: true }],
      );
    } finally {
      await proxy.close();
    }
  });

  test('refuses targets other than the loopback addresses', async () => {
    const proxy = await startRecordingProxy();
    try {
      const status = await new Promise<number | undefined>((resolve, reject) => {
        const request = http.request({ host: '127.0.0.1', port: proxy.port, path: 'http://192.0.2.1/' }, (response) => {
          response.resume();
          resolve(response.statusCode);
        });
        request.on('error', reject);
        request.end();
      });
      assert.equal(status, 403);
      assert.equal(proxy.requests[0]?.forwarded, false);
    } finally {
      await proxy.close();
    }
  });
});

test('close() stops the responders and removes the directory', async () => {
  const own = await createTestPki();
  await own.close();
  await assert.rejects(access(own.dir));
  const result = await openssl([
    'ocsp',
    '-issuer',
    pki.intermediate,
    '-cert',
    pki.leaves.good.cert,
    '-url',
    own.responders.delegated.url,
    '-noverify',
  ]);
  assert.match(result.stderr, /Connection refused/);
});
