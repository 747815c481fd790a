/**
 * What a certificate's file name and common name may be: shared by the
 * generator (./certs.ts), which writes the files, and ./paths.ts, which
 * looks a client's files up, so both refuse the same names.
 *
 * @module
 */
import { CertificateError } from "./errors.ts";

/** How errors about making certificates begin. */
export const CREATE_PREFIX = "Cannot create certificates";

// File base names: no path separators, no leading dot, no shell or config
// metacharacters, so they can go into file names and openssl configs as is.
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
// Common names go into an openssl config file, where `$`, `#`, `\` and
// quotes have meanings; allowing only these characters avoids escaping.
const COMMON_NAME = /^[A-Za-z0-9][A-Za-z0-9 ._@-]{0,63}$/;

/**
 * Refuses a name that cannot be a file's base name.
 *
 * @throws {CertificateError} saying which characters are allowed
 */
export function checkFileName(name: string, prefix: string): void {
  if (!FILE_NAME.test(name)) {
    throw new CertificateError(
      `${prefix}: name ${JSON.stringify(name)} is invalid ` +
        "(letters, digits, '.', '_', '-'; at most 64; not starting with '.', '_' or '-')",
    );
  }
}

/**
 * Refuses a client name that cannot be both a file name and a common name,
 * or that is reserved.
 *
 * @throws {CertificateError} saying why
 */
export function checkClientName(name: string, prefix: string): void {
  checkFileName(name, prefix);
  checkCommonName(name, prefix);
  // These would collide with the CA's or server's files, or with another
  // client's key file (client "x" owns "x-key.pem").
  if (name === "ca" || name === "server" || name.endsWith("-key")) {
    throw new CertificateError(`${prefix}: client name ${JSON.stringify(name)} is reserved`);
  }
}

/**
 * Refuses a common name that cannot go into an openssl config as is.
 *
 * @throws {CertificateError} saying which characters are allowed
 */
export function checkCommonName(cn: string, prefix: string): void {
  if (!COMMON_NAME.test(cn)) {
    throw new CertificateError(
      `${prefix}: common name ${JSON.stringify(cn)} is invalid ` +
        "(letters, digits, space, '.', '_', '@', '-'; at most 64)",
    );
  }
}
