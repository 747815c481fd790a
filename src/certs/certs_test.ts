import {
  assert,
  assertEquals,
  assertLessOrEqual,
  assertMatch,
  assertNotEquals,
  assertRejects,
  assertStringIncludes,
} from "@std/assert";
import { join } from "node:path";
import {
  CertificateError,
  certPathsFor,
  makeCertificate,
  makeCertificateAuthority,
  makeCertificates,
  serverCertPaths,
} from "./mod.ts";
import { runCommand, type RunResult } from "../../tests/_support/commands.ts";
import { withTempDir } from "../../tests/_support/fs.ts";

async function openssl(...args: string[]): Promise<string> {
  const result = await runCommand("openssl", args);
  assertEquals(result.code, 0, `openssl ${args.join(" ")}: ${result.err}`);
  return result.out;
}

function text(cert: string): Promise<string> {
  return openssl("x509", "-in", cert, "-noout", "-text");
}

function verify(ca: string, cert: string, purpose?: string): Promise<RunResult> {
  const args = ["verify", "-CAfile", ca];
  if (purpose !== undefined) args.push("-purpose", purpose);
  return runCommand("openssl", [...args, cert]);
}

async function validityDays(cert: string): Promise<number> {
  const out = await openssl("x509", "-in", cert, "-noout", "-dates", "-dateopt", "iso_8601");
  const date = (field: string) => {
    const m = new RegExp(`^${field}=(\\S+) (\\S+)$`, "m").exec(out);
    assert(m, `no ${field} in ${out}`);
    return new Date(`${m[1]}T${m[2]}`).getTime();
  };
  return (date("notAfter") - date("notBefore")) / 86_400_000;
}

function mode(path: string): number {
  return (Deno.statSync(path).mode ?? 0) & 0o777;
}

/** The prefix of this file's temporary directories. */
const TEMP_PREFIX = "jobworker-certs-test-";

Deno.test("makes a CA, a server and default clients with the right extensions", async () => {
  await withTempDir(async (tmp) => {
    const dir = join(tmp, "new", "certs");
    const result = await makeCertificates(dir, { days: 7, serverNames: ["jobs.test", "10.1.2.3"] });
    assertEquals(mode(dir), 0o700);
    assertEquals(Object.keys(result.clients), ["alice", "bob", "admin"]);
    assertEquals(result.ca, { ...result.ca, cert: join(dir, "ca.pem"), created: true });
    assertEquals(result.notes, []);

    const ca = await text(result.ca.cert);
    assertStringIncludes(ca, "ASN1 OID: prime256v1");
    assertStringIncludes(ca, "Subject: CN = jobworker dev CA");
    assertMatch(ca, /Basic Constraints: critical\s+CA:TRUE/);
    assertMatch(ca, /Key Usage: critical\s+Certificate Sign, CRL Sign/);

    const server = await text(result.server.cert);
    assertStringIncludes(server, "ASN1 OID: prime256v1");
    assertStringIncludes(server, "Subject: CN = jobworker-server");
    assertMatch(server, /Extended Key Usage: *\s+TLS Web Server Authentication\n/);
    assertMatch(server, /Basic Constraints: critical\s+CA:FALSE/);
    assertMatch(server, /Key Usage: critical\s+Digital Signature\n/);
    const san = await openssl(
      "x509",
      "-in",
      result.server.cert,
      "-noout",
      "-ext",
      "subjectAltName",
    );
    assertStringIncludes(
      san,
      "DNS:localhost, IP Address:127.0.0.1, DNS:jobs.test, IP Address:10.1.2.3",
    );
    assertEquals(result.server.names, ["localhost", "127.0.0.1", "jobs.test", "10.1.2.3"]);
    assertEquals(serverCertPaths(dir), {
      ca: result.ca.cert,
      cert: result.server.cert,
      key: result.server.key,
    });

    for (const name of ["alice", "bob", "admin"]) {
      const paths = certPathsFor(dir, name);
      assertEquals(paths.cert, result.clients[name]?.cert);
      const client = await text(paths.cert);
      assertStringIncludes(client, "ASN1 OID: prime256v1");
      assertStringIncludes(client, `Subject: CN = ${name}\n`);
      assertMatch(client, /Extended Key Usage: *\s+TLS Web Client Authentication\n/);
      assertMatch(client, /Basic Constraints: critical\s+CA:FALSE/);
      assertEquals((await verify(paths.ca, paths.cert, "sslclient")).code, 0);
      // A client certificate must not pass as a server's.
      const asServer = await verify(paths.ca, paths.cert, "sslserver");
      assertNotEquals(asServer.code, 0);
      assertStringIncludes(asServer.err, "unsuitable certificate purpose");
    }
    assertEquals((await verify(result.ca.cert, result.server.cert, "sslserver")).code, 0);
    assertNotEquals((await verify(result.ca.cert, result.server.cert, "sslclient")).code, 0);

    for (const c of [result.ca, result.server, ...Object.values(result.clients)]) {
      assertEquals(mode(c.key), 0o600, c.key);
      assertEquals(mode(c.cert), 0o644, c.cert);
      assertLessOrEqual(await validityDays(c.cert), 7 + 1, c.cert);
      assert(c.notAfter.getTime() > Date.now() + 6 * 86_400_000, c.cert);
      assertStringIncludes(await openssl("pkey", "-in", c.key, "-noout", "-text"), "prime256v1");
    }
    // Nothing but the certificates is left behind (no temporary files).
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assertEquals(names, [
      "admin-key.pem",
      "admin.pem",
      "alice-key.pem",
      "alice.pem",
      "bob-key.pem",
      "bob.pem",
      "ca-key.pem",
      "ca.pem",
      "server-key.pem",
      "server.pem",
    ]);
  }, { prefix: TEMP_PREFIX });
});

Deno.test("default validity is 30 days", async () => {
  await withTempDir(async (dir) => {
    const result = await makeCertificates(dir, { clients: ["alice"] });
    for (const c of [result.ca, result.server, result.clients.alice]) {
      assert(c);
      const days = await validityDays(c.cert);
      assert(days > 29 && days <= 31, `${c.cert}: ${days} days`);
    }
  }, { prefix: TEMP_PREFIX });
});

Deno.test("a second call reuses the CA and valid certificates, adding only new clients", async () => {
  await withTempDir(async (dir) => {
    await makeCertificates(dir, { clients: ["alice", "bob"] });
    const before = (name: string) => Deno.readFileSync(join(dir, name));
    const caPem = before("ca.pem");
    const caKey = before("ca-key.pem");
    const serverPem = before("server.pem");
    const alicePem = before("alice.pem");

    // A kept key with a loose mode is tightened again.
    Deno.chmodSync(join(dir, "alice-key.pem"), 0o644);
    // Later than the CA's creation, so that carol's 30 days would outlive it.
    await new Promise((ok) => setTimeout(ok, 1100));
    const again = await makeCertificates(dir, { clients: ["alice", "carol"] });
    assertEquals(again.clients.carol?.notAfter, again.ca.notAfter);
    // Cut short by a second only: not worth a note.
    assertEquals(again.notes, []);
    assertEquals(again.ca.created, false);
    assertEquals(again.server.created, false);
    assertEquals(again.clients.alice?.created, false);
    assertEquals(again.clients.carol?.created, true);
    assertEquals(Deno.readFileSync(join(dir, "ca.pem")), caPem);
    assertEquals(Deno.readFileSync(join(dir, "ca-key.pem")), caKey);
    assertEquals(Deno.readFileSync(join(dir, "server.pem")), serverPem);
    assertEquals(Deno.readFileSync(join(dir, "alice.pem")), alicePem);
    assertEquals(mode(join(dir, "alice-key.pem")), 0o600);
    assertEquals(mode(join(dir, "carol-key.pem")), 0o600);
    const carol = certPathsFor(dir, "carol");
    assertEquals((await verify(carol.ca, carol.cert, "sslclient")).code, 0);
    // bob was not asked for, and is left as it was (still valid).
    const bob = certPathsFor(dir, "bob");
    assertEquals((await verify(bob.ca, bob.cert, "sslclient")).code, 0);
  }, { prefix: TEMP_PREFIX });
});

Deno.test("invalid or incomplete certificates are replaced, the CA kept", async () => {
  await withTempDir(async (dir) => {
    await makeCertificates(dir, { clients: ["alice", "bob"] });
    const caPem = Deno.readFileSync(join(dir, "ca.pem"));
    const alicePem = Deno.readFileSync(join(dir, "alice.pem"));
    Deno.removeSync(join(dir, "bob-key.pem"));
    // alice's key no longer belongs to her certificate.
    Deno.copyFileSync(join(dir, "server-key.pem"), join(dir, "alice-key.pem"));

    const again = await makeCertificates(dir, {
      clients: ["alice", "bob"],
      serverNames: ["::1"],
    });
    assertEquals(again.ca.created, false);
    assertEquals(again.clients.alice?.created, true);
    assertEquals(again.clients.bob?.created, true);
    // The server certificate lacked the newly requested name.
    assertEquals(again.server.created, true);
    assertStringIncludes(
      await openssl("x509", "-in", again.server.cert, "-noout", "-ext", "subjectAltName"),
      "IP Address:0:0:0:0:0:0:0:1",
    );
    assertEquals(Deno.readFileSync(join(dir, "ca.pem")), caPem);
    assertNotEquals(Deno.readFileSync(join(dir, "alice.pem")), alicePem);

    // ::1 is now present, whatever form openssl prints it in: kept.
    const third = await makeCertificates(dir, { clients: ["alice"], serverNames: ["::1"] });
    assertEquals(third.server.created, false);
  }, { prefix: TEMP_PREFIX });
});

Deno.test("force recreates everything, the CA included", async () => {
  await withTempDir(async (dir) => {
    await makeCertificates(dir, { clients: ["alice"] });
    const caPem = Deno.readFileSync(join(dir, "ca.pem"));
    const forced = await makeCertificates(dir, { clients: ["alice"], force: true });
    assertEquals(forced.ca.created, true);
    assertEquals(forced.server.created, true);
    assertEquals(forced.clients.alice?.created, true);
    assertNotEquals(Deno.readFileSync(join(dir, "ca.pem")), caPem);
    assertEquals(forced.notes.length, 1);
    assertStringIncludes(forced.notes[0] ?? "", "made with the previous CA are no longer valid");
  }, { prefix: TEMP_PREFIX });
});

Deno.test("a broken CA is an error naming force, not silently replaced", async () => {
  await withTempDir(async (dir) => {
    await makeCertificates(dir, { clients: ["alice"] });
    const caPem = Deno.readFileSync(join(dir, "ca.pem"));
    Deno.copyFileSync(join(dir, "alice-key.pem"), join(dir, "ca-key.pem"));
    const err = await assertRejects(() => makeCertificates(dir), CertificateError);
    assertMatch(err.message, /^Cannot create certificates: .*ca-key\.pem does not belong to/);
    assertStringIncludes(err.message, "force");
    assertEquals(Deno.readFileSync(join(dir, "ca.pem")), caPem);

    Deno.removeSync(join(dir, "ca-key.pem"));
    await assertRejects(() => makeCertificates(dir), CertificateError, "ca-key.pem does not");
    assertEquals((await makeCertificates(dir, { force: true })).ca.created, true);
  }, { prefix: TEMP_PREFIX });
});

Deno.test("an expired CA is replaced together with the certificates asked for", async () => {
  await withTempDir(async (dir) => {
    await makeCertificates(dir, { clients: ["alice"] });
    // Re-sign the CA's own key as an expired self-signed CA: OpenSSL 3.0's
    // `req -x509` cannot backdate, `ca -selfsign` can.
    const work = await Deno.makeTempDir({ dir, prefix: "old-ca-" });
    const cnf = join(work, "old.cnf");
    await Deno.writeTextFile(join(work, "index.txt"), "");
    await Deno.writeTextFile(join(work, "serial"), "01\n");
    await Deno.writeTextFile(
      cnf,
      `[req]\nprompt = no\ndistinguished_name = dn\n[dn]\nCN = jobworker dev CA\n` +
        `[ca]\ndefault_ca = old\n[old]\ndatabase = ${work}/index.txt\nnew_certs_dir = ${work}\n` +
        `serial = ${work}/serial\ndefault_md = sha256\npolicy = p\n[p]\ncommonName = supplied\n` +
        `[ext]\nbasicConstraints = critical, CA:TRUE\nkeyUsage = keyCertSign, cRLSign\n`,
    );
    const caKey = join(dir, "ca-key.pem");
    await openssl("req", "-new", "-key", caKey, "-config", cnf, "-out", join(work, "old.csr"));
    await openssl(
      "ca",
      ...["-batch", "-selfsign", "-notext", "-config", cnf, "-keyfile", caKey, "-extensions"],
      ...["ext", "-in", join(work, "old.csr"), "-out", join(dir, "ca.pem")],
      ...["-startdate", "20200101000000Z", "-enddate", "20200102000000Z"],
    );
    await Deno.remove(work, { recursive: true });

    const result = await makeCertificates(dir, { clients: ["alice"] });
    assertEquals(result.ca.created, true);
    assertEquals(result.server.created, true);
    assertEquals(result.clients.alice?.created, true);
    assertStringIncludes(result.notes[0] ?? "", "the CA expired on 2020-01-02T00:00:00Z");
    assert(result.ca.notAfter.getTime() > Date.now());
    assertEquals((await verify(result.ca.cert, result.clients.alice?.cert ?? "")).code, 0);
  }, { prefix: TEMP_PREFIX });
});

Deno.test("an expired client certificate is expired", async () => {
  await withTempDir(async (dir) => {
    const { ca } = await makeCertificates(dir, { clients: [] });
    const expired = await makeCertificate(dir, {
      name: "old",
      issuer: ca,
      notBefore: new Date("2020-01-01T00:00:00Z"),
      notAfter: new Date("2020-01-02T00:00:00Z"),
    });
    assertEquals(mode(expired.key), 0o600);
    const dates = await openssl("x509", "-in", expired.cert, "-noout", "-enddate");
    assertEquals(dates.trim(), "notAfter=Jan  2 00:00:00 2020 GMT");
    const check = await runCommand("openssl", [
      "x509",
      "-in",
      expired.cert,
      "-noout",
      "-checkend",
      "0",
    ]);
    assertEquals(check.code, 1);
    const result = await verify(ca.cert, expired.cert, "sslclient");
    assertNotEquals(result.code, 0);
    assertStringIncludes(result.err, "certificate has expired");
    assertMatch(
      await text(expired.cert),
      /Subject: CN = old\n[\s\S]*TLS Web Client Authentication/,
    );
  }, { prefix: TEMP_PREFIX });
});

Deno.test("a certificate signed by another CA fails verification against ours", async () => {
  await withTempDir(async (dir) => {
    const { ca } = await makeCertificates(dir, { clients: [] });
    const other = await makeCertificateAuthority(dir, { name: "other-ca", cn: "Other CA" });
    assertEquals(mode(other.key), 0o600);
    const mallory = await makeCertificate(dir, { name: "mallory", issuer: other });
    // Same CN as a real user: the signature, not the name, must decide.
    const fakeAlice = await makeCertificate(dir, {
      name: "fake-alice",
      cn: "alice",
      issuer: other,
    });
    for (const cert of [mallory.cert, fakeAlice.cert]) {
      const ours = await verify(ca.cert, cert, "sslclient");
      assertNotEquals(ours.code, 0);
      assertStringIncludes(ours.err, "unable to get local issuer certificate");
      assertEquals((await verify(other.cert, cert, "sslclient")).code, 0);
    }
    assertStringIncludes(await text(other.cert), "Subject: CN = Other CA");
  }, { prefix: TEMP_PREFIX });
});

Deno.test("makeCertificate can make a server certificate with chosen names", async () => {
  await withTempDir(async (dir) => {
    const { ca } = await makeCertificates(dir, { clients: [] });
    const wrongHost = await makeCertificate(dir, {
      name: "elsewhere",
      usage: "server",
      serverNames: ["elsewhere.test"],
      issuer: ca,
      days: 2,
    });
    assertEquals((await verify(ca.cert, wrongHost.cert, "sslserver")).code, 0);
    const san = await openssl("x509", "-in", wrongHost.cert, "-noout", "-ext", "subjectAltName");
    assertStringIncludes(san, "DNS:elsewhere.test");
    assert(!san.includes("localhost"));
    assertLessOrEqual(await validityDays(wrongHost.cert), 3);
  }, { prefix: TEMP_PREFIX });
});

Deno.test("invalid options are refused before anything is written", async () => {
  await withTempDir(async (tmp) => {
    const dir = join(tmp, "certs");
    const cases: Array<[Parameters<typeof makeCertificates>[1], string]> = [
      [{ days: 0 }, "days must be a whole number from 1 to 3650, got 0"],
      [{ days: 1.5 }, "days must be a whole number"],
      [{ clients: ["../x"] }, 'name "../x" is invalid'],
      [{ clients: ["a b"] }, 'name "a b" is invalid'],
      [{ clients: ["ca"] }, 'client name "ca" is reserved'],
      [{ clients: ["alice-key"] }, 'client name "alice-key" is reserved'],
      [{ serverNames: ["bad_name!"] }, 'server name "bad_name!" is neither'],
    ];
    for (const [options, message] of cases) {
      const err = await assertRejects(() => makeCertificates(dir, options), CertificateError);
      assertStringIncludes(err.message, message);
      assertMatch(err.message, /^Cannot create certificates: /);
    }
    await assertRejects(() => Deno.stat(dir), Deno.errors.NotFound);
  }, { prefix: TEMP_PREFIX });
});

Deno.test("a failing openssl step is named in a one-line error", async () => {
  await withTempDir(async (dir) => {
    const missing = { cert: join(dir, "nope.pem"), key: join(dir, "nope-key.pem") };
    const err = await assertRejects(
      () => makeCertificate(dir, { name: "x", issuer: missing }),
      CertificateError,
    );
    assertMatch(
      err.message,
      /^Cannot create certificate "x": openssl ca failed \(client certificate "x" signing\): \S/,
    );
    assert(!err.message.includes("\n"));
  }, { prefix: TEMP_PREFIX });
});

Deno.test("the certs command makes certificates and reports where they went", async () => {
  await withTempDir(async (tmp) => {
    const dir = join(tmp, "out");
    const main = new URL("./main.ts", import.meta.url).pathname;
    const deno = (...args: string[]) =>
      runCommand(Deno.execPath(), ["run", "--allow-all", main, ...args]);

    const help = await deno("--help");
    assertEquals(help.code, 0);
    assertStringIncludes(help.out, "--server-name NAME");

    const bad = await deno("--bogus");
    assertEquals(bad.code, 2);
    assertEquals(bad.err, "certs: Unknown option '--bogus' (see --help)\n");

    const badDays = await deno("--dir", dir, "--days", "x");
    assertEquals(badDays.code, 2);
    assertEquals(badDays.err.split("\n").length, 2);

    const made = await deno("--dir", dir, "--days", "3", "--client", "carol", "--client", "dave");
    assertEquals(made.code, 0, made.err);
    assertStringIncludes(made.out, `Certificates in ${dir}:`);
    assertMatch(made.out, /CA +created +ca\.pem, ca-key\.pem/);
    assertMatch(made.out, /client +created +dave\.pem, dave-key\.pem +CN "dave"/);
    assertLessOrEqual(await validityDays(join(dir, "carol.pem")), 4);
    await Deno.stat(join(dir, "dave-key.pem"));
    await assertRejects(() => Deno.stat(join(dir, "alice.pem")), Deno.errors.NotFound);

    const again = await deno("--dir", dir, "--client", "erin");
    assertEquals(again.code, 0, again.err);
    assertMatch(again.out, /CA +kept/);
    assertMatch(again.out, /client +created +erin\.pem/);

    const failed = await deno("--dir", dir, "--client", "ca");
    assertEquals(failed.code, 1);
    assertEquals(
      failed.err,
      'certs: Cannot create certificates: client name "ca" is reserved\n',
    );
  }, { prefix: TEMP_PREFIX });
});
