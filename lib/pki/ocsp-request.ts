/**
 * OCSP requests (RFC 6960 4.1.1): the one the built-in HTTP client sends,
 * encoded here as openssl encodes it, and the nonce of one that openssl
 * wrote, which the response must carry back with `--nonce`.
 */
import { randomBytes } from 'node:crypto';
import { parseDer } from './der.ts';
import { SequenceReader, readExplicit, readSequence } from './der-readers.ts';
import { encodeExplicit, encodeOctetString, encodeOidOctets, encodeSequence } from './der-encode.ts';
import { findExtension, parseExtensions } from './extensions.ts';
import { OcspOid } from './ocsp-response.ts';

/**
 * The nonce extension's extnValue octets, as the response's `nonce` holds
 * them, or undefined when the request carries none. Throws DerError when the
 * bytes are not an OCSPRequest.
 */
export function readRequestNonce(der: Buffer): Buffer | undefined {
  const request = new SequenceReader(parseDer(der), 'OCSPRequest');
  const tbsRequest = new SequenceReader(request.next('tbsRequest'), 'TBSRequest');
  request.optional(0);
  request.end();
  tbsRequest.optional(0);
  tbsRequest.optional(1);
  readSequence(tbsRequest.next('requestList'), 'requestList');
  const extensionsField = tbsRequest.optional(2);
  tbsRequest.end();
  if (extensionsField === undefined) return undefined;
  const extensions = parseExtensions(readExplicit(extensionsField, 2, 'requestExtensions'));
  return findExtension(extensions, OcspOid.nonce)?.value;
}

/** As many random bytes as openssl puts in a nonce. */
const NONCE_BYTES = 16;

/** A fresh nonce as the request's extnValue octets hold it (an OCTET STRING of random bytes, as openssl makes it). */
export function newRequestNonce(): Buffer {
  return encodeOctetString(randomBytes(NONCE_BYTES));
}

/**
 * The unsigned request for the certificate of CERT_ID_DER, byte for byte what
 * `openssl ocsp -issuer … -cert … -reqout` writes: with `-no_nonce` when NONCE
 * is undefined, else with NONCE (extnValue octets) as its one extension.
 */
export function encodeOcspRequest(certIdDer: Buffer, nonce?: Buffer): Buffer {
  const requestList = encodeSequence([encodeSequence([certIdDer])]);
  const extensions =
    nonce === undefined
      ? []
      : [
          encodeExplicit(
            2,
            encodeSequence([encodeSequence([encodeOidOctets(OcspOid.nonce), encodeOctetString(nonce)])]),
          ),
        ];
  return encodeSequence([encodeSequence([requestList, ...extensions])]);
}
