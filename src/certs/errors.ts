/**
 * The one error of the certificate module, in a file of its own so that
 * the path helpers (./paths.ts) can throw it without loading the generator.
 *
 * @module
 */

/** A certificate could not be made; the message is one line naming the failed step. */
export class CertificateError extends Error {
  override name = "CertificateError";
}
