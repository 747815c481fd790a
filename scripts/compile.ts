/**
 * `deno task compile`: single binaries of the server (which also serves as
 * the executor) and the CLI, in dist/.
 *
 * `deno compile` needs "denort", the Deno runtime without the tooling, for
 * the target platform; it downloads it unless DENORT_BIN names one. Where
 * it cannot be downloaded, this says so and how to point DENORT_BIN at a
 * denort binary of the same Deno version, and exits with code 3.
 *
 * @module
 */
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));

/** Exit code when the runtime for compiled binaries is not available. */
export const NO_DENORT_EXIT_CODE = 3;

const targets = [
  { entry: "src/server/main.ts", output: "dist/jobworker-server" },
  { entry: "src/cli/main.ts", output: "dist/jobworker" },
];

function looksLikeDownloadFailure(stderr: string): boolean {
  return /denort|dns error|download|failed to lookup address|error sending request/i.test(stderr);
}

async function compile(target: { entry: string; output: string }): Promise<"ok" | "no-denort"> {
  const result = await new Deno.Command(Deno.execPath(), {
    args: [
      "compile",
      "--allow-all",
      "--include",
      "proto/",
      "--output",
      target.output,
      target.entry,
    ],
    cwd: root,
    stdout: "inherit",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(result.stderr);
  if (result.success) return "ok";
  if (looksLikeDownloadFailure(stderr) && Deno.env.get("DENORT_BIN") === undefined) {
    return "no-denort";
  }
  throw new Error(`deno compile ${target.entry} failed:\n${stderr.trim()}`);
}

if (import.meta.main) {
  for (const target of targets) {
    const result = await compile(target).catch((err: Error) => {
      console.error(`compile: ${err.message}`);
      Deno.exit(1);
    });
    if (result === "no-denort") {
      console.error(
        `compile: deno compile needs the runtime "denort" for ${Deno.build.target}, and it ` +
          `could not be downloaded from this machine.\n` +
          `Download denort-${Deno.build.target}.zip of Deno ${Deno.version.deno} where the ` +
          `network allows it, unpack it, and run:\n` +
          `  DENORT_BIN=/path/to/denort ./scripts/deno task compile`,
      );
      Deno.exit(NO_DENORT_EXIT_CODE);
    }
    console.log(`built ${target.output}`);
  }
}
