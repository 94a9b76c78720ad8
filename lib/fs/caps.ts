/**
 * How much the readers take of each kind of file the user's side puts in
 * place: a larger one is refused rather than read into memory.
 */

const KIB = 1024;
const MIB = 1024 * KIB;

/**
 * OCSP responses, in place or fetched: OpenSSL's own HTTP client refuses a
 * larger one, and a response for a single certificate is a few kilobytes.
 */
export const OCSP_RESPONSE_MAX_BYTES = 100 * KIB;

/**
 * Bundles, `.issuer`, `.key` and trust anchor files. The largest of them in
 * real use is a system CA bundle (about 220 KB); a bundle is a few kilobytes.
 */
export const PEM_FILE_MAX_BYTES = 4 * MIB;

/**
 * A crt-list of about 100,000 certificates with a few options each. Parsing
 * one is synchronous (about 0.9 s for 200,000 lines here), so the cap also
 * bounds how long a signal may wait.
 */
export const CRT_LIST_MAX_BYTES = 8 * MIB;

/** "4 MiB", "100 KiB", or a plain count of bytes. */
export function formatByteCount(bytes: number): string {
  if (bytes % MIB === 0) return `${bytes / MIB} MiB`;
  if (bytes % KIB === 0) return `${bytes / KIB} KiB`;
  return `${bytes} bytes`;
}
