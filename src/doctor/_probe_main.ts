/**
 * The probe child's program when run from source (`deno run` of this
 * file); a compiled binary calls `runDoctorProbe` itself instead.
 *
 * @module
 */
import { runDoctorProbe } from "./probe.ts";

if (import.meta.main) Deno.exit(await runDoctorProbe(Deno.args));
