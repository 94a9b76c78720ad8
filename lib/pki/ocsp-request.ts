/**
 * Reads the nonce of an OCSP request (RFC 6960 4.1.1) that openssl wrote:
 * with `--nonce`, the response must carry the same bytes back, and openssl
 * chooses them, so they are read from the request it sent.
 */
import { parseDer } from './der.ts';
import { SequenceReader, readExplicit, readSequence } from './der-readers.ts';
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
