/**
 * The client side of jobworker's mutual TLS (TLS 1.3 only, certificates
 * verified against one CA), and reading the PEM files both sides load. The
 * server's side is in src/server/tls.ts.
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import { isIP } from "node:net";
import { checkServerIdentity, createSecureContext } from "node:tls";
import type { TlsPaths } from "../certs/paths.ts";

/**
 * Reads the three files, each as a Node Buffer (which grpc-js wants, not a
 * Uint8Array).
 *
 * @throws {Error} naming the file that cannot be read ("Cannot read the CA certificate …")
 */
export async function readTlsFiles(files: TlsPaths): Promise<Record<keyof TlsPaths, Buffer>> {
  const read = async (what: string, path: string) => {
    try {
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
 *
 * @example
 * ```ts ignore
 * const client = new JobWorkerClient(address, await clientConnection(files, address));
 * ```
 */
export async function clientConnection(
  files: TlsPaths,
  address: string,
): Promise<ClientConnection> {
  const { ca, cert, key } = await readTlsFiles(files);
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
