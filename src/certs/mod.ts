/**
 * Development certificates for jobworker's mutual TLS, made with the
 * `openssl` command: a CA, a server certificate (localhost, 127.0.0.1) and
 * one client certificate per user (the CN is the user name), all ECDSA
 * P-256, valid 30 days by default. Existing valid files are reused, so
 * adding a user does not invalidate the others. Tests can make unusual
 * certificates (expired, signed by another CA) with {@link makeCertificate}
 * and {@link makeCertificateAuthority}. Which file is where is ./paths.ts's
 * alone: the CLI and the server import just that, so looking a file up
 * loads neither the generator nor openssl.
 *
 * @example
 * ```ts
 * import { certPathsFor, makeCertificates, serverCertPaths } from "./src/certs/mod.ts";
 * await makeCertificates("./certs", { clients: ["alice", "bob"] });
 * const server = serverCertPaths("./certs"); // { ca, cert, key }
 * const alice = certPathsFor("./certs", "alice"); // { ca, cert, key }
 * ```
 *
 * @module
 */
export {
  CA_COMMON_NAME,
  type CertPaths,
  DEFAULT_CLIENTS,
  DEFAULT_DAYS,
  DEFAULT_SERVER_NAMES,
  type IssuedCertificate,
  makeCertificate,
  makeCertificateAuthority,
  type MakeCertificateAuthorityOptions,
  type MakeCertificateOptions,
  makeCertificates,
  type MakeCertificatesOptions,
  MAX_DAYS,
  SERVER_COMMON_NAME,
} from "./certs.ts";
export { CertificateError } from "./errors.ts";
export {
  caPaths,
  certPathsFor,
  type KeyPairPaths,
  keyPairPaths,
  serverCertPaths,
  type TlsPaths,
} from "./paths.ts";
