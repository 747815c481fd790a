/**
 * The server side of jobworker's mutual TLS: a client certificate from the
 * CA is required, TLS 1.3 only. The client side is in src/api/tls.ts.
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import { readTlsFiles } from "../api/mod.ts";
import type { TlsPaths } from "../certs/paths.ts";

/**
 * Server credentials that require and verify a client certificate from the
 * CA and accept TLS 1.3 only. grpc-js has no option for the TLS version, so
 * the TLS options it hands to Node's http2 server are extended with
 * `minVersion` for this server alone (rather than changing
 * `tls.DEFAULT_MIN_VERSION` for the whole process); a test checks that a
 * TLS 1.2 handshake is refused.
 */
export async function serverCredentials(files: TlsPaths): Promise<grpc.ServerCredentials> {
  const { ca, cert, key } = await readTlsFiles(files);
  const credentials = grpc.ServerCredentials.createSsl(ca, [{
    private_key: key,
    cert_chain: cert,
  }], true);
  const contextOptions = credentials._getSecureContextOptions.bind(credentials);
  credentials._getSecureContextOptions = () => {
    const options = contextOptions();
    return options === null ? null : { ...options, minVersion: "TLSv1.3" };
  };
  return credentials;
}
