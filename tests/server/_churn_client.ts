/**
 * A client process for lifecycle_test.ts: `count` times, opens a NEW
 * connection (own subchannel pool, so connections are not shared), calls
 * List, and closes it. Prints `ok N` and exits 0, or prints the error and
 * exits 1 at the first failed call.
 *
 * Usage: deno run --allow-all _churn_client.ts ADDR CA CERT KEY COUNT
 *
 * @module
 */
import { JobWorkerClient } from "../../src/api/client.ts";
import { clientConnection } from "../../src/api/tls.ts";

const [addr, ca, cert, key, countArg] = Deno.args;
if (addr === undefined || ca === undefined || cert === undefined || key === undefined) {
  console.error("usage: _churn_client.ts ADDR CA CERT KEY COUNT");
  Deno.exit(2);
}
const connection = await clientConnection({ ca, cert, key }, addr);
const count = Number(countArg ?? 10);
let ok = 0;
for (let i = 0; i < count; i++) {
  const client = new JobWorkerClient(addr, {
    credentials: connection.credentials,
    channelOptions: { ...connection.channelOptions, "grpc.use_local_subchannel_pool": 1 },
  });
  try {
    await client.list();
    ok++;
  } catch (err) {
    console.log(`call ${i + 1} failed: ${(err as Error).message}`);
    client.close();
    Deno.exit(1);
  }
  client.close();
}
console.log(`ok ${ok}`);
