/**
 * Certificates for tests that start a server. Made with the project's own
 * tool (src/certs, which runs openssl); where openssl is missing (the
 * cgroup v2 guest of `deno task test:vm`), copied from the directory named
 * by JOBWORKER_TEST_CERTS, which scripts/vm/run.sh fills on the host with
 * the same tool.
 *
 * @module
 */
import { join } from "node:path";
import { makeCertificates } from "../../src/certs/mod.ts";
import { which } from "./commands.ts";

/** Makes (or copies) the CA, the server's pair and one pair per client in `dir`. */
export async function testCertificates(dir: string, clients: readonly string[]): Promise<void> {
  const prepared = Deno.env.get("JOBWORKER_TEST_CERTS");
  if (prepared === undefined || which("openssl") !== null) {
    await makeCertificates(dir, { clients: [...clients] });
    return;
  }
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const names = ["ca.pem", "server.pem", "server-key.pem"];
  for (const client of clients) names.push(`${client}.pem`, `${client}-key.pem`);
  for (const name of names) await Deno.copyFile(join(prepared, name), join(dir, name));
}
