/**
 * A seeded fuzz test of every RPC: random and mangled messages (bytes,
 * truncations, bit flips, garbage, valid messages with odd values) sent as
 * raw bytes. The server must never crash or hang, and every answer must be
 * a deliberate one: never INTERNAL, UNKNOWN or UNAVAILABLE.
 *
 * JOBWORKER_FUZZ_SEED picks the seed (default: a fixed one, printed);
 * JOBWORKER_FUZZ_SECONDS bounds the run (default 8).
 */
import { assert, assertEquals } from "@std/assert";
import { status as grpcStatus } from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import { jobWorkerService } from "../../src/api/proto.ts";
import { METHODS, RawCaller, type RawReply, rootTest, withServer } from "./_fixture.ts";

const SEED = Number(Deno.env.get("JOBWORKER_FUZZ_SEED") ?? 20261202);
const SECONDS = Number(Deno.env.get("JOBWORKER_FUZZ_SECONDS") ?? 8);

/** mulberry32: a small, good enough, seedable PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Method = keyof typeof METHODS;

const ANSWERS = new Set([
  grpcStatus.OK,
  grpcStatus.INVALID_ARGUMENT,
  grpcStatus.NOT_FOUND,
  grpcStatus.PERMISSION_DENIED,
  grpcStatus.RESOURCE_EXHAUSTED,
  grpcStatus.FAILED_PRECONDITION,
]);

rootTest(
  `fuzz: ${SECONDS} s of random and malformed messages to every RPC (seed ${SEED})`,
  async () => {
    console.log(`  seed ${SEED} (set JOBWORKER_FUZZ_SEED to replay)`);
    await withServer(async (ctx) => {
      const raw = await RawCaller.connect(ctx, "alice");
      ctx.defer(() => raw.close());
      const alice = await ctx.client("alice");
      const random = prng(SEED);
      const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
      const int = (max: number) => Math.floor(random() * max);
      const bytes = (n: number) => Uint8Array.from({ length: n }, () => int(256));
      const known = [(await alice.start({ command: "true" })).id];
      const service = jobWorkerService();

      /** A message of `method` that decodes, with values from odd corners. */
      const valid = (method: Method): Uint8Array => {
        const id = pick([...known, crypto.randomUUID(), "", "x".repeat(int(300)), "../../etc"]);
        const text = () => pick(["", "true", "echo", "cat", "/bin/false", "\u00e9\u4e2d", "a\tb"]);
        const numbers = [0, 1, -1, 0.5, 1e300, Number.MAX_SAFE_INTEGER, 2 ** 40, NaN, Infinity];
        const value: Record<Method, () => unknown> = {
          Start: () => ({
            command: text(),
            args: Array.from({ length: int(4) }, text),
            env: random() < 0.3 ? { [text() || "K"]: text() } : {},
            cwd: pick(["", "/", "/work", "relative", "/no/such"]),
            limits: random() < 0.5 ? {} : {
              cpu: pick(numbers),
              memoryBytes: Math.abs(pick(numbers)) || 0,
              pids: int(5),
            },
            ...(random() < 0.2 ? { runAs: { uid: int(70000) } } : {}),
            ...(random() < 0.2 ? { maxOutputBytes: int(10_000) } : {}),
          }),
          Stop: () => ({ id, graceSeconds: random() < 0.5 ? pick([0, 0.01]) : undefined }),
          Status: () => ({ id }),
          List: () => ({}),
          StreamOutput: () => ({ id, offset: pick([0, 1, 2 ** 52]) }),
        };
        try {
          return new Uint8Array(service[method]!.requestSerialize(value[method]()));
        } catch {
          return new Uint8Array(); // The serializer refused a value: send the empty message.
        }
      };

      /** Breaks a message in one of several ways. */
      const mangle = (message: Uint8Array): Uint8Array => {
        switch (int(5)) {
          case 0:
            return bytes(int(64));
          case 1:
            return message.subarray(0, int(message.length + 1));
          case 2: {
            const copy = new Uint8Array(message);
            for (let i = 0; i < 1 + int(4) && copy.length > 0; i++) {
              const at = int(copy.length);
              copy[at] = copy[at]! ^ (1 << int(8));
            }
            return copy;
          }
          case 3:
            return new Uint8Array([...message, ...bytes(1 + int(16))]);
          default:
            return message;
        }
      };

      const counts = new Map<string, number>();
      const end = performance.now() + SECONDS * 1000;
      let calls = 0;
      while (performance.now() < end) {
        const method = pick(Object.keys(METHODS) as Method[]);
        const message = mangle(valid(method));
        // Streams of running jobs may rightly go on: a short deadline ends them.
        const reply: RawReply = await raw.call(method, message, METHODS[method] ? 3_000 : 10_000);
        calls++;
        const name = `${method} ${grpcStatus[reply.code]}`;
        counts.set(name, (counts.get(name) ?? 0) + 1);
        const streamCut = METHODS[method] && reply.code === grpcStatus.DEADLINE_EXCEEDED;
        assert(
          ANSWERS.has(reply.code) || streamCut,
          `${method} with ${JSON.stringify([...message])} got ${
            grpcStatus[reply.code]
          }: ${reply.details}`,
        );
        if (method === "Start" && reply.code === grpcStatus.OK) {
          const decoded = service.Start!.responseDeserialize(Buffer.from(reply.messages[0]!)) as {
            id: string;
          };
          known.push(decoded.id);
        }
      }
      console.log(
        `  ${calls} calls: ${[...counts].sort().map(([k, v]) => `${k} ${v}`).join(", ")}`,
      );
      // Still serving, and every job it started can be stopped.
      const jobs = await alice.list();
      for (const job of jobs) await alice.stop(job.id, { graceSeconds: 0 });
      assertEquals((await alice.list()).filter((j) => j.state === "running"), []);
    }, { timeoutMs: (SECONDS + 60) * 1000 });
  },
);
