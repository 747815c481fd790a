/**
 * Where jobworker's certificate files are. One directory holds the CA
 * (`ca.pem`, `ca-key.pem`), the server's pair (`server.pem`,
 * `server-key.pem`) and one pair per client (`<name>.pem`,
 * `<name>-key.pem`). The CLI and the server look files up here, the
 * generator (./certs.ts) writes them here; only paths are built, so a
 * lookup loads neither the generator nor openssl.
 *
 * @module
 */
import { join } from "node:path";
import { checkClientName, CREATE_PREFIX } from "./_names.ts";

/** A certificate file and its private key file. */
export interface KeyPairPaths {
  /** PEM certificate. */
  cert: string;
  /** PEM private key (PKCS#8), mode 0600. */
  key: string;
}

/** What a TLS endpoint loads: the CA to trust, its own certificate and key. */
export interface TlsPaths extends KeyPairPaths {
  /** PEM CA certificate that the peer's certificate must chain to. */
  ca: string;
}

/** The pair named `name` in `dir`: `<name>.pem` and `<name>-key.pem`. */
export function keyPairPaths(dir: string, name: string): KeyPairPaths {
  return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}-key.pem`) };
}

/** The CA's pair in `dir`: `ca.pem` and `ca-key.pem`. */
export function caPaths(dir: string): KeyPairPaths {
  return keyPairPaths(dir, "ca");
}

/**
 * The files a client named `user` loads from `dir`: the CA, `<user>.pem`, `<user>-key.pem`.
 *
 * @throws {CertificateError} when `user` cannot be a client's name (e.g. `../x`, `ca`)
 */
export function certPathsFor(dir: string, user: string): TlsPaths {
  checkClientName(user, CREATE_PREFIX);
  return { ca: caPaths(dir).cert, ...keyPairPaths(dir, user) };
}

/** The files the server loads from `dir`: the CA, `server.pem`, `server-key.pem`. */
export function serverCertPaths(dir: string): TlsPaths {
  return { ca: caPaths(dir).cert, ...keyPairPaths(dir, "server") };
}
