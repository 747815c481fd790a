/**
 * The CLI's command line: commands, flags, sizes, connection settings and
 * help texts. Pure: the environment is passed in, nothing is read or
 * connected here, so every rule is unit-tested (./args_test.ts).
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  checkLabels,
  DEFAULT_JOB_UID_RANGE,
  type JobSpec,
  type JobState,
  type LimitsInput,
  MAX_ID,
  type RunAs,
} from "../job/mod.ts";
import { CertificateError } from "../certs/errors.ts";
import { caPaths, certPathsFor, type TlsPaths } from "../certs/paths.ts";
import { parseDuration, parseSize as parseSizeText } from "../units/mod.ts";
import { EVENTS_FIRST_RETRY_MS, EVENTS_RETRIES } from "./_events.ts";
import { DEFAULT_DETACH_KEYS, parseDetachKeys } from "./_detach_keys.ts";

/** The server address used when neither `--addr` nor `JOBWORKER_ADDR` is given. */
export const DEFAULT_ADDR = "127.0.0.1:50051";
/** Where `--user NAME` looks for NAME's certificates unless `--certs-dir` says otherwise. */
export const DEFAULT_CERTS_DIR = "certs";

/** A mistake in the command line; the CLI prints it and exits with status 2. */
export class UsageError extends Error {
  /** @param message one line saying what is wrong */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Where the server is and which certificates to present. */
export interface ConnectionSettings {
  /** `host:port` of the server. */
  addr: string;
  /** CA, client certificate and key files. */
  tls: TlsPaths;
}

/** The names of the CLI's commands. */
export type CommandName =
  | "start"
  | "stop"
  | "status"
  | "list"
  | "logs"
  | "attach"
  | "signal"
  | "events"
  | "top"
  | "completion"
  | "doctor";

/**
 * How `status`, `stop` and `list` print statuses: `default` (key/value
 * lines for one job, a table for many), `wide` (a table with more
 * columns), or `json`.
 */
export type OutputKind = "default" | "wide" | "json";

/** The values `--output` takes. */
export const OUTPUT_KINDS: readonly Exclude<OutputKind, "default">[] = ["wide", "json"];

/** The job states `list --state` takes. */
export const JOB_STATES: readonly JobState[] = ["running", "exited", "stopped", "failed"];

/** What `top` sorts its jobs by (`--sort`, or a key press). */
export type TopSortKey = "cpu" | "memory" | "io" | "age" | "id";

/** The values `top --sort` takes, in the order its help lists them. */
export const TOP_SORT_KEYS: readonly TopSortKey[] = ["cpu", "memory", "io", "age", "id"];

/** The shells `completion` writes scripts for. */
export type Shell = "bash" | "zsh" | "fish";

/** The shells `completion` takes. */
export const SHELLS: readonly Shell[] = ["bash", "zsh", "fish"];

/** How `start -i` and `start -t` run the job: attached, with the CLI's stdin as its input. */
export interface InteractiveOptions {
  /** The job has a terminal (`-t`): the local one goes raw, and the detach keys work. */
  tty: boolean;
  /** The detach sequence (`--detach-keys`; empty: none). */
  detachKeys: Uint8Array;
  /** `-d`: only start it (stdin or the terminal kept open for `attach`) and print its id. */
  detached: boolean;
}

/** A parsed command line: what to do, with every flag checked and converted. */
export type Command =
  | { kind: "help"; text: string }
  | { kind: "completion"; shell: Shell }
  | {
    kind: "start";
    connection: ConnectionSettings;
    spec: JobSpec;
    /** Stream the output to the end and exit with the job's exit code. */
    follow: boolean;
    /** `-i`/`-t`: attached, stdin to the job, until it ends (implies following). */
    interactive?: InteractiveOptions;
  }
  | {
    kind: "stop";
    connection: ConnectionSettings;
    id: string;
    graceSeconds?: number;
    output: OutputKind;
  }
  | {
    kind: "status";
    connection: ConnectionSettings;
    id: string;
    output: OutputKind;
    /** Wait until the job ends and exit with its exit code. */
    wait: boolean;
  }
  | {
    kind: "list";
    connection: ConnectionSettings;
    output: OutputKind;
    /** Only jobs in these states; empty: every state. */
    states: JobState[];
    /** Only jobs of these owners; empty: every owner. */
    owners: string[];
    /** Only jobs with all of these labels (filtered by the server); absent: no filter. */
    labels?: Record<string, string>;
  }
  | {
    kind: "logs";
    connection: ConnectionSettings;
    id: string;
    follow: boolean;
    /** First byte to consider. */
    offset: number;
    /** Only the last this many lines (from `offset` on), or null for all. */
    tail: number | null;
  }
  | {
    kind: "attach";
    connection: ConnectionSettings;
    id: string;
    /** The detach sequence (`--detach-keys`; empty: none); used when the job has a terminal. */
    detachKeys: Uint8Array;
    /** Send the CLI's stdin to the job (false: `--no-stdin`, only watch). */
    stdin: boolean;
  }
  | {
    kind: "signal";
    connection: ConnectionSettings;
    id: string;
    /** As the user typed it (`HUP`, `sigusr1`, `10`); the server decides what it accepts. */
    signal: string;
    /** To every process of the job, not only its main process. */
    all: boolean;
  }
  | {
    kind: "events";
    connection: ConnectionSettings;
    /** Only events of jobs with all of these labels. */
    labels: Record<string, string>;
    /** Replay the retained events after this sequence number first; null: from now on. */
    since: number | null;
    /** One JSON object a line instead of text. */
    json: boolean;
  }
  | {
    kind: "top";
    connection: ConnectionSettings;
    /** One snapshot on stdout, no terminal control. */
    once: boolean;
    /** Only jobs with all of these labels. */
    labels: Record<string, string>;
    /** The first sort order (keys change it while it runs). */
    sort: TopSortKey;
  }
  | {
    /** Checks this host (see src/doctor/); asks no server. */
    kind: "doctor";
    /** The server's data directory to check. */
    dataDir: string;
    /** The server's job uid range to check. */
    jobUidRange: { first: number; last: number };
    /** Print the report as JSON. */
    json: boolean;
  };

/** The environment as the parser sees it: a lookup, so tests need no real environment. */
export type EnvLookup = (name: string) => string | undefined;

const CONNECTION_HELP =
  `Connection options (any command, before or after it; flags win over the environment):
  --addr HOST:PORT   server address [$JOBWORKER_ADDR] (default ${DEFAULT_ADDR})
  --user NAME        present the certificates made for NAME in the certs dir [$JOBWORKER_USER]
  --certs-dir DIR    where --user looks: DIR/ca.pem, DIR/NAME.pem, DIR/NAME-key.pem
                     (default ./${DEFAULT_CERTS_DIR})
  --ca FILE          CA certificate the server's must chain to [$JOBWORKER_CA]
                     (default DIR/ca.pem)
  --cert FILE        client certificate [$JOBWORKER_CERT]
  --key FILE         client private key [$JOBWORKER_KEY]
  -h, --help         this help`;

const WAIT_EXIT_HELP = `Exit status of "start -f" and "status -w" (as of "docker run" and
"systemd-run --wait"):
  N        the job exited with code N (0 to 255)
  128+S    a signal S ended the job (137 for SIGKILL, also when out of memory;
           143 for SIGTERM)
  143      the job was stopped and exited by itself after the stop's SIGTERM
  126      the job failed (the server could not run it; see its error)
  125      jobworker itself failed: the server refused, could not be reached,
           or the stream broke (one line on stderr says why)
  2        usage error (nothing was started or asked)
A job can exit with 2, 125 or 126 itself: stderr tells them apart, and so does
"jobworker status ID --output json".`;

const INTERACTIVE_EXIT_HELP =
  `"start -i", "start -t" and "attach" exit with the job's exit status as
above when the job ends, and otherwise:
  0        detached with the detach keys: the job runs on
  128+S    signal S came to jobworker (130 SIGINT, 143 SIGTERM, 129 SIGHUP):
           it left the job running ("start -i" without -t: after stopping it)
  141      stdout was closed ("start -i" without -t stops the job first)
  2        usage error, or -t (or "attach" to a job with a terminal) without
           a terminal on stdin
  125      "start -i"/"start -t": jobworker itself failed, or another client
           attached to the job (the job runs on)
  1        "attach": the server refused (not an interactive job, not yours),
           could not be reached, or another client attached`;

const COLOR_HELP = `Colour: the STATE column (and the State line) is coloured only when stdout is a
terminal, NO_COLOR is unset or empty, and TERM is not "dumb".`;

const TOP_HELP = `Usage: jobworker [connection options] COMMAND [options]
       (from the repository: deno task cli COMMAND [options])

Starts, stops and watches jobs on a jobworker server over mutual TLS.

Commands:
  start [options] -- CMD [ARG...]   start a job; prints only its id
  start -f [options] -- CMD [ARG...]
                                    start a job, print its output as it runs, and
                                    exit with its exit code
  start -i [-t] [-d] [options] -- CMD [ARG...]
                                    start a job with stdin (and -t a terminal):
                                    type to it, or pipe to it; like "docker run -it";
                                    -d: print its id, attach later
  stop ID [--grace SECONDS]         stop a job; prints its final status
  status ID [-w]                    a job's status; -w waits until it ends
  list [--state S] [--owner NAME] [--label K=V]
                                    your jobs (every job for an admin)
  logs ID [-f] [--tail N] [--since OFFSET]
                                    a job's output, byte for byte
  attach ID [--no-stdin]            attach to a job started with -i or -t
  signal ID SIGNAL [--all]          send a signal (HUP, USR1, ...) to a job
  events [--label K=V] [--since SEQ] [--json]
                                    job events (started, exited, ...) as they
                                    happen, until interrupted
  top [--once] [--label K=V]        a live table of your running jobs: CPU,
                                    memory, IO, tasks; --once prints one
  completion bash|zsh|fish          a shell completion script
  doctor [--data-dir DIR] [--job-uid-range FIRST-LAST] [--json]
                                    check whether this host can isolate and
                                    limit jobs (run it on the server's host)

${CONNECTION_HELP}

Run "jobworker COMMAND --help" for a command's own options.
Exit status: 0 success; 1 failure (the server refused, or could not be reached);
2 usage error. "start -f", "start -i", "attach" and "status -w" exit with the
job's own exit code instead (see their --help).
`;

const LABEL_HELP = `A label is KEY=VALUE as in Kubernetes: KEY is a name of 1 to 63 letters, digits,
"-", "_" or ".", starting and ending with a letter or digit, optionally after a
DNS prefix and "/" (example.com/tier); VALUE is empty or such a name.`;

/** The data directory `doctor` checks when `--data-dir` is not given: the server's default. */
export const DEFAULT_DATA_DIR = "data";

const DOCTOR_HELP = `Usage: jobworker doctor [--data-dir DIR] [--job-uid-range FIRST-LAST] [--json]

Checks whether jobworker's isolation and limits really work on THIS host, and
prints a report: cgroups (version, delegation, CPU, memory, IO, pids, devices),
namespaces, the kernel features the sandbox needs (mount_setattr, pivot_root,
seccomp, pidfd, devpts, hidepid), root and its capabilities, the job uid range,
and the data directory; then the sandbox's protections and an exposure score
from 0.0 (best) to 10.0, as "systemd-analyze security" rates a unit.
Run it on the server's host, as root; other users get the checks that need root
skipped, with the reason. No server is asked.

Options:
  --data-dir DIR              the server's --data-dir (default ./${DEFAULT_DATA_DIR})
  --job-uid-range FIRST-LAST  the server's --job-uid-range (default ${DEFAULT_JOB_UID_RANGE.first}-${DEFAULT_JOB_UID_RANGE.last})
  --json                      the report as JSON
  -h, --help                  this help

Exit status: 0 nothing jobworker requires is missing (warnings allowed);
1 a requirement is missing (a check failed); 2 usage error.

Colour: statuses are coloured only when stdout is a terminal, NO_COLOR is unset
or empty, and TERM is not "dumb".
`;

const COMMAND_HELP: Record<CommandName, string> = {
  start: `Usage: jobworker start [options] [--] CMD [ARG...]

Starts CMD (an absolute path, or a name looked up in the job's PATH) and prints
only the new job's id, so that  id=$(jobworker start -- sleep 60)  works.
Options end at "--" or at CMD: everything from there on is the job's command line.

With -f (--follow) it runs the job like a local command instead: stdout gets
nothing but the job's output (stdout and stderr as written), live, from the
first byte until the job ends; the id goes to stderr; the exit status is the
job's (below). Ctrl-C (or SIGTERM, SIGHUP) stops the job: SIGTERM, then SIGKILL
after the server's grace period, while its last output is still shown; a second
Ctrl-C stops waiting and leaves the job to end on its own (exit 130). A closed
stdout (as in "| head") stops the job too (exit 141, as for SIGPIPE). To watch a
job without tying it to the terminal, start it without -f and use "logs -f ID":
Ctrl-C there only stops watching.

With -i (--interactive) the job's stdin stays open and the CLI's own stdin goes
to it, as read, until its end-of-file, which the job then reads; the output is
shown from the first byte until the job ends, and the exit status is the job's,
as with -f (Ctrl-C stops the job as with -f, too):
  echo 'print(6*7)' | jobworker start -i -- python3
With -t (--tty; usually -it) the job gets a terminal of its own, of the local
terminal's size, and stdin must be a terminal (otherwise exit 2, as "docker run
-t" says: the input device is not a TTY). The local terminal goes into raw mode:
every key goes to the job, Ctrl-C and Ctrl-Z too; a resize is passed on; the
detach keys (default Ctrl-P Ctrl-Q) leave the job running and exit 0 ("jobworker
attach ID" goes back to it); so do SIGINT, SIGTERM and SIGHUP sent to jobworker
(exit 128 + the signal). The terminal is given back as it was on every way out.
A key that begins the detach sequence is held back until the next one, and
sent to the job with it unless they complete the sequence. A terminal job's
output is one stream, as its terminal wrote it (stdout and stderr together,
with CR LF, and the echo of what was typed): "logs" shows it byte for byte.

Options:
  -f, --follow         print the job's output until it ends; exit with its code
  -i, --interactive    send stdin to the job until its end-of-file; show the
                       output until the job ends; exit with its code
  -t, --tty            give the job a terminal, attached to this one (raw mode);
                       implies -i; stdin must be a terminal
  -d, --detach         with -i or -t: only start the job, its stdin (or terminal)
                       kept open, and print its id, for "jobworker attach ID"
                       later (the terminal is 24x80, or this one's size)
  --detach-keys KEYS   with -t, the keys that detach, leaving the job running:
                       comma-separated, each a character or ctrl- and a letter
                       or one of @ [ \\ ] ^ _ (as docker's); default ${DEFAULT_DETACH_KEYS};
                       "" turns detaching by keys off
  --cpu N              CPU cores, fractional (0.5 = half a core); default 1
  --memory SIZE        memory limit; default 512M
  --io-read-bps SIZE   disk read bandwidth per second, per disk; default unlimited
  --io-write-bps SIZE  disk write bandwidth per second, per disk; default unlimited
  --pids N             most processes and threads; default 1024
  --env NAME=VALUE     environment variable for the job; repeatable
  --cwd DIR            absolute working directory in the job's view; default /work,
                       the job's own writable directory
  --run-as UID[:GID]   run as these ids instead of a fresh user of the job's own
                       (only where the server allows it); GID defaults to UID
  --max-output SIZE    keep at most this much output (the rest is discarded, and
                       the status says so); default and most: the server's --max-output
  --timeout DURATION   stop the job (as "stop" does) this long after its start;
                       its status then says it timed out. Default: the server's
                       --default-timeout (none unless set); at most its
                       --max-timeout
  --label KEY=VALUE    a label, shown by "status", selected by "list --label",
                       "events --label" and "top --label"; repeatable

SIZE is bytes, or a number with a binary suffix: K, M, G, T (1024-based), optionally
followed by "i" and/or "B": 512K, 64M, 1.5G, 64Mi, 2GiB.
DURATION is a number with a unit, ms, s, m, h or d, or several from the largest
down: 90s, 10m, 2h, 1h30m; a bare number is seconds.
${LABEL_HELP}

${WAIT_EXIT_HELP}

${INTERACTIVE_EXIT_HELP}

${CONNECTION_HELP}
`,
  stop: `Usage: jobworker stop ID [--grace SECONDS] [--output wide|json]

Sends SIGTERM to every process of the job, SIGKILL after the grace period, and
prints the job's final status once it has ended. Stopping an ended job prints its
status.

Options:
  --grace SECONDS      time between SIGTERM and SIGKILL, may be fractional;
                       default 10
  -o, --output FORMAT  wide: one table row with the columns of "list --output wide";
                       json: the status as JSON (see "status --help")
  --json               the same as --output json

${CONNECTION_HELP}
`,
  status: `Usage: jobworker status ID [-w] [--output wide|json]

Prints a job's status: state, exit code or signal, limits, resource usage; its
labels and its deadline when it has them ("Timeout:"), and "(timed out)" after
the state of a job its deadline stopped.

With -w (--wait) it first waits until the job has ended (at once if it has),
then prints the final status and exits with the job's exit status (below), so
that  jobworker status -w ID && deploy  runs deploy only after a job that
exited with 0. Ctrl-C stops waiting; the job runs on.

Options:
  -w, --wait           wait until the job ends; exit with its exit status
  -o, --output FORMAT  wide: one table row with the columns of "list --output wide";
                       json: id, owner, uid, gid, command, args, state, exitCode,
                       signal, oomKilled, startedAt, endedAt (ISO 8601 or null),
                       limits (cpu, memoryBytes, ioReadBps, ioWriteBps, pids;
                       null = unlimited), usage, output, error, timeoutMs
                       (null: no deadline), timedOut, labels
  --json               the same as --output json

${WAIT_EXIT_HELP}

${COLOR_HELP}

${CONNECTION_HELP}
`,
  list: `Usage: jobworker list [--state STATE]... [--owner NAME]...
                     [--label KEY=VALUE]... [--output wide|json]

Lists your jobs (every job for an admin), oldest first: ID, OWNER, STATE, EXIT
(exit code or signal), STARTED (UTC), COMMAND (shortened).

Options:
  --state STATE        only jobs in this state: ${JOB_STATES.join(", ")};
                       repeatable, or comma-separated (--state exited,failed)
  --owner NAME         only jobs of this owner (the client certificate's name);
                       repeatable; only admins see other owners' jobs
  --label KEY=VALUE    only jobs with this label (chosen by the server);
                       repeatable: jobs with all of them
  -o, --output FORMAT  wide: also ENDED, DURATION, CPU (time used), MEMORY (peak),
                       OUTPUT (bytes stored), LABELS (when a job listed has any)
                       and the whole COMMAND;
                       json: a JSON array of statuses (fields as in "status --help")
  --json               the same as --output json

${COLOR_HELP}

${CONNECTION_HELP}
`,
  logs: `Usage: jobworker logs ID [-f] [--tail N] [--since OFFSET]

Writes the job's output (its stdout and stderr, interleaved as written) to stdout,
byte for byte.

Without -f it prints the output written so far and exits, also while the job
runs. With -f it goes on printing as the job writes, until the job ends; Ctrl-C
stops watching (the job runs on).

Options:
  -f, --follow      keep printing as the job writes, until it ends
  --tail N          only the last N lines (like "tail -n N"; a last line without
                    a newline counts); with -f, the last N lines so far, then
                    everything that follows. Reads the output from its end, so it
                    is quick for big outputs too
  --since OFFSET    start at byte OFFSET of the output (bytes; SIZE suffixes
                    allowed: 4096, 64K, 10M); default 0. With --tail: the last N
                    lines from OFFSET on. Times ("10m", "2024-05-01T12:00:00Z")
                    are refused: the server does not record when output was
                    written, so no byte can be found by its time
  --offset OFFSET   the same as --since

${CONNECTION_HELP}
`,
  attach: `Usage: jobworker attach ID [--detach-keys KEYS] [--no-stdin]

Attaches to a job started with -i or -t (start --help): from now on its output
goes to stdout as it comes (earlier output: "jobworker logs ID"), and stdin goes
to the job, until the job ends; the exit status is then the job's.

A job with a terminal (-t) needs a terminal here too (otherwise exit 2, unless
--no-stdin): it goes into raw mode, so every key goes to the job, Ctrl-C too; its
size is sent to the job's terminal at once (a full-screen program redraws when
that changes its size; Ctrl-L redraws most otherwise) and whenever it changes;
the detach keys (default Ctrl-P Ctrl-Q) leave the job running (exit 0). The
terminal is given back as it was on every way out. Without a terminal job, stdin
is piped: its end-of-file is the job's (--no-stdin to only watch).

One client writes at a time: attaching takes over from the one attached before,
which is told so and exits (1; "start -i" 125), the job running on. SIGINT,
SIGTERM and SIGHUP leave the job running (exit 128 + the signal).

Options:
  --detach-keys KEYS   the keys that detach from a job with a terminal:
                       comma-separated, each a character or ctrl- and a letter
                       or one of @ [ \\ ] ^ _ (as docker's); default ${DEFAULT_DETACH_KEYS};
                       "" turns detaching by keys off
  --no-stdin           only watch the output (as "logs -f" from now): nothing is
                       sent, no raw mode, and whoever types to the job goes on;
                       Ctrl-C leaves

${WAIT_EXIT_HELP}

${INTERACTIVE_EXIT_HELP}

${CONNECTION_HELP}
`,
  signal: `Usage: jobworker signal ID SIGNAL [--all]

Sends SIGNAL to the job's main process, or with --all to every process of the
job, and prints nothing (as kill(1)). SIGNAL is a name with or without "SIG", in
any case, or its number: HUP, sigusr1, 10. The server accepts those a program
expects from another process: HUP INT QUIT ABRT KILL USR1 USR2 ALRM TERM CONT
STOP TSTP TTIN TTOU WINCH; others are refused (exit 1), and so is a job that has
ended. To end a job, "stop" is the way: SIGTERM to every process, SIGKILL after
a grace period.

Options:
  --all   every process of the job, not only its main process

Exit status: 0 sent; 1 the server refused (a signal it does not accept, a job
that has ended or is not yours) or could not be reached; 2 usage error.

${CONNECTION_HELP}
`,
  events: `Usage: jobworker events [--label KEY=VALUE]... [--since SEQ] [--json]

Prints job events as they happen, one line each, until interrupted: your jobs'
(every job's for an admin), with --label only of jobs with all of those labels.
A line is
  SEQ TIME TYPE ID [exit CODE | signal NAME | error "WHY"] [LABELS]
with TYPE one of started, exited, oom-killed, stopped, timed-out, failed; TIME
in UTC; LABELS as KEY=VALUE,KEY=VALUE. SEQ numbers the server's events: 1, 2, 3,
and so on.

With --since SEQ, the events after SEQ that the server still holds come first
(--since 0: all of them), then new ones: run it again with the last SEQ you saw
and nothing is missed or repeated. The server keeps the newest 10000 events; an
older SEQ is refused (exit 1).

A lost connection is resumed the same way, after the last event seen (before
the first event, after the newest one the server had when the watch began, so
nothing is missed then either): up to ${EVENTS_RETRIES} attempts,
${
    EVENTS_FIRST_RETRY_MS / 1000
  } s apart at first, doubling; then it gives up (exit 1) and says which SEQ
to resume after.

Options:
  --label KEY=VALUE    only events of jobs with this label; repeatable (jobs
                       with all of them)
  --since SEQ          replay the retained events after SEQ first (0: all)
  --json               one JSON object a line: seq, time (ISO 8601), id, owner,
                       type, exitCode, signal, error, labels
  -o, --output json    the same as --json

Exit status: 0 interrupted (Ctrl-C, SIGTERM, SIGHUP): the only way it ends
well; 1 the server refused, could not be reached, or was lost for good;
2 usage error.

${LABEL_HELP}

${CONNECTION_HELP}
`,
  top: `Usage: jobworker top [--once] [--label KEY=VALUE]... [--sort KEY]

A full-screen table of your running jobs (every job's for an admin), refreshed
every second: CPU % (100 = one core busy, from the job's CPU time between two
refreshes), MEM (now), MEM% (of the job's memory limit), PEAK, LIMIT, READ/s and
WRITE/s (disk bytes per second between two refreshes), TASKS, AGE and COMMAND.
Columns that do not fit the terminal's width are left out, the least needed
first; the COMMAND is shortened.

Keys: c sort by CPU, m by memory, i by IO (read + write), a by age (oldest
first), n by id; q (or Ctrl-C) quits and gives the terminal back as it was.

It needs a terminal (stdin and stdout); for scripts, --once prints one snapshot
without any terminal control: it asks the server twice, one second apart, so
that CPU % and the IO rates are measured as on the screen.

Options:
  --once             print one snapshot and exit
  --label KEY=VALUE  only jobs with this label; repeatable (all of them)
  --sort KEY         the first sort order: ${TOP_SORT_KEYS.join(", ")}
                     (default cpu)

Exit status: 0 quit (q, Ctrl-C, SIGTERM, SIGHUP) or snapshot printed; 1 the
server refused or could not be reached at the start (later failures are shown
on the screen and retried); 2 usage error, or no terminal without --once.

${LABEL_HELP}

${CONNECTION_HELP}
`,
  completion: `Usage: jobworker completion bash|zsh|fish

Prints a completion script for the shell: commands, options, and the values of
--state, --output, --sort and completion. Install it, for example:
  bash:  jobworker completion bash \\
           > ~/.local/share/bash-completion/completions/jobworker
         (or: source <(jobworker completion bash) in ~/.bashrc)
  zsh:   jobworker completion zsh > "\${fpath[1]}/_jobworker"   (then: compinit)
  fish:  jobworker completion fish > ~/.config/fish/completions/jobworker.fish

Options:
  -h, --help  this help

Connection options are accepted and ignored: no server is asked.
`,
  doctor: DOCTOR_HELP,
};

const CONNECTION_OPTIONS = {
  addr: { type: "string" },
  ca: { type: "string" },
  cert: { type: "string" },
  key: { type: "string" },
  user: { type: "string" },
  "certs-dir": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

const OUTPUT_OPTIONS = {
  output: { type: "string", short: "o" },
  json: { type: "boolean" },
} as const;

const DETACH_KEYS_OPTION = { "detach-keys": { type: "string" } } as const;

const COMMAND_OPTIONS = {
  start: {
    follow: { type: "boolean", short: "f" },
    interactive: { type: "boolean", short: "i" },
    tty: { type: "boolean", short: "t" },
    detach: { type: "boolean", short: "d" },
    ...DETACH_KEYS_OPTION,
    cpu: { type: "string" },
    memory: { type: "string" },
    "io-read-bps": { type: "string" },
    "io-write-bps": { type: "string" },
    pids: { type: "string" },
    env: { type: "string", multiple: true },
    cwd: { type: "string" },
    "run-as": { type: "string" },
    "max-output": { type: "string" },
    timeout: { type: "string" },
    label: { type: "string", multiple: true },
  },
  stop: { grace: { type: "string" }, ...OUTPUT_OPTIONS },
  status: { wait: { type: "boolean", short: "w" }, ...OUTPUT_OPTIONS },
  list: {
    state: { type: "string", multiple: true },
    owner: { type: "string", multiple: true },
    label: { type: "string", multiple: true },
    ...OUTPUT_OPTIONS,
  },
  logs: {
    follow: { type: "boolean", short: "f" },
    tail: { type: "string" },
    since: { type: "string" },
    offset: { type: "string" },
  },
  attach: { ...DETACH_KEYS_OPTION, "no-stdin": { type: "boolean" } },
  signal: { all: { type: "boolean" } },
  events: {
    label: { type: "string", multiple: true },
    since: { type: "string" },
    ...OUTPUT_OPTIONS,
  },
  top: {
    once: { type: "boolean" },
    label: { type: "string", multiple: true },
    sort: { type: "string" },
  },
  completion: {},
  // Not a client command (it checks this host), but it takes the connection options and
  // ignores them, as completion does.
  doctor: {
    "data-dir": { type: "string" },
    "job-uid-range": { type: "string" },
    json: { type: "boolean" },
  },
} as const;

const ALL_OPTIONS: Record<string, OptionSpec> = Object.assign(
  {},
  CONNECTION_OPTIONS,
  ...Object.values(COMMAND_OPTIONS),
);

/** An option as `node:util` parseArgs takes it. */
export type OptionSpec = { type: "string" | "boolean"; short?: string; multiple?: boolean };
/** Flag values as parsed, by long option name. */
export type FlagValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** The help text of `command`, or the top-level help for `undefined`. */
export function helpText(command?: CommandName): string {
  return command === undefined ? TOP_HELP : COMMAND_HELP[command];
}

function isCommandName(name: string): name is CommandName {
  return Object.hasOwn(COMMAND_OPTIONS, name);
}

/**
 * A size in bytes: a plain number of bytes, or a number with a binary
 * suffix K, M, G or T (case-insensitive, 1024-based), optionally followed
 * by `i` and/or `B`: `512K`, `64M`, `1.5G`, `64Mi`, `2GiB`, `100B`. The
 * result must be a whole number of bytes. `what` names the value in errors.
 *
 * @throws {UsageError} for anything else, e.g. `--memory: "64X" is not a size (like 512K, 64M, 1G)`
 */
export function parseSize(text: string, what: string): number {
  try {
    return parseSizeText(text);
  } catch (err) {
    throw new UsageError(`${what}: ${(err as Error).message}`);
  }
}

function parseNumber(text: string, what: string, options: { integer: boolean }): number {
  // Number() alone would accept "", " ", "0x10" and "1e3"; a flag wants a plain decimal.
  const pattern = options.integer ? /^\d+$/ : /^\d+(?:\.\d+)?$|^\.\d+$/;
  const value = Number(text);
  if (!pattern.test(text.trim()) || !Number.isFinite(value)) {
    const kind = options.integer ? "a whole number" : "a number";
    throw new UsageError(`${what}: ${JSON.stringify(text)} is not ${kind}`);
  }
  if (options.integer && !Number.isSafeInteger(value)) {
    throw new UsageError(`${what}: ${JSON.stringify(text)} is too large`);
  }
  return value;
}

/** parseArgs' messages point at JavaScript usage; say the same in the CLI's words. */
function usageErrorFrom(err: unknown, command: string): UsageError {
  const e = err as { code?: unknown; message?: unknown };
  const message = typeof e?.message === "string" ? e.message : String(err);
  const option = /'(-[^' ]+)/.exec(message)?.[1] ?? "";
  switch (e?.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return new UsageError(`unknown option ${option} for "${command}" (see ${command} --help)`);
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      return new UsageError(
        message.includes("does not take")
          ? `option ${option} takes no value`
          : `option ${option} needs a value (use ${option}=VALUE for one starting with "-")`,
      );
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return new UsageError(`unexpected argument for "${command}" (see ${command} --help)`);
    default:
      return new UsageError(message.split("\n")[0]!);
  }
}

function strictParse(
  args: string[],
  options: Record<string, OptionSpec>,
  context: { command: string; positionals: boolean },
): { values: FlagValues; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({
      args,
      options,
      strict: true,
      allowPositionals: context.positionals,
    });
    return { values: values as FlagValues, positionals };
  } catch (err) {
    throw usageErrorFrom(err, context.command);
  }
}

/**
 * The tokens of a lenient parse: used only to find where things are (the
 * command name, `--help`, the job's command), never to take values, so an
 * unknown option here is reported by the strict parse that follows.
 */
function tokensOf(args: string[], options: Record<string, OptionSpec>) {
  return parseArgs({ args, options, strict: false, allowPositionals: true, tokens: true }).tokens;
}

function str(values: FlagValues, name: string): string | undefined {
  const value = values[name];
  return typeof value === "string" ? value : undefined;
}

/** `user`'s certificate files; certPathsFor() refuses names that are not plain file names. */
function userPaths(user: string, options: { dir: string; source: string }): TlsPaths {
  const { dir, source } = options;
  try {
    return certPathsFor(dir, user);
  } catch (err) {
    // Its message speaks of creating certificates; here a name was only looked up.
    if (err instanceof CertificateError) {
      throw new UsageError(`${source}: ${JSON.stringify(user)} is not a valid user name`);
    }
    throw err;
  }
}

/**
 * The connection settings from the flags, falling back to the environment
 * (`JOBWORKER_ADDR`, `JOBWORKER_CA`, `JOBWORKER_CERT`, `JOBWORKER_KEY`,
 * `JOBWORKER_USER`). For each file an explicit flag wins, then `--user`,
 * then the explicit variable, then `JOBWORKER_USER`; the CA defaults to
 * `<certs dir>/ca.pem`.
 *
 * @throws {UsageError} when no client certificate is given, or only half of one
 */
export function resolveConnection(values: FlagValues, env: EnvLookup): ConnectionSettings {
  const nonEmpty = (name: string) => {
    const value = env(name);
    return value === undefined || value === "" ? undefined : value;
  };
  const certsDir = str(values, "certs-dir") ?? DEFAULT_CERTS_DIR;
  const flagUser = str(values, "user");
  const envUser = nonEmpty("JOBWORKER_USER");
  const fromFlagUser = flagUser === undefined
    ? undefined
    : userPaths(flagUser, { dir: certsDir, source: "--user" });
  const fromEnvUser = envUser === undefined
    ? undefined
    : userPaths(envUser, { dir: certsDir, source: "JOBWORKER_USER" });
  const pick = (field: "ca" | "cert" | "key", variable: string) =>
    str(values, field) ?? fromFlagUser?.[field] ?? nonEmpty(variable) ?? fromEnvUser?.[field];

  const cert = pick("cert", "JOBWORKER_CERT");
  const key = pick("key", "JOBWORKER_KEY");
  if (cert === undefined && key === undefined) {
    throw new UsageError(
      "no client certificate: pass --user NAME or --cert/--key (or JOBWORKER_CERT/JOBWORKER_KEY)",
    );
  }
  if (cert === undefined) throw new UsageError("a private key but no certificate: add --cert");
  if (key === undefined) throw new UsageError("a certificate but no private key: add --key");
  const ca = pick("ca", "JOBWORKER_CA") ?? caPaths(certsDir).cert;
  const addr = str(values, "addr") ?? nonEmpty("JOBWORKER_ADDR") ?? DEFAULT_ADDR;
  // host:port, where host may be a bracketed IPv6 address; the port is required.
  if (!/^(?:\[[0-9a-fA-F:.]+\]|[^\s:/\[\]]+):\d{1,5}$/.test(addr)) {
    throw new UsageError(`address ${JSON.stringify(addr)} is not HOST:PORT`);
  }
  return { addr, tls: { ca, cert, key } };
}

function parseEnv(entries: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of entries) {
    const eq = entry.indexOf("=");
    if (eq <= 0) throw new UsageError(`--env: ${JSON.stringify(entry)} is not NAME=VALUE`);
    env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return env;
}

function startSpec(values: FlagValues, argv: string[]): JobSpec {
  const [command, ...args] = argv;
  if (command === undefined || command === "") {
    throw new UsageError("start needs a command: start [options] -- CMD [ARG...]");
  }
  const limits: LimitsInput = {};
  const cpu = str(values, "cpu");
  if (cpu !== undefined) limits.cpu = parseNumber(cpu, "--cpu", { integer: false });
  const memory = str(values, "memory");
  if (memory !== undefined) limits.memoryBytes = parseSize(memory, "--memory");
  const ioRead = str(values, "io-read-bps");
  if (ioRead !== undefined) limits.ioReadBps = parseSize(ioRead, "--io-read-bps");
  const ioWrite = str(values, "io-write-bps");
  if (ioWrite !== undefined) limits.ioWriteBps = parseSize(ioWrite, "--io-write-bps");
  const pids = str(values, "pids");
  if (pids !== undefined) limits.pids = parseNumber(pids, "--pids", { integer: true });

  const spec: JobSpec = { command, args, limits };
  const envEntries = values.env;
  if (Array.isArray(envEntries) && envEntries.length > 0) {
    spec.env = parseEnv(envEntries.map(String));
  }
  const cwd = str(values, "cwd");
  if (cwd !== undefined) spec.cwd = cwd;
  const runAs = str(values, "run-as");
  if (runAs !== undefined) spec.runAs = parseRunAs(runAs);
  const maxOutput = str(values, "max-output");
  if (maxOutput !== undefined) spec.maxOutputBytes = parseSize(maxOutput, "--max-output");
  const timeout = str(values, "timeout");
  if (timeout !== undefined) spec.timeoutMs = parseTimeout(timeout);
  const labels = parseLabels(all(values, "label"));
  if (Object.keys(labels).length > 0) spec.labels = labels;
  return spec;
}

/** `--timeout`: a duration (see parseDuration in src/units), more than 0. */
function parseTimeout(text: string): number {
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch (err) {
    throw new UsageError(`--timeout: ${(err as Error).message}`);
  }
  if (ms <= 0) throw new UsageError(`--timeout: ${JSON.stringify(text)} is not more than 0`);
  return ms;
}

/**
 * `--label KEY=VALUE` values as one set of labels, checked as the server
 * checks them (src/job/labels.ts), so that a mistake is a usage error and
 * nothing is sent. A key given twice must have the same value.
 */
export function parseLabels(texts: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const text of texts) {
    const eq = text.indexOf("=");
    if (eq <= 0) throw new UsageError(`--label: ${JSON.stringify(text)} is not KEY=VALUE`);
    const key = text.slice(0, eq);
    const value = text.slice(eq + 1);
    if (Object.hasOwn(labels, key) && labels[key] !== value) {
      throw new UsageError(
        `--label: ${JSON.stringify(key)} is given twice, with different values`,
      );
    }
    labels[key] = value;
  }
  try {
    return checkLabels(labels);
  } catch (err) {
    throw new UsageError(`--label: ${(err as Error).message}`);
  }
}

/** `--detach-keys` (docker's syntax), or the default Ctrl-P Ctrl-Q. */
function detachKeys(values: FlagValues): Uint8Array {
  try {
    return parseDetachKeys(str(values, "detach-keys") ?? DEFAULT_DETACH_KEYS);
  } catch (err) {
    throw new UsageError(`--detach-keys: ${(err as Error).message}`);
  }
}

/** `UID[:GID]`, each a whole number. */
function parseRunAs(text: string): RunAs {
  const m = /^(\d+)(?::(\d+))?$/.exec(text);
  const uid = Number(m?.[1]);
  const gid = m?.[2] === undefined ? undefined : Number(m[2]);
  if (m === null || uid > MAX_ID || (gid !== undefined && gid > MAX_ID)) {
    throw new UsageError(`--run-as: ${JSON.stringify(text)} is not UID[:GID] (0 to ${MAX_ID})`);
  }
  return gid === undefined ? { uid } : { uid, gid };
}

function onlyId(name: CommandName, positionals: string[]): string {
  if (positionals.length === 0) throw new UsageError(`${name} needs a job id: ${name} ID`);
  if (positionals.length > 1) {
    throw new UsageError(`${name} takes one job id, got ${positionals.length} arguments`);
  }
  const id = positionals[0]!;
  if (id === "") throw new UsageError(`${name}: the job id is empty`);
  return id;
}

/**
 * Splits `args` (after the command name) into options and the job's
 * command line: options end at `--` or at the first argument that is not
 * an option, so `start sleep 60` and `start --cpu 1 -- sh -c 'x'` both work.
 */
function splitStartArgs(
  args: string[],
  options: Record<string, OptionSpec>,
): { optionArgs: string[]; argv: string[] } {
  for (const token of tokensOf(args, options)) {
    if (token.kind === "option-terminator") {
      return { optionArgs: args.slice(0, token.index), argv: args.slice(token.index + 1) };
    }
    if (token.kind === "positional") {
      return { optionArgs: args.slice(0, token.index), argv: args.slice(token.index) };
    }
  }
  return { optionArgs: args, argv: [] };
}

function asksForHelp(args: string[], options: Record<string, OptionSpec>): boolean {
  for (const token of tokensOf(args, options)) {
    if (token.kind === "option-terminator") return false;
    if (token.kind === "option" && token.name === "help") return true;
  }
  return false;
}

/** `--output`/`--json` as one {@link OutputKind}; `--json` is kept as `--output json`. */
function outputKind(values: FlagValues): OutputKind {
  const output = str(values, "output");
  if (output === undefined) return values.json === true ? "json" : "default";
  if (!(OUTPUT_KINDS as readonly string[]).includes(output)) {
    throw new UsageError(
      `--output: ${JSON.stringify(output)} is not an output format (${OUTPUT_KINDS.join(" or ")})`,
    );
  }
  if (values.json === true && output !== "json") {
    throw new UsageError(`--json and --output ${output} contradict each other: give one`);
  }
  return output as OutputKind;
}

/** Every string a repeatable option got. */
function all(values: FlagValues, name: string): string[] {
  const value = values[name];
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
}

/** `--state` values, repeatable and comma-separated, without duplicates. */
function parseStates(texts: string[]): JobState[] {
  const states = new Set<JobState>();
  for (const text of texts) {
    for (const word of text.split(",")) {
      const state = word.trim();
      if (!(JOB_STATES as readonly string[]).includes(state)) {
        throw new UsageError(
          `--state: ${JSON.stringify(state)} is not a job state (${JOB_STATES.join(", ")})`,
        );
      }
      states.add(state as JobState);
    }
  }
  return [...states];
}

function parseOwners(texts: string[]): string[] {
  for (const owner of texts) {
    if (owner === "") throw new UsageError("--owner: the name is empty");
  }
  return [...new Set(texts)];
}

/**
 * A relative time (`10m`, `1.5h`, `500ms`, in the server's duration units,
 * lower case) or an ISO 8601 date or time: what `docker logs --since` takes,
 * and what `--since` must refuse here rather than misread (`10m` would
 * otherwise be 10 MiB).
 */
function looksLikeTime(text: string): boolean {
  return /^[+-]?(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/.test(text) ||
    /^\d{4}-\d{2}-\d{2}(?:[T ].*)?$/.test(text) ||
    /^\d{1,2}:\d{2}(?::\d{2})?/.test(text);
}

/** `--since`/`--offset`: a byte offset; a time is refused, saying why. */
function parseStartOffset(values: FlagValues): number {
  const since = str(values, "since");
  const offset = str(values, "offset");
  if (since !== undefined && offset !== undefined) {
    throw new UsageError("--since and --offset are the same option: give one");
  }
  if (since !== undefined && looksLikeTime(since)) {
    throw new UsageError(
      `--since: ${JSON.stringify(since)} is a time, but the server does not record when ` +
        `output was written; give a byte offset (like 4096 or 64K; 10M is 10 MiB)`,
    );
  }
  if (since !== undefined) return parseSize(since, "--since");
  return offset === undefined ? 0 : parseSize(offset, "--offset");
}

function parseShell(name: CommandName, positionals: string[]): Shell {
  if (positionals.length !== 1) {
    throw new UsageError(
      `completion takes one shell (${SHELLS.join(", ")}), got ${positionals.length} arguments`,
    );
  }
  const shell = positionals[0]!;
  if (!(SHELLS as readonly string[]).includes(shell)) {
    throw new UsageError(
      `${name}: ${JSON.stringify(shell)} is not a supported shell (${SHELLS.join(", ")})`,
    );
  }
  return shell as Shell;
}

/**
 * The options `command` takes, its own and the connection options, by long
 * name as the parser knows them (for completion scripts). `completion`
 * takes the connection options too, and ignores them, so that an alias
 * with `--addr` still works for it.
 */
export function optionsOf(command: CommandName): Readonly<Record<string, OptionSpec>> {
  return { ...CONNECTION_OPTIONS, ...COMMAND_OPTIONS[command] };
}

/** The names of every command, in the order the help lists them. */
export const COMMAND_NAMES: readonly CommandName[] = Object.keys(COMMAND_OPTIONS) as CommandName[];

/**
 * Parses the CLI's arguments (without the program name). Connection
 * options may come before or after the command name. `--help`/`-h`
 * anywhere before `--` asks for help, even when the rest is wrong.
 *
 * @example
 * ```ts
 * parseCommandLine(["start", "--memory", "64M", "--", "sleep", "60"], (n) => Deno.env.get(n));
 * // { kind: "start", connection: {...}, spec: { command: "sleep", args: ["60"], limits: { memoryBytes: 67108864 } }, follow: false }
 * ```
 * @throws {UsageError} for anything wrong with the command line
 */
export function parseCommandLine(args: string[], env: EnvLookup): Command {
  // `deno task cli -- list` hands the "--" on; it separates nothing here.
  const argv = args[0] === "--" ? args.slice(1) : args;
  // Every command's options are known here so that option values before the
  // command name (`--cpu 1 start ...`) are not taken for the name.
  const nameToken = tokensOf(argv, ALL_OPTIONS).find((t) =>
    t.kind === "positional" || t.kind === "option-terminator"
  );
  if (nameToken?.kind !== "positional") {
    if (asksForHelp(argv, CONNECTION_OPTIONS)) return { kind: "help", text: helpText() };
    throw new UsageError(
      `missing command: ${COMMAND_NAMES.slice(0, -1).join(", ")} or ${
        COMMAND_NAMES.at(-1)
      } (see --help)`,
    );
  }
  const name = nameToken.value;
  if (!isCommandName(name)) {
    throw new UsageError(`unknown command ${JSON.stringify(name)} (see --help)`);
  }
  const rest = [...argv.slice(0, nameToken.index), ...argv.slice(nameToken.index + 1)];
  if (name === "doctor") return parseDoctor(rest);
  const options: Record<string, OptionSpec> = { ...optionsOf(name) };

  if (name === "start") {
    const { optionArgs, argv: jobArgv } = splitStartArgs(rest, options);
    if (asksForHelp(optionArgs, options)) return { kind: "help", text: helpText(name) };
    const { values } = strictParse(optionArgs, options, { command: name, positionals: false });
    const spec = startSpec(values, jobArgv);
    const tty = values.tty === true;
    const interactive = tty || values.interactive === true;
    const detached = values.detach === true;
    if (str(values, "detach-keys") !== undefined && !tty) {
      throw new UsageError("--detach-keys needs -t: without a terminal, all input goes to the job");
    }
    if (detached && !interactive) {
      throw new UsageError("-d needs -i or -t: without them, start does not attach anyway");
    }
    if (detached && values.follow === true) {
      throw new UsageError("-d and -f contradict each other: give one");
    }
    const command: Command = {
      kind: "start",
      connection: resolveConnection(values, env),
      spec,
      follow: values.follow === true,
    };
    // -t implies -i, as a terminal implies stdin for the job.
    if (tty) spec.tty = true;
    else if (values.interactive === true) spec.stdin = true;
    if (interactive) command.interactive = { tty, detachKeys: detachKeys(values), detached };
    return command;
  }

  if (asksForHelp(rest, options)) return { kind: "help", text: helpText(name) };
  const { values, positionals } = strictParse(rest, options, { command: name, positionals: true });
  switch (name) {
    case "completion":
      return { kind: "completion", shell: parseShell(name, positionals) };
    case "list": {
      if (positionals.length > 0) {
        throw new UsageError(`list takes no arguments, got ${JSON.stringify(positionals[0])}`);
      }
      const output = outputKind(values);
      const states = parseStates(all(values, "state"));
      const owners = parseOwners(all(values, "owner"));
      const labels = parseLabels(all(values, "label"));
      const command: Command = {
        kind: "list",
        connection: resolveConnection(values, env),
        output,
        states,
        owners,
      };
      if (Object.keys(labels).length > 0) command.labels = labels;
      return command;
    }
    case "signal": {
      if (positionals.length !== 2) {
        throw new UsageError(
          `signal takes a job id and a signal: signal ID SIGNAL, got ${positionals.length} ` +
            `argument${positionals.length === 1 ? "" : "s"}`,
        );
      }
      const [id, signal] = positionals as [string, string];
      if (id === "") throw new UsageError("signal: the job id is empty");
      if (signal.trim() === "") throw new UsageError("signal: the signal is empty");
      return {
        kind: "signal",
        connection: resolveConnection(values, env),
        id,
        signal,
        all: values.all === true,
      };
    }
    case "events": {
      if (positionals.length > 0) {
        throw new UsageError(`events takes no arguments, got ${JSON.stringify(positionals[0])}`);
      }
      const output = outputKind(values);
      if (output === "wide") throw new UsageError("events: --output takes only json");
      const labels = parseLabels(all(values, "label"));
      const since = str(values, "since");
      return {
        kind: "events",
        connection: resolveConnection(values, env),
        labels,
        since: since === undefined ? null : parseNumber(since, "--since", { integer: true }),
        json: output === "json",
      };
    }
    case "top": {
      if (positionals.length > 0) {
        throw new UsageError(`top takes no arguments, got ${JSON.stringify(positionals[0])}`);
      }
      const labels = parseLabels(all(values, "label"));
      const sort = str(values, "sort") ?? "cpu";
      if (!(TOP_SORT_KEYS as readonly string[]).includes(sort)) {
        throw new UsageError(
          `--sort: ${JSON.stringify(sort)} is not a sort key (${TOP_SORT_KEYS.join(", ")})`,
        );
      }
      return {
        kind: "top",
        connection: resolveConnection(values, env),
        once: values.once === true,
        labels,
        sort: sort as TopSortKey,
      };
    }
    case "status": {
      const id = onlyId(name, positionals);
      const output = outputKind(values);
      return {
        kind: "status",
        connection: resolveConnection(values, env),
        id,
        output,
        wait: values.wait === true,
      };
    }
    case "stop": {
      const id = onlyId(name, positionals);
      const grace = str(values, "grace");
      const output = outputKind(values);
      const command: Command = {
        kind: "stop",
        connection: resolveConnection(values, env),
        id,
        output,
      };
      if (grace !== undefined) {
        command.graceSeconds = parseNumber(grace, "--grace", { integer: false });
      }
      return command;
    }
    case "attach": {
      const id = onlyId(name, positionals);
      return {
        kind: "attach",
        connection: resolveConnection(values, env),
        id,
        detachKeys: detachKeys(values),
        stdin: values["no-stdin"] !== true,
      };
    }
    case "logs": {
      const id = onlyId(name, positionals);
      const offset = parseStartOffset(values);
      const tailText = str(values, "tail");
      const tail = tailText === undefined
        ? null
        : parseNumber(tailText, "--tail", { integer: true });
      return {
        kind: "logs",
        connection: resolveConnection(values, env),
        id,
        follow: values.follow === true,
        offset,
        tail,
      };
    }
  }
}

/** `FIRST-LAST`, both whole numbers, 0 (root) excluded. */
function parseUidRange(text: string): { first: number; last: number } {
  const m = /^(\d+)-(\d+)$/.exec(text);
  const first = Number(m?.[1]);
  const last = Number(m?.[2]);
  if (m === null || first < 1 || first > last || last > MAX_ID) {
    throw new UsageError(
      `--job-uid-range: ${JSON.stringify(text)} is not FIRST-LAST (1 to ${MAX_ID}, FIRST <= LAST)`,
    );
  }
  return { first, last };
}

/** `doctor`'s arguments (after the command name); connection options are accepted and ignored. */
function parseDoctor(args: string[]): Command {
  const options: Record<string, OptionSpec> = { ...optionsOf("doctor") };
  if (asksForHelp(args, options)) return { kind: "help", text: helpText("doctor") };
  const { values, positionals } = strictParse(args, options, {
    command: "doctor",
    positionals: true,
  });
  if (positionals.length > 0) {
    throw new UsageError(`doctor takes no arguments, got ${JSON.stringify(positionals[0])}`);
  }
  const dataDir = str(values, "data-dir") ?? DEFAULT_DATA_DIR;
  if (dataDir === "") throw new UsageError("--data-dir: the path is empty");
  const range = str(values, "job-uid-range");
  return {
    kind: "doctor",
    dataDir,
    jobUidRange: range === undefined ? { ...DEFAULT_JOB_UID_RANGE } : parseUidRange(range),
    json: values.json === true,
  };
}
