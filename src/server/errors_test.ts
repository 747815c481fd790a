import { assertEquals } from "@std/assert";
import { status } from "@grpc/grpc-js";
import {
  JobExhaustedError,
  JobNotFoundError,
  JobPermissionError,
  JobPreconditionError,
  JobSpecError,
} from "../job/mod.ts";
import { RequestError, toStatusError } from "./errors.ts";

Deno.test("library errors map to their status codes with their messages", () => {
  const logged: string[] = [];
  const log = (m: string) => logged.push(m);
  assertEquals(toStatusError(new JobSpecError("Cannot start job: command is empty"), { log }), {
    code: status.INVALID_ARGUMENT,
    details: "Cannot start job: command is empty",
  });
  assertEquals(toStatusError(new JobNotFoundError("x"), { log }).code, status.NOT_FOUND);
  assertEquals(
    toStatusError(new JobPreconditionError("shutting down"), { log }).code,
    status.FAILED_PRECONDITION,
  );
  assertEquals(
    toStatusError(new JobExhaustedError("Cannot start job: 3 jobs run (--max-jobs 3)"), { log }),
    { code: status.RESOURCE_EXHAUSTED, details: "Cannot start job: 3 jobs run (--max-jobs 3)" },
  );
  assertEquals(
    toStatusError(new JobPermissionError("Cannot start job: uid 0 is not allowed"), { log }),
    { code: status.PERMISSION_DENIED, details: "Cannot start job: uid 0 is not allowed" },
  );
  assertEquals(
    toStatusError(new RequestError(status.UNAUTHENTICATED, "no cert"), { log }),
    { code: status.UNAUTHENTICATED, details: "no cert" },
  );
  assertEquals(logged, []);
});

Deno.test("anything else is INTERNAL without leaking details, and is logged", () => {
  const logged: string[] = [];
  const err = new Error("open /sys/fs/cgroup/secret/path: EACCES");
  const result = toStatusError(err, { log: (m) => logged.push(m) });
  assertEquals(result, { code: status.INTERNAL, details: "internal error" });
  assertEquals(logged.length, 1);
  assertEquals(logged[0]!.includes("/sys/fs/cgroup/secret/path"), true);
});
