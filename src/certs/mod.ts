/**
 * Development certificates for jobworker's mutual TLS, made with the
 * `openssl` command: a CA, a server certificate (localhost, 127.0.0.1) and
 * one client certificate per user (the CN is the user name), all ECDSA
 * P-256, valid 30 days by default. Existing valid files are reused, so
 * adding a user does not invalidate the others. Tests can make unusual
 * certificates (expired, signed by another CA) with {@link makeCertificate}
 * and {@link makeCertificateAuthority}.
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
  CertificateError,
  type CertPaths,
  certPathsFor,
  DEFAULT_CLIENTS,
  DEFAULT_DAYS,
  DEFAULT_SERVER_NAMES,
  type IssuedCertificate,
  type KeyPairPaths,
  makeCertificate,
  makeCertificateAuthority,
  type MakeCertificateAuthorityOptions,
  type MakeCertificateOptions,
  makeCertificates,
  type MakeCertificatesOptions,
  MAX_DAYS,
  SERVER_COMMON_NAME,
  serverCertPaths,
  type TlsPaths,
} from "./certs.ts";
