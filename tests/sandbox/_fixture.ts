/**
 * The stage of the hostile-job suite: a job manager set up like a real
 * server (its TLS key directory masked, another user's job running, a
 * listener standing in for the gRPC port on the host's loopback), the
 * attacker's tool (./_attack.ts and this Deno binary) bound into every job,
 * and {@linkcode attack}, which runs one attack as an ordinary job and
 * prints what it tried and what the kernel answered.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Job, JobManagerOptions } from "../../src/job/mod.ts";
import { outputText, sh, withManager } from "../job/_fixture.ts";
import type { TestContext } from "../job/_fixture.ts";

export { rootTest } from "../job/_fixture.ts";

/** Where the attacker's tool appears inside every job. */
export const KIT_DIR = "/jobworker-attack";

/** What an attack test gets. */
export interface Stage extends TestContext {
  /** The server's TLS files (as a server would keep them); masked from jobs. */
  certsDir: string;
  /** A job of another user ("bob"), running `sleep` until the test ends. */
  victim: Job;
  /** A TCP port the host listens on at 127.0.0.1, as the gRPC server would. */
  hostPort: number;
  /** Connections the host listener accepted (it must stay 0). */
  accepted(): number;
}

/** Options of {@linkcode withStage}. */
export interface StageOptions {
  /** Extra JobManager options. */
  manager?: Partial<JobManagerOptions>;
  /** Default 60 s. */
  timeoutMs?: number;
}

const here = dirname(fileURLToPath(import.meta.url));

/**
 * Runs `fn` on a fresh stage; everything (jobs, cgroups, listener, temp
 * dirs) is gone afterwards, also when `fn` fails.
 *
 * The test's directory lies below /var/lib, a part of the host every job
 * sees (read-only), and the TLS files and the data directory are made
 * readable by anyone: only the sandbox's masks keep jobs out of them.
 */
export async function withStage(
  fn: (stage: Stage) => Promise<void>,
  options: StageOptions = {},
): Promise<void> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let accepted = 0;
  const accepting = (async () => {
    for await (const conn of listener) {
      accepted++;
      conn.close();
    }
  })();
  try {
    await withManager(async (ctx) => {
      const certsDir = join(ctx.root, "certs");
      await Deno.chmod(ctx.root, 0o755);
      for (const name of ["ca", "server", "admin"]) {
        await Deno.writeTextFile(join(certsDir, `${name}.pem`), `${name} certificate\n`);
        await Deno.writeTextFile(join(certsDir, `${name}-key.pem`), `${name} SECRET KEY\n`);
        await Deno.chmod(join(certsDir, `${name}-key.pem`), 0o644);
      }
      const victim = await ctx.manager.start(
        sh("echo bob-secret-output; sleep 600"),
        { owner: "bob" },
      );
      try {
        const victimDir = join(ctx.dataDir, "jobs", victim.id);
        for (const dir of [ctx.dataDir, join(ctx.dataDir, "jobs"), victimDir]) {
          await Deno.chmod(dir, 0o755);
        }
        await Deno.chmod(join(victimDir, "output"), 0o644);
        await fn({
          ...ctx,
          certsDir,
          victim,
          hostPort: (listener.addr as Deno.NetAddr).port,
          accepted: () => accepted,
        });
      } finally {
        await victim.stop({ graceMs: 0 });
      }
    }, {
      timeoutMs: options.timeoutMs ?? 60_000,
      rootParent: "/var/lib",
      manager: (root) => {
        // Made here, before the manager exists, so that it can be masked.
        Deno.mkdirSync(join(root, "certs"), { mode: 0o755 });
        const extra = options.manager ?? {};
        return {
          ...extra,
          masks: [join(root, "certs"), ...(extra.masks ?? [])],
          binds: [
            { source: Deno.execPath(), target: `${KIT_DIR}/deno`, readOnly: true },
            { source: join(here, "_attack.ts"), target: `${KIT_DIR}/attack.ts`, readOnly: true },
            ...(extra.binds ?? []),
          ],
        };
      },
    });
  } finally {
    listener.close();
    await accepting.catch(() => {});
  }
}

/** What one attack did. */
export interface AttackResult {
  /** The job's whole output (stdout and stderr). */
  out: string;
  /** The job's exit code (null when a signal ended it). */
  code: number | null;
}

/**
 * Runs `script` (sh) as an ordinary job of user "alice" and prints what it
 * tried and what came back.
 */
export async function attack(
  stage: Stage,
  options: { name: string; script: string },
): Promise<AttackResult> {
  const job = await stage.manager.start(sh(options.script), { owner: "alice" });
  const status = await job.wait();
  const out = await outputText(job);
  console.log(
    `  attack: ${options.name}\n    tried:   ${
      options.script.trim().replaceAll("\n", "\n             ")
    }` +
      `\n    answer:  ${out.trim().replaceAll("\n", "\n             ") || "(no output)"}` +
      ` [exit ${status.exitCode ?? status.signal}]`,
  );
  return { out, code: status.exitCode };
}

/** One system call the attacker's tool tried, and the kernel's answer ("ok" or an errno). */
export interface Probe {
  probe: string;
  tried: string;
  answer: string;
}

/**
 * Runs the attacker's tool (./_attack.ts) with `probes` as one ordinary job;
 * prints and returns each answer.
 */
export async function probe(stage: Stage, probes: readonly string[]): Promise<Map<string, Probe>> {
  const job = await stage.manager.start({
    command: `${KIT_DIR}/deno`,
    args: [
      "run",
      "--allow-all",
      "--no-config",
      "--no-lock",
      "--quiet",
      `${KIT_DIR}/attack.ts`,
      ...probes,
    ],
    env: { DENO_DIR: "/tmp/deno", NO_COLOR: "1", JW_ATTACK_PORT: String(stage.hostPort) },
  }, { owner: "alice" });
  const status = await job.wait();
  const out = await outputText(job);
  const results = new Map<string, Probe>();
  for (const line of out.split("\n")) {
    if (!line.startsWith("{")) continue;
    const p = JSON.parse(line) as Probe;
    results.set(p.probe, p);
    console.log(`  attack (system call): ${p.tried}\n    answer:  ${p.answer}`);
  }
  if (results.size !== probes.length) {
    throw new Error(
      `the attack tool ran ${results.size} of ${probes.length} probes ` +
        `(exit ${status.exitCode ?? status.signal}): ${out}`,
    );
  }
  return results;
}
