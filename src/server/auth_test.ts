import { assertEquals, assertThrows } from "@std/assert";
import { status } from "@grpc/grpc-js";
import { type AuthContextSource, callerOf, mayAccess } from "./auth.ts";
import { RequestError } from "./errors.ts";

function call(context: ReturnType<AuthContextSource["getAuthContext"]>): AuthContextSource {
  return { getAuthContext: () => context };
}

const policy = { admins: new Set(["admin"]) };

Deno.test("the caller is the verified certificate's CN; admins are named by CN", () => {
  const alice = callerOf(
    call({ transportSecurityType: "ssl", sslPeerCertificate: { subject: { CN: "alice" } } }),
    policy,
  );
  assertEquals(alice, { user: "alice", admin: false });
  const admin = callerOf(
    call({ transportSecurityType: "ssl", sslPeerCertificate: { subject: { CN: "admin" } } }),
    policy,
  );
  assertEquals(admin, { user: "admin", admin: true });
});

Deno.test("no TLS, no certificate, no CN or a CA certificate is UNAUTHENTICATED", () => {
  const contexts = [
    {},
    { transportSecurityType: "ssl" },
    { transportSecurityType: "ssl", sslPeerCertificate: { subject: {} } },
    { transportSecurityType: "ssl", sslPeerCertificate: { subject: { CN: "" } } },
    { transportSecurityType: "insecure", sslPeerCertificate: { subject: { CN: "alice" } } },
    { transportSecurityType: "ssl", sslPeerCertificate: { subject: { CN: "ca" }, ca: true } },
  ];
  for (const context of contexts) {
    const err = assertThrows(() => callerOf(call(context), policy), RequestError);
    assertEquals(err.code, status.UNAUTHENTICATED);
  }
});

Deno.test("an allow-list refuses other CNs with PERMISSION_DENIED, admins pass", () => {
  const strict = { admins: new Set(["admin"]), allowedUsers: new Set(["alice"]) };
  const ctx = (cn: string) =>
    call({ transportSecurityType: "ssl", sslPeerCertificate: { subject: { CN: cn } } });
  assertEquals(callerOf(ctx("alice"), strict).user, "alice");
  assertEquals(callerOf(ctx("admin"), strict).admin, true);
  const err = assertThrows(() => callerOf(ctx("mallory"), strict), RequestError);
  assertEquals(err.code, status.PERMISSION_DENIED);
});

Deno.test("owners and admins may access a job, nobody else", () => {
  assertEquals(mayAccess({ user: "alice", admin: false }, "alice"), true);
  assertEquals(mayAccess({ user: "bob", admin: false }, "alice"), false);
  assertEquals(mayAccess({ user: "root", admin: true }, "alice"), true);
});
