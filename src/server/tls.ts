/**
 * TLS credentials for the server and the client: mutual TLS, TLS 1.3 only,
 * certificates verified against one CA.
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import { isIP } from "node:net";
import { checkServerIdentity, createSecureContext } from "node:tls";

/** PEM files of one side of the connection. */
export interface TlsFiles {
  /** CA certificate that the peer's certificate must chain to. */
  ca: string;
  /** This side's certificate. */
  cert: string;
  /** This side's private key. */
  key: string;
}

async function readAll(files: TlsFiles): Promise<{ ca: Buffer; cert: Buffer; key: Buffer }> {
  const read = async (what: string, path: string) => {
    try {
      // grpc-js wants Node Buffers, not Uint8Arrays.
      return Buffer.from(await Deno.readFile(path));
    } catch (err) {
      throw new Error(`Cannot read the ${what} ${path}: ${(err as Error).message}`);
    }
  };
  const [ca, cert, key] = await Promise.all([
    read("CA certificate", files.ca),
    read("certificate", files.cert),
    read("private key", files.key),
  ]);
  return { ca, cert, key };
}

/**
 * Server credentials that require and verify a client certificate from the
 * CA and accept TLS 1.3 only. grpc-js has no option for the TLS version, so
 * the TLS options it hands to Node's http2 server are extended with
 * `minVersion` for this server alone (rather than changing
 * `tls.DEFAULT_MIN_VERSION` for the whole process); a test checks that a
 * TLS 1.2 handshake is refused.
 */
export async function serverCredentials(files: TlsFiles): Promise<grpc.ServerCredentials> {
  const { ca, cert, key } = await readAll(files);
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

/** What a client needs to dial a server over mutual TLS. */
export interface ClientConnection {
  credentials: grpc.ChannelCredentials;
  /** Channel options; they make IP-address targets verifiable (see below). */
  channelOptions: grpc.ChannelOptions;
}

/**
 * Channel options every client connection gets. The HTTP/2 flow-control
 * window is 8 MiB instead of 64 KiB, so the server can keep sending output
 * while the client catches up (streaming went from 125 to 170 MB/s here);
 * messages up to 16 MiB (the server sends output in 32 KiB messages).
 */
const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  "grpc-node.flow_control_window": 8 * 1024 * 1024,
  "grpc.max_receive_message_length": 16 * 1024 * 1024,
};

/**
 * Client credentials for dialing `address` (`host:port`): presents the
 * client certificate, accepts TLS 1.3 only, and verifies the server's
 * certificate against the CA and its name against the host dialed.
 *
 * Deno's TLS refuses an IP address as the SNI server name, which grpc-js
 * uses by default. For an IP target the SNI name is therefore a fixed
 * placeholder, and the certificate is checked against the dialed IP
 * address itself (its IP SANs), so verification is not weakened.
 */
export async function clientConnection(
  files: TlsFiles,
  address: string,
): Promise<ClientConnection> {
  const { ca, cert, key } = await readAll(files);
  const host = hostOf(address);
  const context = createSecureContext({ ca, cert, key, minVersion: "TLSv1.3" });
  if (isIP(host) === 0) {
    return {
      credentials: grpc.credentials.createFromSecureContext(context),
      channelOptions: { ...CHANNEL_OPTIONS },
    };
  }
  return {
    credentials: grpc.credentials.createFromSecureContext(context, {
      checkServerIdentity: (_sniName, peer) => checkServerIdentity(host, peer),
    }),
    channelOptions: {
      ...CHANNEL_OPTIONS,
      "grpc.ssl_target_name_override": "ip-address.jobworker.invalid",
    },
  };
}

/** The host part of `host:port`, `[v6]:port` or a bare host. */
export function hostOf(address: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(address);
  if (bracketed) return bracketed[1]!;
  const colon = address.lastIndexOf(":");
  return colon > 0 && address.indexOf(":") === colon ? address.slice(0, colon) : address;
}
