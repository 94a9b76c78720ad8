import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { computeCertId, type CertId } from '../lib/pki/cert-id.ts';
import {
  parseOcspResponse,
  type BasicOcspResponse,
  type OcspResponse,
  type SingleResponse,
} from '../lib/pki/ocsp-response.ts';
import {
  assessResponse,
  compareWithCurrent,
  describeRevocation,
  isFreshEnough,
  type ProblemCode,
} from '../lib/pki/acceptance.ts';
import { keyTypes, OfflinePki, type ExchangeOptions } from './helpers/pki.ts';

/* Responses come from `openssl ocsp` as responder (see OfflinePki in test/helpers/pki.ts), made fresh in `before`. */

const fixture = (name: string) => readFileSync(new URL(`../fixtures/ocsp/${name}`, import.meta.url));

const secondsAfter = (date: Date, seconds: number) => new Date(date.getTime() + seconds * 1000);

function basic(response: OcspResponse): BasicOcspResponse {
  assert.ok(response.responseStatus === 'successful', `status ${response.responseStatus}`);
  return response;
}

function onlySingle(response: OcspResponse): SingleResponse & { nextUpdate: Date } {
  const [single, ...others] = basic(response).responses;
  assert.ok(single && others.length === 0);
  assert.ok(single.nextUpdate, 'response has a Next Update');
  return { ...single, nextUpdate: single.nextUpdate };
}

type ResponseAssessment = ReturnType<typeof assessResponse>;

function assertProblem(assessment: ResponseAssessment, code: ProblemCode, message: string): void {
  assert.deepEqual(assessment, { ok: false, problem: { code, message } });
}

function assertAccepted(assessment: ResponseAssessment, response: OcspResponse): void {
  assert.deepEqual(assessment, { ok: true, single: basic(response).responses[0] });
}

describe('OCSP response checks', () => {
  let pki: OfflinePki;
  /** What HAProxy keys the ec-good certificate's response on. */
  let expected: CertId;
  let responses: Record<keyof typeof exchanges, OcspResponse>;

  const exchanges = {
    good: ['ec', ['ec-good']],
    tenMinutes: ['ec', ['ec-good'], { responderArgs: ['-nmin', '10'] }],
    hundredMinutes: ['ec', ['ec-good'], { responderArgs: ['-nmin', '100'] }],
    oneDay: ['ec', ['ec-good'], { responderArgs: ['-ndays', '1'] }],
    noNextUpdate: ['ec', ['ec-good'], { responderArgs: [] }],
    twoCertificates: ['ec', ['ec-good', 'ec-second']],
    otherSerial: ['ec', ['ec-second']],
    otherIssuer: ['other', ['other-good']],
    sha256: ['ec', ['ec-good'], { requestArgs: ['-sha256'] }],
    sha256OtherSerial: ['ec', ['ec-second'], { requestArgs: ['-sha256'] }],
    unknown: ['ec', ['ec-unknown']],
    unknownWithoutNextUpdate: ['ec', ['ec-unknown'], { responderArgs: [] }],
    revoked: ['ec', ['ec-revoked']],
    revokedWithoutReason: ['ec', ['ec-revoked-no-reason']],
  } satisfies Record<string, [string, string[], ExchangeOptions?]>;

  before(async () => {
    pki = await OfflinePki.create('hapos-response-checks-');
    await Promise.all([
      pki.createCa('ec', keyTypes.ec, '/O=hapos-upd tests/CN=Checks CA'),
      pki.createCa('other', keyTypes.ec, '/O=hapos-upd tests/CN=Other CA'),
    ]);
    await Promise.all([
      pki.issue('ec', 'ec-good', '0x1001'),
      pki.issue('ec', 'ec-second', '0x2002'),
      pki.issue('ec', 'ec-unknown', '0x0777'),
      pki.issue('ec', 'ec-revoked', '0x80AB'),
      pki.issue('ec', 'ec-revoked-no-reason', '0x80AC'),
      pki.issue('other', 'other-good', '0x1001'),
      pki.writeIndex('ec', [
        { serial: '1001' },
        { serial: '2002' },
        { serial: '80AB', revoked: '261120100000Z,keyCompromise' },
        { serial: '80AC', revoked: '261120100000Z' },
      ]),
      pki.writeIndex('other', [{ serial: '1001' }]),
    ]);
    expected = computeCertId(await pki.certificate('ec-good'), await pki.certificate('ec'));
    const entries = await Promise.all(
      Object.entries(exchanges).map(async ([name, [ca, leaves, options]]) => {
        const { responseDer } = await pki.exchange(ca, leaves, options);
        return [name, parseOcspResponse(responseDer)] as const;
      }),
    );
    responses = Object.fromEntries(entries) as typeof responses;
  });

  after(async () => {
    await pki?.remove();
  });

  describe('assessResponse', () => {
    it('accepts a good response for the certificate, in HAProxy encoding, within its window', () => {
      const { thisUpdate } = onlySingle(responses.good);
      assertAccepted(assessResponse(responses.good, expected, thisUpdate), responses.good);
      assertAccepted(assessResponse(responses.good, expected, secondsAfter(thisUpdate, 6 * 86400)), responses.good);
    });

    it('not-successful: names the RFC 6960 status', () => {
      const now = new Date();
      assertProblem(
        assessResponse(parseOcspResponse(fixture('try-later.der')), expected, now),
        'not-successful',
        "OCSP responder answered 'tryLater' instead of a response",
      );
      assertProblem(
        assessResponse(parseOcspResponse(fixture('unauthorized.der')), expected, now),
        'not-successful',
        "OCSP responder answered 'unauthorized' instead of a response",
      );
      for (const [value, status] of [
        [1, 'malformedRequest'],
        [2, 'internalError'],
        [5, 'sigRequired'],
      ] as const) {
        const response = parseOcspResponse(Buffer.from([0x30, 0x03, 0x0a, 0x01, value]));
        assertProblem(
          assessResponse(response, expected, now),
          'not-successful',
          `OCSP responder answered '${status}' instead of a response`,
        );
      }
    });

    it('not-single: refuses two single responses, and none', () => {
      const { thisUpdate } = basic(responses.twoCertificates).responses[0]!;
      assertProblem(
        assessResponse(responses.twoCertificates, expected, thisUpdate),
        'not-single',
        'OCSP response holds 2 single responses; HAProxy staples only one',
      );
      assertProblem(
        assessResponse({ ...basic(responses.good), responses: [] }, expected, thisUpdate),
        'not-single',
        'OCSP response holds 0 single responses; HAProxy staples only one',
      );
    });

    it('wrong-certificate: another serial of the same issuer', () => {
      const { thisUpdate } = onlySingle(responses.otherSerial);
      assertProblem(
        assessResponse(responses.otherSerial, expected, thisUpdate),
        'wrong-certificate',
        'OCSP response is for another certificate (serial 2002, expected 1001)',
      );
    });

    it('wrong-certificate: the same serial from another issuer', () => {
      const { thisUpdate } = onlySingle(responses.otherIssuer);
      assertProblem(
        assessResponse(responses.otherIssuer, expected, thisUpdate),
        'wrong-certificate',
        'OCSP response is for another certificate (serial 1001 of another issuer)',
      );
    });

    it('wrong-certificate: another serial under another digest', () => {
      const { thisUpdate } = onlySingle(responses.sha256OtherSerial);
      assertProblem(
        assessResponse(responses.sha256OtherSerial, expected, thisUpdate),
        'wrong-certificate',
        'OCSP response is for another certificate (serial 2002, expected 1001)',
      );
    });

    it('cert-id-encoding: the certificate identified with sha256', () => {
      const { thisUpdate, certId } = onlySingle(responses.sha256);
      assert.equal(certId.hashAlgorithm, 'sha256');
      assertProblem(
        assessResponse(responses.sha256, expected, thisUpdate),
        'cert-id-encoding',
        'OCSP response identifies serial 1001 by a sha256 CertID; HAProxy only matches the sha1 CertID it computes',
      );
    });

    it('cert-id-encoding: the sha1 CertID without NULL parameters (committed fixture)', () => {
      const response = parseOcspResponse(fixture('good-cert-id-without-null.der'));
      const { thisUpdate, certId } = onlySingle(response);
      const fixtureExpected = computeCertId(
        new X509Certificate(fixture('leaf.pem')),
        new X509Certificate(fixture('ca.pem')),
      );
      assertProblem(
        assessResponse(response, fixtureExpected, thisUpdate),
        'cert-id-encoding',
        `OCSP response identifies serial 1001 by a CertID encoded differently from HAProxy's (${certId.der.toString('hex')}, expected ${fixtureExpected.der.toString('hex')}); HAProxy will not match it`,
      );
      const good = parseOcspResponse(fixture('good.der'));
      assertAccepted(assessResponse(good, fixtureExpected, thisUpdate), good);
    });

    it('status-unknown: a certificate missing from the responder index', async () => {
      const unknownExpected = computeCertId(await pki.certificate('ec-unknown'), await pki.certificate('ec'));
      const { thisUpdate, certStatus } = onlySingle(responses.unknown);
      assert.equal(certStatus, 'unknown');
      assertProblem(
        assessResponse(responses.unknown, unknownExpected, thisUpdate),
        'status-unknown',
        'OCSP responder does not know this certificate (status unknown)',
      );
    });

    it('no-next-update: a responder run without -ndays or -nmin', () => {
      const [single] = basic(responses.noNextUpdate).responses;
      assert.equal(single!.nextUpdate, undefined);
      assertProblem(
        assessResponse(responses.noNextUpdate, expected, single!.thisUpdate),
        'no-next-update',
        'OCSP response has no Next Update; HAProxy refuses such responses',
      );
    });

    it('not-yet-valid: This Update beyond the clock skew, accepted exactly at it', () => {
      const { thisUpdate } = onlySingle(responses.good);
      const skewEdge = secondsAfter(thisUpdate, -300);
      assertAccepted(assessResponse(responses.good, expected, skewEdge), responses.good);
      const justBefore = secondsAfter(skewEdge, -0.001);
      assertProblem(
        assessResponse(responses.good, expected, justBefore),
        'not-yet-valid',
        `OCSP response is not valid yet: This Update ${thisUpdate.toISOString()} is more than 300 s after now (${justBefore.toISOString()})`,
      );
      const anHourEarlier = secondsAfter(thisUpdate, -3600);
      assert.equal(assessResponse(responses.good, expected, anHourEarlier).ok, false);
      assertProblem(
        assessResponse(responses.good, expected, secondsAfter(thisUpdate, -0.001), { clockSkewSeconds: 0 }),
        'not-yet-valid',
        `OCSP response is not valid yet: This Update ${thisUpdate.toISOString()} is more than 0 s after now (${secondsAfter(thisUpdate, -0.001).toISOString()})`,
      );
      assertAccepted(
        assessResponse(responses.good, expected, anHourEarlier, { clockSkewSeconds: 3600 }),
        responses.good,
      );
    });

    it('expired: Next Update reached or passed', () => {
      const { nextUpdate } = onlySingle(responses.tenMinutes);
      for (const now of [nextUpdate, secondsAfter(nextUpdate, 86400)]) {
        assertProblem(
          assessResponse(responses.tenMinutes, expected, now),
          'expired',
          `OCSP response has expired: Next Update ${nextUpdate.toISOString()} is not after now (${now.toISOString()})`,
        );
      }
      assertProblem(
        assessResponse(responses.tenMinutes, expected, nextUpdate, { haproxyMarginSeconds: 0 }),
        'expired',
        `OCSP response has expired: Next Update ${nextUpdate.toISOString()} is not after now (${nextUpdate.toISOString()})`,
      );
    });

    it('expires-too-soon: within HAProxy margin of Next Update, accepted just outside it', () => {
      const { thisUpdate, nextUpdate } = onlySingle(responses.tenMinutes);
      assert.equal(nextUpdate.getTime() - thisUpdate.getTime(), 600_000);
      const tooSoon = (now: Date, margin: number) =>
        `OCSP response expires too soon: Next Update ${nextUpdate.toISOString()} is within ${margin} s of now (${now.toISOString()}); HAProxy stops stapling 300 s before Next Update`;
      const marginEdge = secondsAfter(nextUpdate, -300);
      assertProblem(
        assessResponse(responses.tenMinutes, expected, marginEdge),
        'expires-too-soon',
        tooSoon(marginEdge, 300),
      );
      const lastMoment = secondsAfter(nextUpdate, -0.001);
      assertProblem(
        assessResponse(responses.tenMinutes, expected, lastMoment),
        'expires-too-soon',
        tooSoon(lastMoment, 300),
      );
      assertAccepted(
        assessResponse(responses.tenMinutes, expected, secondsAfter(marginEdge, -0.001)),
        responses.tenMinutes,
      );
      assertProblem(
        assessResponse(responses.tenMinutes, expected, thisUpdate, { haproxyMarginSeconds: 600 }),
        'expires-too-soon',
        tooSoon(thisUpdate, 600),
      );
      assertAccepted(
        assessResponse(responses.tenMinutes, expected, lastMoment, { haproxyMarginSeconds: 0 }),
        responses.tenMinutes,
      );
    });

    it('accepts revoked responses: the caller reports them', async () => {
      const revokedExpected = computeCertId(await pki.certificate('ec-revoked'), await pki.certificate('ec'));
      const single = onlySingle(responses.revoked);
      assert.equal(single.certStatus, 'revoked');
      assertAccepted(assessResponse(responses.revoked, revokedExpected, single.thisUpdate), responses.revoked);
    });

    it('reports the first broken rule', async () => {
      const unknownExpected = computeCertId(await pki.certificate('ec-unknown'), await pki.certificate('ec'));
      const { thisUpdate } = basic(responses.unknownWithoutNextUpdate).responses[0]!;
      const longAfter = secondsAfter(thisUpdate, 365 * 86400);
      const codeAt = (response: OcspResponse, certId: CertId, now: Date) => {
        const assessment = assessResponse(response, certId, now);
        return assessment.ok ? 'ok' : assessment.problem.code;
      };
      assert.equal(codeAt(responses.twoCertificates, unknownExpected, longAfter), 'not-single');
      assert.equal(codeAt(responses.unknownWithoutNextUpdate, expected, longAfter), 'wrong-certificate');
      assert.equal(codeAt(responses.sha256, expected, longAfter), 'cert-id-encoding');
      assert.equal(codeAt(responses.unknownWithoutNextUpdate, unknownExpected, longAfter), 'status-unknown');
      assert.equal(codeAt(responses.noNextUpdate, expected, secondsAfter(thisUpdate, -86400)), 'no-next-update');
    });

    it('refuses limits that are not a non-negative number of seconds', () => {
      const { thisUpdate } = onlySingle(responses.good);
      for (const limits of [{ clockSkewSeconds: -1 }, { haproxyMarginSeconds: Number.NaN }]) {
        assert.throws(() => assessResponse(responses.good, expected, thisUpdate, limits), RangeError);
      }
    });
  });

  describe('compareWithCurrent', () => {
    it('compares real responses by This Update', () => {
      const fresh = onlySingle(responses.good);
      const committed = onlySingle(parseOcspResponse(fixture('good.der')));
      assert.ok(committed.thisUpdate < fresh.thisUpdate, 'the committed fixture is older than this run');
      assert.equal(compareWithCurrent(fresh, committed), 'newer');
      assert.equal(compareWithCurrent(committed, fresh), 'older');
      assert.equal(compareWithCurrent(fresh, fresh), 'same');
      assert.equal(compareWithCurrent(fresh, undefined), 'no-current');
    });

    it('lets a newer This Update win even with an earlier Next Update', () => {
      const current = onlySingle(responses.good);
      const candidate = { ...onlySingle(responses.tenMinutes), thisUpdate: secondsAfter(current.thisUpdate, 1) };
      assert.ok(candidate.nextUpdate < current.nextUpdate);
      assert.equal(compareWithCurrent(candidate, current), 'newer');
      assert.equal(compareWithCurrent(current, candidate), 'older');
    });

    it('breaks a This Update tie by Next Update, none counting as earliest', () => {
      const current = onlySingle(responses.oneDay);
      const { thisUpdate } = current;
      const longer = { ...onlySingle(responses.good), thisUpdate };
      const withoutNextUpdate = { ...basic(responses.noNextUpdate).responses[0]!, thisUpdate };
      assert.equal(compareWithCurrent(longer, current), 'newer');
      assert.equal(compareWithCurrent(current, longer), 'older');
      assert.equal(compareWithCurrent(current, withoutNextUpdate), 'newer');
      assert.equal(compareWithCurrent(withoutNextUpdate, current), 'older');
      assert.equal(compareWithCurrent(withoutNextUpdate, { ...withoutNextUpdate }), 'same');
      assert.equal(compareWithCurrent({ ...current, certStatus: 'revoked' }, current), 'same');
    });
  });

  describe('isFreshEnough', () => {
    it('measures the remaining share of the window from This Update to Next Update', () => {
      const single = onlySingle(responses.oneDay);
      const { thisUpdate, nextUpdate } = single;
      assert.equal(isFreshEnough(single, thisUpdate), true);
      // Three quarters of the day, 18 hours, still ahead.
      assert.equal(isFreshEnough(single, secondsAfter(thisUpdate, 21600)), true);
      // A clock behind the responder's: the whole window is ahead.
      assert.equal(isFreshEnough(single, secondsAfter(thisUpdate, -600)), true);
      for (const now of [nextUpdate, secondsAfter(nextUpdate, 60)]) {
        assert.equal(isFreshEnough(single, now), false);
      }
    });

    it('gives a response without Next Update, or with an empty window, no freshness', () => {
      const withoutNextUpdate = basic(responses.noNextUpdate).responses[0]!;
      assert.equal(isFreshEnough(withoutNextUpdate, withoutNextUpdate.thisUpdate), false);
      const single = onlySingle(responses.oneDay);
      // Two hours ahead would be fresh in any window shorter than four hours.
      const twoHoursLeft = secondsAfter(single.nextUpdate, -7200);
      assert.equal(isFreshEnough({ ...single, thisUpdate: single.nextUpdate }, twoHoursLeft), false);
    });

    it('is fresh enough only past half the window and an hour ahead, exclusive', () => {
      const day = onlySingle(responses.oneDay);
      const halfway = secondsAfter(day.thisUpdate, 43200);
      assert.equal(isFreshEnough(day, halfway), false);
      assert.equal(isFreshEnough(day, secondsAfter(halfway, -0.001)), true);

      // 60% of the window, but only an hour, ahead.
      const short = onlySingle(responses.hundredMinutes);
      const hourLeft = secondsAfter(short.nextUpdate, -3600);
      assert.equal(isFreshEnough(short, hourLeft), false);
      assert.equal(isFreshEnough(short, secondsAfter(hourLeft, -1)), true);

      const tenMinutes = onlySingle(responses.tenMinutes);
      assert.equal(isFreshEnough(tenMinutes, tenMinutes.thisUpdate), false);
    });
  });

  describe('describeRevocation', () => {
    it('gives the revocation time and reason from the responder', () => {
      assert.equal(
        describeRevocation(onlySingle(responses.revoked)),
        'certificate revoked at 2026-11-20T10:00:00.000Z (reason: keyCompromise)',
      );
    });

    it('omits an absent reason', () => {
      const single = onlySingle(responses.revokedWithoutReason);
      assert.equal(single.revocationReason, undefined);
      assert.equal(describeRevocation(single), 'certificate revoked at 2026-11-20T10:00:00.000Z');
    });

    it('refuses a status that is not revoked', () => {
      assert.throws(() => describeRevocation(onlySingle(responses.good)), {
        name: 'RangeError',
        message: 'describeRevocation needs a revoked status, got good',
      });
    });
  });
});
