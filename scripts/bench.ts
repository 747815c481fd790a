/**
 * The benchmark: runs the sections in scripts/bench/ on this host (as
 * root) and writes their report into BENCHMARKS.md, between the markers
 * `<!-- bench:begin -->` and `<!-- bench:end -->` (the rest of the file is
 * written by hand and kept).
 *
 * Every figure stands beside a baseline measured in the same run: starts
 * beside `unshare` and `bwrap`, streaming beside `cat` and the bare TLS
 * transports, the project's client beside the C-core client of Debian's
 * python3-grpcio, executor memory beside a Deno process that only sleeps.
 *
 * ```sh
 * ./scripts/deno task bench                 # quick: the goals' sizes, a few minutes
 * ./scripts/deno task bench --full          # more repetitions, longer runs
 * ./scripts/deno task bench --only start,churn --out /tmp/b.md
 * ./scripts/deno task bench --smoke --out /tmp/b.md   # tiny sizes: proves it runs (CI)
 * ```
 *
 * Servers, jobs, cgroups and temporary directories are removed at the end,
 * also on Ctrl-C.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { hostInfo, round, runInterruptCleanups, type Summary, table } from "./bench/_common.ts";
import { benchStart } from "./bench/start.ts";
import { benchStream, haveCCore } from "./bench/stream.ts";
import { benchFanout } from "./bench/fanout.ts";
import { benchChurn } from "./bench/churn.ts";
import { benchScale } from "./bench/scale.ts";

const SECTIONS = ["start", "stream", "fanout", "churn", "scale"] as const;
type Section = typeof SECTIONS[number];
const BEGIN = "<!-- bench:begin -->";
const END = "<!-- bench:end -->";
const DEFAULT_OUT = fileURLToPath(new URL("../BENCHMARKS.md", import.meta.url));

/** The sizes of one kind of run. */
interface Sizes {
  starts: number;
  streamBytes: number;
  streamRounds: number;
  followSeconds: number;
  followers: number;
  connections: number;
  clientProcesses: number;
  fanoutSeconds: number;
  churnJobs: number;
  churnWarmup: number;
  scaleJobs: number;
}

const SIZES: Record<"quick" | "full" | "smoke", Sizes> = {
  quick: {
    starts: 100,
    streamBytes: 2 ** 30,
    streamRounds: 2,
    followSeconds: 3,
    followers: 1000,
    connections: 20,
    clientProcesses: 2,
    fanoutSeconds: 5,
    churnJobs: 1000,
    churnWarmup: 1000,
    scaleJobs: 200,
  },
  full: {
    starts: 300,
    streamBytes: 2 ** 30,
    streamRounds: 5,
    followSeconds: 10,
    followers: 1000,
    connections: 20,
    clientProcesses: 2,
    fanoutSeconds: 15,
    churnJobs: 3000,
    churnWarmup: 1000,
    scaleJobs: 200,
  },
  smoke: {
    starts: 3,
    streamBytes: 8 * 2 ** 20,
    streamRounds: 1,
    followSeconds: 1,
    followers: 10,
    connections: 2,
    clientProcesses: 1,
    fanoutSeconds: 1,
    churnJobs: 20,
    churnWarmup: 5,
    scaleJobs: 5,
  },
};

const USAGE = `Usage: ./scripts/deno task bench [--full | --smoke] [--only LIST] [--out FILE]
  --full       more repetitions and longer runs (quick by default)
  --smoke      tiny sizes, only to prove every section runs
  --only LIST  sections, comma-separated: ${SECTIONS.join(",")} (default all)
  --out FILE   where the report goes (default BENCHMARKS.md); its text between
               ${BEGIN} and ${END} is replaced`;

interface Options {
  kind: keyof typeof SIZES;
  only: Set<Section>;
  out: string;
}

function parseOptions(argv: string[]): Options | null {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      full: { type: "boolean" },
      smoke: { type: "boolean" },
      only: { type: "string" },
      out: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    allowPositionals: true,
  });
  if (values.help) return null;
  if (positionals.length > 0) throw new TypeError(`unexpected argument "${positionals[0]}"`);
  if (values.full && values.smoke) throw new TypeError("--full and --smoke exclude each other");
  const only = new Set<Section>();
  for (const name of (values.only ?? SECTIONS.join(",")).split(",")) {
    if (!(SECTIONS as readonly string[]).includes(name)) {
      throw new TypeError(`--only: unknown section "${name}" (sections: ${SECTIONS.join(", ")})`);
    }
    only.add(name as Section);
  }
  return {
    kind: values.full ? "full" : values.smoke ? "smoke" : "quick",
    only,
    out: values.out ?? DEFAULT_OUT,
  };
}

/** Replaces the text between the markers (or adds the block after the file's first paragraph). */
async function writeReport(path: string, block: string): Promise<void> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
    text = "# Benchmarks\n";
  }
  const wrapped = `${BEGIN}\n${block.trim()}\n${END}`;
  const begin = text.indexOf(BEGIN);
  const end = text.indexOf(END);
  if (begin >= 0 && end > begin) {
    text = text.slice(0, begin) + wrapped + text.slice(end + END.length);
  } else {
    const firstBreak = text.indexOf("\n## ");
    text = firstBreak < 0
      ? `${text.trimEnd()}\n\n${wrapped}\n`
      : `${text.slice(0, firstBreak).trimEnd()}\n\n${wrapped}\n${text.slice(firstBreak)}`;
  }
  await Deno.writeTextFile(path, text);
  // The tables as `deno task check` wants them (aligned columns).
  const fmt = await new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--quiet", path],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!fmt.success) throw new Error(`deno fmt ${path}: ${new TextDecoder().decode(fmt.stderr)}`);
}

type Figures = Record<string, unknown>;
const med = (s: unknown) => (s as Summary | null)?.median ?? NaN;
const p99 = (s: unknown) => (s as Summary | null)?.p99 ?? NaN;
const verdict = (ok: boolean) => (ok ? "met" : "**not met**");

/** The goals of the performance issue, each with its figure, baseline and whether it holds. */
function goals(results: Partial<Record<Section, Figures>>): string {
  const rows: (string | number)[][] = [];
  const { start, stream, fanout, churn, scale } = results;
  if (start) {
    const floor = med(start.unshare);
    const lib = med(start.library);
    const grpc = med(start.grpc);
    rows.push([
      "start → first instruction, library (median)",
      `${lib} ms`,
      `\`unshare\` ${floor} ms, \`bwrap\` ${med(start.bwrap)} ms`,
      `${round(lib / floor)}× (≤ 3×)`,
      verdict(lib <= 3 * floor),
    ]);
    rows.push([
      "start → first instruction, gRPC from the CLI's client (median)",
      `${grpc} ms`,
      `\`unshare\` ${floor} ms`,
      `${round(grpc / floor)}× (≤ 4×)`,
      verdict(grpc <= 4 * floor),
    ]);
  }
  if (scale) {
    const pss = med(scale.executorPss);
    const floor = (scale.idleDeno as { pss: number } | null)?.pss ?? NaN;
    rows.push([
      `executor PSS per running job (median of ${scale.jobs})`,
      `${pss} MiB`,
      `a sleeping Deno process ${round(floor)} MiB`,
      "≤ 15 MiB",
      verdict(pss <= 15),
    ]);
  }
  if (stream) {
    const cat = med(stream.catMbps);
    const cli = med(stream.cliMbps);
    const rss = (stream.cliRssMiB as Summary).max;
    const ccore = med(stream.ccoreMbps);
    const follow = stream.follow200 as { followerMbps: number; lagMs: number };
    rows.push([
      "CLI `logs` of a finished output into a pipe",
      `${cli} MB/s, ${rss} MiB max RSS`,
      `\`cat\` ${cat} MB/s; node:tls alone ${stream.nodeTlsMbps} MB/s`,
      "≥ 500 MB/s, ≤ 100 MB",
      verdict(cli >= 500 && rss * 1.048576 <= 100),
    ]);
    rows.push([
      "server → C-core client (python3-grpcio)",
      Number.isNaN(ccore) ? "not run" : `${ccore} MB/s`,
      `own client ${med(stream.ownMbps)} MB/s`,
      "≥ 500 MB/s",
      verdict(ccore >= 500),
    ]);
    rows.push([
      "a follower of a job writing 200 MB/s",
      `${follow.followerMbps} MB/s, done ${round(follow.lagMs)} ms after the writer`,
      "the writer's 200 MB/s",
      "keeps up",
      verdict(follow.followerMbps >= 190 && follow.lagMs <= 250),
    ]);
  }
  if (fanout && fanout.latencyMs) {
    rows.push([
      `${fanout.followers} followers, a line every 10 ms: delivery p99`,
      `${p99(fanout.latencyMs)} ms; ${fanout.complete} of ${fanout.followers} got every line`,
      `client CPU ${
        (fanout.clientCpuSeconds as number[]).join(" + ")
      } s, server ${fanout.serverCpuSeconds} s`,
      "≤ 100 ms, all",
      verdict(p99(fanout.latencyMs) <= 100 && fanout.complete === fanout.followers),
    ]);
  }
  if (churn) {
    const before = churn.before as Record<string, number>;
    const after = churn.after as Record<string, number>;
    const leaks = ["processes", "zombies", "cgroups", "mounts", "fds"]
      .filter((k) => after[k]! > before[k]!);
    const rssGrowth = after.rssMiB! / before.rssMiB! - 1;
    rows.push([
      `${churn.jobs} short jobs started and awaited`,
      `${churn.jobsPerSecond} jobs/s (slowest whole second: ${churn.slowestSecond ?? "–"})`,
      "–",
      "≥ 40 jobs/s",
      verdict(Number(churn.jobsPerSecond) >= 40),
    ]);
    rows.push([
      "left behind by the churn",
      leaks.length === 0 ? "nothing" : leaks.join(", "),
      `server RSS ${before.rssMiB} → ${after.rssMiB} MiB`,
      "nothing; RSS within 10%",
      verdict(leaks.length === 0 && rssGrowth <= 0.1),
    ]);
  }
  if (scale) {
    rows.push([
      `${scale.jobs} jobs running at once`,
      `all started in ${round(Number(scale.startAllMs) / 1000, 2)} s; Status p99 ${
        p99(scale.statusMs)
      } ms, List p99 ${p99(scale.listMs)} ms`,
      "–",
      "reported",
      "–",
    ]);
  }
  return table(["goal", "figure", "baseline (same run)", "ratio / goal", ""], rows);
}

async function main(): Promise<number> {
  let options: Options | null;
  try {
    options = parseOptions(Deno.args);
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (options === null) {
    console.log(USAGE);
    return 0;
  }
  if (Deno.uid() !== 0) {
    console.error("The bench needs root (namespaces and cgroups): run it with sudo.");
    return 1;
  }
  const onSignal = () => {
    console.error("\ninterrupted: stopping servers and jobs, removing their directories");
    runInterruptCleanups().finally(() => Deno.exit(130));
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    const sizes = SIZES[options.kind];
    const host = await hostInfo();
    const command = `./scripts/deno task bench${
      options.kind === "quick" ? "" : ` --${options.kind}`
    }${options.only.size === SECTIONS.length ? "" : ` --only ${[...options.only].join(",")}`}`;
    console.error(`jobworker bench (${options.kind}): ${JSON.stringify(host)}`);
    if (!(await haveCCore())) {
      console.error("python3-grpcio is missing: the C-core figures are skipped");
    }
    const began = Date.now();
    const markdown: string[] = [];
    const results: Partial<Record<Section, Figures>> = {};
    const section = async (
      name: Section,
      run: () => Promise<{ markdown: string; figures: Figures }>,
    ) => {
      if (!options.only.has(name)) return;
      const t0 = performance.now();
      console.error(`${name}...`);
      const out = await run();
      console.error(`${name}: ${round((performance.now() - t0) / 1000)} s`);
      markdown.push(out.markdown);
      results[name] = out.figures;
    };
    await section("start", () => benchStart({ starts: sizes.starts }));
    await section("stream", () =>
      benchStream({
        bytes: sizes.streamBytes,
        rounds: sizes.streamRounds,
        followSeconds: sizes.followSeconds,
      }));
    await section("fanout", () =>
      benchFanout({
        followers: sizes.followers,
        connections: sizes.connections,
        processes: sizes.clientProcesses,
        seconds: sizes.fanoutSeconds,
      }));
    await section("churn", () => benchChurn({ jobs: sizes.churnJobs, warmup: sizes.churnWarmup }));
    await section("scale", () => benchScale({ jobs: sizes.scaleJobs }));
    const minutes = round((Date.now() - began) / 60000, 1);
    const report = `## Performance (generated by \`${command}\`)

Run ${
      new Date(began).toISOString().slice(0, 16).replace("T", " ")
    } UTC, ${minutes} min: ${host.cpus} CPUs
(${host.cpuModel}), ${host.memGiB} GiB, kernel ${host.kernel}, cgroup ${host.cgroup}, Deno ${host.deno}.
Everything runs on this one host: server, jobs, clients and baselines share its ${host.cpus} cores.
Medians, p90 and p99 are nearest-rank over the repetitions stated in each section.

${goals(results)}
${markdown.join("\n")}`;
    await writeReport(options.out, report);
    console.log(JSON.stringify({ host, kind: options.kind, results }));
    console.error(`wrote ${options.out}`);
    return 0;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
}

Deno.exit(await main());
