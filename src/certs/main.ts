/**
 * `deno task certs`: makes the development CA, server and client
 * certificates for jobworker's mutual TLS. Run with `--help` for the flags.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { basename, resolve } from "node:path";
import {
  CA_COMMON_NAME,
  DEFAULT_CLIENTS,
  DEFAULT_DAYS,
  DEFAULT_SERVER_NAMES,
  type IssuedCertificate,
  makeCertificates,
  type MakeCertificatesOptions,
} from "./certs.ts";
import { CertificateError } from "./errors.ts";

/** The `--help` text. */
export const USAGE = `Usage: deno task certs [options]

Makes a development CA, a server certificate and client certificates (ECDSA P-256)
for jobworker's mutual TLS.

Options:
  --dir DIR            where the files go (default ./certs; created with mode 0700)
  --days N             validity in days (default ${DEFAULT_DAYS})
  --client NAME        a client certificate with CN=NAME; repeatable
                       (default: ${DEFAULT_CLIENTS.join(", ")})
  --server-name NAME   a DNS name or IP address for the server certificate, besides
                       ${DEFAULT_SERVER_NAMES.join(" and ")}; repeatable
  --force              recreate everything, the CA included (invalidates every
                       certificate made before)
  -h, --help           show this help

A valid CA already in DIR is reused, and only missing or invalid certificates are
made, so "--client carol" adds a user without invalidating the others.
`;

/** Exit status for bad command-line usage, distinct from a failed run. */
const USAGE_EXIT = 2;

/**
 * Runs the command with `args` (without the program name), printing results
 * on stdout and a one-line error on stderr.
 *
 * @returns the exit status: 0 on success, 1 on failure, 2 on bad usage.
 */
export async function main(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        dir: { type: "string", default: "./certs" },
        days: { type: "string" },
        client: { type: "string", multiple: true },
        "server-name": { type: "string", multiple: true },
        force: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    }));
  } catch (err: unknown) {
    // parseArgs' messages run on with advice about "--"; the first sentence
    // is the useful part.
    const message = err instanceof Error ? err.message.split(". ")[0] : String(err);
    console.error(`certs: ${message} (see --help)`);
    return USAGE_EXIT;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }

  const options: MakeCertificatesOptions = { force: values.force };
  if (values.days !== undefined) {
    if (!/^\d+$/.test(values.days)) {
      console.error(`certs: --days must be a whole number, got ${JSON.stringify(values.days)}`);
      return USAGE_EXIT;
    }
    options.days = Number(values.days);
  }
  if (values.client !== undefined) options.clients = values.client;
  if (values["server-name"] !== undefined) options.serverNames = values["server-name"];

  const dir = resolve(values.dir);
  try {
    const result = await makeCertificates(dir, options);
    const rows: Array<[string, IssuedCertificate, string]> = [
      ["CA", result.ca, `CN "${CA_COMMON_NAME}"`],
      ["server", result.server, result.server.names.join(", ")],
      ...Object.entries(result.clients).map(([name, c]): [string, IssuedCertificate, string] => [
        "client",
        c,
        `CN "${name}"`,
      ]),
    ];
    const files = rows.map(([, c]) => `${basename(c.cert)}, ${basename(c.key)}`);
    const width = Math.max(...files.map((f) => f.length));
    console.log(`Certificates in ${dir}:`);
    rows.forEach(([kind, cert, what], i) => {
      const status = cert.created ? "created" : "kept";
      const until = cert.notAfter.toISOString().replace(/\.000Z$/, "Z");
      console.log(
        `  ${kind.padEnd(6)}  ${status.padEnd(7)}  ${(files[i] ?? "").padEnd(width)}  ` +
          `${what}; until ${until}`,
      );
    });
    for (const note of result.notes) console.log(`Note: ${note}`);
    return 0;
  } catch (err: unknown) {
    const message = err instanceof Error ? err.message : String(err);
    // Errors other than CertificateError are unexpected; name their kind.
    const kind = err instanceof CertificateError || !(err instanceof Error) ? "" : `${err.name}: `;
    console.error(`certs: ${kind}${message.split("\n")[0]}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
