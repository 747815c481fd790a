/**
 * Connections the server must refuse (no client certificate, another CA,
 * expired, the server's or the CA's own certificate, TLS 1.2, plaintext),
 * and the client's check of the server's name. Every test has a control
 * that succeeds in the same set-up, so a test that refuses everything fails.
 */
import { assert, assertEquals, assertMatch, assertNotEquals } from "@std/assert";
import * as grpc from "@grpc/grpc-js";
import { join } from "node:path";
import { ApiError, type JobWorkerClient } from "../../src/api/client.ts";
import {
  makeCertificate,
  makeCertificateAuthority,
  makeCertificates,
  serverCertPaths,
} from "../../src/certs/mod.ts";
import { startServer } from "../../src/server/server.ts";
import {
  apiFailure,
  CLI_MAIN,
  rawClient,
  rawList,
  readBuffer,
  rootTest,
  runCommand,
  type ServerContext,
  spawnDeno,
  tlsFlags,
  withServer,
  withTimeout,
} from "./_fixture.ts";

/** Starting a job with `client` must fail; resolves with the error. */
function refused(client: JobWorkerClient, what: string): Promise<ApiError> {
  return withTimeout(
    apiFailure(() => client.start({ command: "true" }), `${what}: Start`),
    15_000,
    `${what}: the refused call`,
  );
}

/** A control: alice's ordinary client works on this server. */
async function control(ctx: ServerContext): Promise<string> {
  const alice = await ctx.client("alice");
  const { id } = await alice.start({ command: "true" });
  return id;
}

/** Nothing but the jobs in `allowed` was started. */
function onlyJobs(ctx: ServerContext, allowed: string[]): void {
  assertEquals(ctx.manager.list().map((j) => j.id), allowed);
}

// Deno's TLS refuses an IP address as SNI name (see src/api/tls.ts); raw
// clients dialing 127.0.0.1 therefore name the server "localhost", a SAN
// of the server certificate, so only the credentials differ from a control.
const RAW_OPTIONS: grpc.ChannelOptions = { "grpc.ssl_target_name_override": "localhost" };

rootTest(
  "TLS: a client without a certificate is refused (control: with one it works)",
  async () => {
    await withServer(async (ctx) => {
      const ca = await readBuffer(join(ctx.certsDir, "ca.pem"));
      const noCert = rawClient(ctx.addr, grpc.credentials.createSsl(ca), RAW_OPTIONS);
      const withCert = rawClient(
        ctx.addr,
        grpc.credentials.createSsl(
          ca,
          await readBuffer(ctx.tlsFor("alice").key),
          await readBuffer(ctx.tlsFor("alice").cert),
        ),
        RAW_OPTIONS,
      );
      try {
        const err = await rawList(noCert);
        assert(err !== null, "List without a client certificate must fail");
        assertNotEquals(err.code, grpc.status.OK);
        assertEquals(await rawList(withCert), null, "the same client with alice's certificate");
      } finally {
        noCert.close();
        withCert.close();
      }

      // openssl without -cert: after the TLS 1.3 handshake the server sends an
      // alert (certificate required) or just closes the connection; either
      // way s_client ends by itself, long before its 10 s timeout.
      const s = await runCommand("openssl", [
        "s_client",
        "-connect",
        ctx.addr,
        "-servername",
        "localhost",
        "-CAfile",
        join(ctx.certsDir, "ca.pem"),
        "-tls1_3",
        "-ign_eof",
      ], { stdin: "", timeoutMs: 10_000 });
      assertNotEquals(
        s.code,
        137,
        "s_client was killed at its timeout: the server kept the connection",
      );
      assertMatch(
        s.err + s.out,
        /alert|certificate required|handshake failure|unexpected eof/i,
        s.err,
      );
      onlyJobs(ctx, []);
    });
  },
);

rootTest(
  "TLS: certificates from another CA, expired, the server's and the CA's are refused",
  async () => {
    await withServer(async (ctx) => {
      const caFiles = {
        cert: join(ctx.certsDir, "ca.pem"),
        key: join(ctx.certsDir, "ca-key.pem"),
      };
      const odd = join(ctx.root, "odd-certs");
      // Another CA, and a client certificate for "alice" it signed.
      const otherCa = await makeCertificateAuthority(odd, { name: "other-ca", cn: "other CA" });
      const foreign = await makeCertificate(odd, {
        name: "foreign-alice",
        cn: "alice",
        issuer: otherCa,
      });
      // An expired certificate for "alice" from the right CA.
      const expired = await makeCertificate(odd, {
        name: "expired-alice",
        cn: "alice",
        issuer: caFiles,
        notBefore: new Date("2020-01-01T00:00:00Z"),
        notAfter: new Date("2020-06-30T00:00:00Z"),
      });
      // The same as the control but valid: proves makeCertificate's client certs work.
      const fresh = await makeCertificate(odd, {
        name: "fresh-alice",
        cn: "alice",
        issuer: caFiles,
      });
      const ca = caFiles.cert;

      const cases: Array<[string, { ca: string; cert: string; key: string }]> = [
        ["a certificate from another CA", { ca, ...foreign }],
        ["an expired certificate", { ca, ...expired }],
        ["the server's certificate", serverCertPaths(ctx.certsDir)],
      ];
      for (const [what, files] of cases) {
        const err = await refused(await ctx.clientWith(files), what);
        // The handshake fails: no call reaches the service.
        assertEquals(
          err.code,
          grpc.status.UNAVAILABLE,
          `${what}: ${grpc.status[err.code]} ${err.message}`,
        );
      }
      // The CA's own certificate passes TLS verification (it is self-signed by
      // the trusted CA) but is no user: UNAUTHENTICATED.
      const asCa = await refused(await ctx.clientWith({ ca, ...caFiles }), "the CA's certificate");
      assertEquals(
        asCa.code,
        grpc.status.UNAUTHENTICATED,
        `${grpc.status[asCa.code]} ${asCa.message}`,
      );

      // The CLI with a refused certificate: exit 1, one line on stderr.
      const cli = await ctx.cli("alice", ["list"]);
      assertEquals(cli.code, 0, cli.stderr);
      const bad = await runCliWith(ctx, { ca, ...expired });
      assertEquals(bad.code, 1);
      assertMatch(bad.stderr, /^jobworker: cannot reach the server at 127\.0\.0\.1:\d+: [^\n]+\n$/);

      onlyJobs(ctx, []);
      // Controls: an ordinary alice certificate, and one made like the refused ones.
      const id = await control(ctx);
      const freshClient = await ctx.clientWith({ ca, ...fresh });
      const again = await freshClient.start({ command: "true" });
      assertEquals(again.status.owner, "alice");
      onlyJobs(ctx, [id, again.id]);
    });
  },
);

async function runCliWith(
  ctx: ServerContext,
  files: { ca: string; cert: string; key: string },
) {
  return await spawnDeno([CLI_MAIN, "--addr", ctx.addr, ...tlsFlags(files), "list"], {
    timeoutMs: 30_000,
  }).result;
}

rootTest("TLS: TLS 1.2 and plaintext are refused; TLS 1.3 with a certificate works", async () => {
  await withServer(async (ctx) => {
    const alice = ctx.tlsFor("alice");
    const sClient = (version: string) =>
      runCommand("openssl", [
        "s_client",
        version,
        "-connect",
        ctx.addr,
        "-servername",
        "localhost",
        "-cert",
        alice.cert,
        "-key",
        alice.key,
        "-CAfile",
        alice.ca,
      ], { stdin: "", timeoutMs: 10_000 });
    const v12 = await sClient("-tls1_2");
    assertNotEquals(v12.code, 0, `TLS 1.2 handshake must fail: ${v12.out}`);
    // openssl prints a session block even for a failed handshake: no cipher was agreed.
    assertMatch(v12.out, /Cipher is \(NONE\)/, v12.out);
    assertMatch(v12.err, /alert|error/i, v12.err);
    const v13 = await sClient("-tls1_3");
    assertEquals(v13.code, 0, v13.err);
    assertMatch(v13.out, /New, TLSv1\.3, Cipher is TLS_/);
    assertMatch(v13.out, /Verify return code: 0 \(ok\)/);

    const plain = rawClient(ctx.addr, grpc.credentials.createInsecure());
    try {
      const err = await rawList(plain);
      assert(err !== null, "a plaintext call must fail");
      assertNotEquals(err.code, grpc.status.OK);
      assert(
        [grpc.status.UNAVAILABLE, grpc.status.INTERNAL, grpc.status.UNAUTHENTICATED].includes(
          err.code,
        ),
        `${grpc.status[err.code]}: ${err.details}`,
      );
    } finally {
      plain.close();
    }
    onlyJobs(ctx, []);
    await control(ctx);
  });
});

rootTest("TLS: the client checks the server's name against the IP it dials", async () => {
  await withServer(async (ctx) => {
    // A server on 127.0.0.2 with the ordinary server certificate (SANs
    // localhost and 127.0.0.1 only): the client must refuse it.
    const wrongName = await startServer({
      address: "127.0.0.2:0",
      tls: serverCertPaths(ctx.certsDir),
      manager: ctx.manager,
      policy: { admins: new Set(["admin"]) },
    });
    ctx.defer(() => wrongName.close({ timeoutMs: 1000 }));
    const wrongAddr = `127.0.0.2:${wrongName.port}`;
    const err = await refused(await ctx.clientWith(ctx.tlsFor("alice"), wrongAddr), "127.0.0.2");
    assertEquals(err.code, grpc.status.UNAVAILABLE, err.message);

    // The same server certificate for 127.0.0.1 works (control).
    const id = await control(ctx);

    // A server certificate for 127.0.0.2 from the same CA: accepted on 127.0.0.2.
    const caFiles = { cert: join(ctx.certsDir, "ca.pem"), key: join(ctx.certsDir, "ca-key.pem") };
    const named = await makeCertificate(join(ctx.root, "server2"), {
      name: "server2",
      usage: "server",
      serverNames: ["127.0.0.2"],
      issuer: caFiles,
    });
    const rightName = await startServer({
      address: "127.0.0.2:0",
      tls: { ca: caFiles.cert, ...named },
      manager: ctx.manager,
      policy: { admins: new Set(["admin"]) },
    });
    ctx.defer(() => rightName.close({ timeoutMs: 1000 }));
    const rightAddr = `127.0.0.2:${rightName.port}`;
    const ok = await ctx.clientWith(ctx.tlsFor("alice"), rightAddr);
    assertEquals((await ok.status(id)).owner, "alice");

    // And a whole new set made with serverNames ["127.0.0.2"] works as well.
    const other = join(ctx.root, "other-set");
    await makeCertificates(other, { clients: ["carol"], serverNames: ["127.0.0.2"] });
    const third = await startServer({
      address: "127.0.0.2:0",
      tls: serverCertPaths(other),
      manager: ctx.manager,
      policy: { admins: new Set(["admin"]) },
    });
    ctx.defer(() => third.close({ timeoutMs: 1000 }));
    const carol = await ctx.clientWith(
      {
        ca: join(other, "ca.pem"),
        cert: join(other, "carol.pem"),
        key: join(other, "carol-key.pem"),
      },
      `127.0.0.2:${third.port}`,
    );
    assertEquals(await carol.list(), []);
    // ...but its server certificate is still refused on an address it does not name.
    const fourth = await startServer({
      address: "127.0.0.3:0",
      tls: serverCertPaths(other),
      manager: ctx.manager,
      policy: { admins: new Set(["admin"]) },
    });
    ctx.defer(() => fourth.close({ timeoutMs: 1000 }));
    const carolWrong = await ctx.clientWith(
      {
        ca: join(other, "ca.pem"),
        cert: join(other, "carol.pem"),
        key: join(other, "carol-key.pem"),
      },
      `127.0.0.3:${fourth.port}`,
    );
    assertEquals((await refused(carolWrong, "127.0.0.3")).code, grpc.status.UNAVAILABLE);
    onlyJobs(ctx, [id]);
  });
});
