/**
 * `jobworker completion bash|zsh|fish`: shell completion scripts for the
 * commands, their options, and the values that are a fixed list (job
 * states, output formats, shells) or files and directories (certificates,
 * the certs dir), and the signals `signal` takes. Job ids are not
 * completed: that would need a call to the server, with certificates, on
 * every Tab.
 *
 * The scripts are generated from the parser's own option tables
 * (`optionsOf` in ./args.ts), so a new option cannot be left out; each
 * needs a line in {@link OPTION_INFO}, which says what it is for (and may
 * say it differently for one command in {@link COMMAND_OPTION_INFO}).
 *
 * @module
 */
import { JOB_SIGNALS } from "../job/mod.ts";
import {
  COMMAND_NAMES,
  type CommandName,
  JOB_STATES,
  optionsOf,
  type OptionSpec,
  OUTPUT_KINDS,
  type Shell,
  SHELLS,
  TOP_SORT_KEYS,
} from "./args.ts";

/** What a value of an option is, for completing it. */
type ValueKind =
  | { kind: "text"; name: string }
  | { kind: "file" }
  | { kind: "dir" }
  | { kind: "words"; name: string; words: readonly string[]; commaSeparated: boolean };

interface OptionInfo {
  description: string;
  /** For options that take a value. */
  value?: ValueKind;
}

const text = (name: string): ValueKind => ({ kind: "text", name });

/** Every option of every command; descriptions are plain words (no quotes, colons or brackets). */
const OPTION_INFO: Readonly<Record<string, OptionInfo>> = {
  addr: { description: "server address", value: text("HOST:PORT") },
  user: { description: "present the certificates made for NAME", value: text("NAME") },
  "certs-dir": { description: "where --user finds certificates", value: { kind: "dir" } },
  ca: { description: "CA certificate", value: { kind: "file" } },
  cert: { description: "client certificate", value: { kind: "file" } },
  key: { description: "client private key", value: { kind: "file" } },
  help: { description: "show help" },
  follow: { description: "follow the output until the job ends" },
  interactive: { description: "send stdin to the job, show its output until it ends" },
  tty: { description: "give the job a terminal attached to this one, implies -i" },
  detach: { description: "with -i or -t, print the id and attach later" },
  "detach-keys": {
    description: "keys that detach leaving the job running, like ctrl-p,ctrl-q",
    value: text("KEYS"),
  },
  "no-stdin": { description: "send no input, only watch the output" },
  cpu: { description: "CPU cores, fractional", value: text("N") },
  memory: { description: "memory limit, like 512M", value: text("SIZE") },
  "io-read-bps": { description: "disk read bandwidth per second", value: text("SIZE") },
  "io-write-bps": { description: "disk write bandwidth per second", value: text("SIZE") },
  pids: { description: "most processes and threads", value: text("N") },
  env: { description: "environment variable NAME=VALUE", value: text("NAME=VALUE") },
  cwd: { description: "working directory in the job's view", value: text("DIR") },
  "run-as": { description: "run as UID or UID and GID", value: text("UID") },
  "max-output": { description: "most output to keep", value: text("SIZE") },
  grace: { description: "seconds between SIGTERM and SIGKILL", value: text("SECONDS") },
  output: {
    description: "output format",
    value: { kind: "words", name: "format", words: OUTPUT_KINDS, commaSeparated: false },
  },
  json: { description: "print JSON, like --output json" },
  wait: { description: "wait until the job ends, exit with its status" },
  state: {
    description: "only jobs in these states",
    value: { kind: "words", name: "state", words: JOB_STATES, commaSeparated: true },
  },
  owner: { description: "only jobs of this owner", value: text("NAME") },
  tail: { description: "only the last N lines", value: text("N") },
  since: { description: "start at this byte offset", value: text("OFFSET") },
  offset: { description: "start at this byte offset, like --since", value: text("OFFSET") },
  timeout: { description: "stop the job after this long, like 10m", value: text("DURATION") },
  label: { description: "a label KEY=VALUE", value: text("KEY=VALUE") },
  all: { description: "every process of the job" },
  once: { description: "print one snapshot and exit" },
  sort: {
    description: "sort by",
    value: { kind: "words", name: "key", words: TOP_SORT_KEYS, commaSeparated: false },
  },
  "data-dir": { description: "the server's data directory", value: { kind: "dir" } },
  "job-uid-range": { description: "the server's job uid range", value: text("FIRST-LAST") },
};

/** What an option means for one command, where that differs (the value's kind may not). */
const COMMAND_OPTION_INFO: Readonly<Partial<Record<CommandName, Record<string, OptionInfo>>>> = {
  list: { label: { description: "only jobs with this label", value: text("KEY=VALUE") } },
  events: {
    label: { description: "only events of jobs with this label", value: text("KEY=VALUE") },
    since: { description: "replay the events after this number", value: text("SEQ") },
  },
  top: { label: { description: "only jobs with this label", value: text("KEY=VALUE") } },
  doctor: { json: { description: "print the report as JSON" } },
};

const COMMAND_INFO: Readonly<Record<CommandName, string>> = {
  start: "start a job",
  stop: "stop a job",
  status: "show a job's status",
  list: "list jobs",
  logs: "print a job's output",
  attach: "attach to an interactive job",
  signal: "send a signal to a job",
  events: "print job events as they happen",
  top: "a live table of running jobs",
  completion: "print a shell completion script",
  doctor: "check this host for jobworker",
};

/** Commands whose first argument is a job id. */
const TAKES_ID: readonly CommandName[] = ["stop", "status", "logs", "attach", "signal"];

/** The signals `signal` takes (the server decides; this is what it accepts today). */
const SIGNAL_WORDS = JOB_SIGNALS.join(" ");

interface Option {
  long: string;
  short?: string;
  spec: OptionSpec;
  info: OptionInfo;
}

/**
 * The options of `command` with what the completion needs to know.
 *
 * @throws {Error} for an option without a line in {@link OPTION_INFO}
 */
function optionList(command: CommandName): Option[] {
  return Object.entries(optionsOf(command)).map(([long, spec]) => {
    const general = OPTION_INFO[long];
    const info = COMMAND_OPTION_INFO[command]?.[long] ?? general;
    if (info === undefined) throw new Error(`completion: option --${long} has no description`);
    if ((spec.type === "string") !== (info.value !== undefined)) {
      throw new Error(`completion: --${long} takes a value in one table but not the other`);
    }
    if (info.value?.kind !== general?.value?.kind) {
      throw new Error(`completion: --${long} of ${command} takes another kind of value`);
    }
    return spec.short === undefined
      ? { long, spec, info }
      : { long, short: spec.short, spec, info };
  });
}

/** The options every command takes (the connection options), in the parser's order. */
function commonOptions(): Option[] {
  const [first, ...others] = COMMAND_NAMES.map(optionList);
  return first!.filter((option) =>
    others.every((options) => options.some((o) => o.long === option.long))
  );
}

function flags(option: Option): string[] {
  return option.short === undefined
    ? [`--${option.long}`]
    : [`-${option.short}`, `--${option.long}`];
}

/** Every option that takes a value, with its value kind, across commands. */
function valueOptions(): Map<string, ValueKind> {
  const byFlag = new Map<string, ValueKind>();
  for (const name of COMMAND_NAMES) {
    for (const option of optionList(name)) {
      if (option.info.value === undefined) continue;
      for (const flag of flags(option)) byFlag.set(flag, option.info.value);
    }
  }
  return byFlag;
}

function bashScript(): string {
  const values = valueOptions();
  const caseArm = (kind: (v: ValueKind) => boolean) =>
    [...values].filter(([, v]) => kind(v)).map(([flag]) => flag).join("|");
  const wordArms = [...values]
    .filter(([, v]) => v.kind === "words")
    .map(([flag, v]) => {
      const words = (v as Extract<ValueKind, { kind: "words" }>).words.join(" ");
      const comma = (v as Extract<ValueKind, { kind: "words" }>).commaSeparated;
      return comma
        ? `    ${flag})\n      _jobworker_words_list "${words}"\n      return 0\n      ;;`
        : `    ${flag})\n      COMPREPLY=($(compgen -W "${words}" -- "$cur"))\n      return 0\n      ;;`;
    });
  const optionWords = (name: CommandName) => optionList(name).flatMap(flags).join(" ");
  const commandArms = COMMAND_NAMES.map((name) => `    ${name}) options="${optionWords(name)}" ;;`);
  return `# bash completion for jobworker; generated by "jobworker completion bash".
# Load it with:  source <(jobworker completion bash)

# Completes a comma-separated list of words: the word after the last comma.
_jobworker_words_list() {
  local prefix=""
  [[ $cur == *,* ]] && prefix="\${cur%,*},"
  COMPREPLY=($(compgen -P "$prefix" -W "$1" -- "\${cur##*,}"))
  compopt -o nospace 2>/dev/null
}

# True when a word that is not an option (the job id) comes between the command and the cursor.
_jobworker_after_id() {
  local j
  for ((j = command_at + 1; j < COMP_CWORD; j++)); do
    case "\${COMP_WORDS[j]}" in
      ${caseArm(() => true)})
        if [[ \${COMP_WORDS[j + 1]} == "=" ]]; then ((j += 2)); else ((j++)); fi
        ;;
      -* | "=") ;;
      *) return 0 ;;
    esac
  done
  return 1
}

_jobworker() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="" i word command="" command_at=0 options
  ((COMP_CWORD > 0)) && prev="\${COMP_WORDS[COMP_CWORD - 1]}"
  # "--state=ex": bash splits the word at "=" (COMP_WORDBREAKS).
  if [[ $cur == "=" ]]; then
    cur=""
  elif [[ $prev == "=" ]] && ((COMP_CWORD > 1)); then
    prev="\${COMP_WORDS[COMP_CWORD - 2]}"
  fi

  # The command is the first word that is neither an option nor an option's value.
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    case "$word" in
      ${caseArm(() => true)})
        if [[ \${COMP_WORDS[i + 1]} == "=" ]]; then ((i += 2)); else ((i++)); fi
        ;;
      -* | "=") ;;
      *)
        command="$word"
        command_at=$i
        break
        ;;
    esac
  done

  # start: from the job's command on, complete commands and files as usual.
  if [[ $command == start ]]; then
    for ((i = command_at + 1; i < COMP_CWORD; i++)); do
      word="\${COMP_WORDS[i]}"
      case "$word" in
        ${caseArm(() => true)})
          if [[ \${COMP_WORDS[i + 1]} == "=" ]]; then ((i += 2)); else ((i++)); fi
          ;;
        -- | [!-]*)
          [[ $word == -- ]] && ((i++))
          if ((i >= COMP_CWORD)); then
            COMPREPLY=($(compgen -c -- "$cur"))
          fi
          return 0
          ;;
      esac
    done
  fi

  case "$prev" in
${wordArms.join("\n")}
    ${caseArm((v) => v.kind === "file")})
      COMPREPLY=($(compgen -f -- "$cur"))
      return 0
      ;;
    ${caseArm((v) => v.kind === "dir")})
      COMPREPLY=($(compgen -d -- "$cur"))
      return 0
      ;;
    ${caseArm((v) => v.kind === "text")})
      compopt +o default 2>/dev/null
      COMPREPLY=()
      return 0
      ;;
  esac

  case "$command" in
${commandArms.join("\n")}
    *) options="${commonOptions().flatMap(flags).join(" ")}" ;;
  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$options" -- "$cur"))
  elif [[ -z $command ]]; then
    COMPREPLY=($(compgen -W "${COMMAND_NAMES.join(" ")}" -- "$cur"))
  elif [[ $command == start ]]; then
    COMPREPLY=($(compgen -c -- "$cur"))
  elif [[ $command == completion ]]; then
    COMPREPLY=($(compgen -W "${SHELLS.join(" ")}" -- "$cur"))
  elif [[ $command == signal ]] && _jobworker_after_id; then
    COMPREPLY=($(compgen -W "${SIGNAL_WORDS}" -- "$cur"))
  else
    # A job id, or nothing: no file names.
    compopt +o default 2>/dev/null
    COMPREPLY=()
  fi
  return 0
}

complete -o default -F _jobworker jobworker
`;
}

/** `text` safe inside a zsh `_arguments` spec in single quotes. */
function zshEscape(text: string): string {
  return text.replace(/([\[\]:\\])/g, "\\$1").replaceAll("'", `'\\''`);
}

function zshSpecs(options: Option[]): string[] {
  return options.flatMap((option) => {
    const { info, spec } = option;
    const all = flags(option);
    // Either form excludes both; a repeatable option excludes nothing.
    const exclusion = spec.multiple ? "*" : all.length > 1 ? `(${all.join(" ")})` : "";
    let argument = "";
    const value = info.value;
    if (value !== undefined) {
      const action = value.kind === "file"
        ? "_files"
        : value.kind === "dir"
        ? "_files -/"
        : value.kind === "words"
        ? value.commaSeparated
          ? `_sequence compadd - ${value.words.join(" ")}`
          : `(${value.words.join(" ")})`
        : " ";
      const name = value.kind === "text" || value.kind === "words" ? value.name : value.kind;
      argument = `:${zshEscape(name)}:${action}`;
    }
    return all.map((flag) => {
      // "--opt=": the value may follow as "--opt=VALUE" or as the next word.
      const form = value !== undefined && flag.startsWith("--") ? `${flag}=` : flag;
      return `'${exclusion}${form}[${zshEscape(info.description)}]${argument}'`;
    });
  });
}

function zshScript(): string {
  const common = commonOptions();
  const commonLongs = new Set(common.map((o) => o.long));
  const own = (name: CommandName) => optionList(name).filter((o) => !commonLongs.has(o.long));
  const indent = (lines: string[], spaces: number) =>
    lines.map((line) => " ".repeat(spaces) + line).join(" \\\n");
  const arms = COMMAND_NAMES.map((name) => {
    const positional = name === "start"
      ? ["'*:: :_normal'"]
      : name === "completion"
      ? [`'1:shell:(${SHELLS.join(" ")})'`]
      : name === "signal"
      ? ["'1:job id: '", `'2:signal:(${SIGNAL_WORDS})'`]
      : TAKES_ID.includes(name)
      ? ["'1:job id: '"]
      : [];
    const specs = [...zshSpecs(own(name)), ...positional];
    const flagsFirst = name === "start" ? "-S " : "";
    return `        ${name})
          _arguments ${flagsFirst}-s : $connection \\
${indent(specs, 12)} && ret=0
          ;;`;
  });
  const commands = COMMAND_NAMES.map((name) => `    '${name}:${zshEscape(COMMAND_INFO[name])}'`);
  return `#compdef jobworker
# zsh completion for jobworker; generated by "jobworker completion zsh".
# Put it in a directory of $fpath as _jobworker, or: source <(jobworker completion zsh)

_jobworker() {
  local curcontext="$curcontext" state state_descr line ret=1
  typeset -A opt_args
  local -a connection
  connection=(
${indent(zshSpecs(common), 4).replaceAll(" \\\n", "\n")}
  )
  local -a commands
  commands=(
${commands.join("\n")}
  )
  _arguments -C -s : $connection '1: :->command' '*:: :->argument' && ret=0
  case $state in
    command)
      _describe -t commands 'jobworker command' commands && ret=0
      ;;
    argument)
      curcontext="\${curcontext%:*:*}:jobworker-$words[1]:"
      case $words[1] in
${arms.join("\n")}
      esac
      ;;
  esac
  return ret
}

if [[ $funcstack[1] == _jobworker ]]; then
  _jobworker "$@"
else
  compdef _jobworker jobworker
fi
`;
}

/** `text` in single quotes for fish. */
function fishQuote(text: string): string {
  return `'${text.replace(/(['\\])/g, "\\$1")}'`;
}

function fishLines(options: Option[], condition: string | null): string[] {
  return options.map((option) => {
    const parts = ["complete -c jobworker"];
    if (condition !== null) parts.push(`-n ${fishQuote(condition)}`);
    if (option.short !== undefined) parts.push(`-s ${option.short}`);
    parts.push(`-l ${option.long}`);
    const value = option.info.value;
    if (value?.kind === "file") parts.push("-r -F");
    else if (value?.kind === "dir") {
      parts.push(`-x -a ${fishQuote("(__fish_complete_directories)")}`);
    } else if (value?.kind === "words") parts.push(`-x -a ${fishQuote(value.words.join(" "))}`);
    else if (value?.kind === "text") parts.push("-x");
    parts.push(`-d ${fishQuote(option.info.description)}`);
    return parts.join(" ");
  });
}

function fishScript(): string {
  const common = commonOptions();
  const commonLongs = new Set(common.map((o) => o.long));
  const names = COMMAND_NAMES.join(" ");
  const noCommand = `not __fish_seen_subcommand_from ${names}`;
  const lines = [
    `# fish completion for jobworker; generated by "jobworker completion fish".`,
    `# Put it in ~/.config/fish/completions/jobworker.fish, or: jobworker completion fish | source`,
    "",
    "complete -c jobworker -e",
    "# No file names unless an option or the job's command line wants them.",
    "complete -c jobworker -f",
    ...COMMAND_NAMES.map((name) =>
      `complete -c jobworker -n ${fishQuote(noCommand)} -a ${name} -d ${
        fishQuote(COMMAND_INFO[name])
      }`
    ),
    ...fishLines(common, null),
  ];
  for (const name of COMMAND_NAMES) {
    const seen = `__fish_seen_subcommand_from ${name}`;
    lines.push(...fishLines(optionList(name).filter((o) => !commonLongs.has(o.long)), seen));
  }
  lines.push(
    `complete -c jobworker -n ${fishQuote("__fish_seen_subcommand_from completion")} -a ${
      fishQuote(SHELLS.join(" "))
    }`,
    `complete -c jobworker -n ${fishQuote("__fish_seen_subcommand_from signal")} -a ${
      fishQuote(SIGNAL_WORDS)
    } -d ${fishQuote("signal")}`,
    `# start: the job's command line, like any command's.`,
    `complete -c jobworker -n ${fishQuote("__fish_seen_subcommand_from start")} -F`,
  );
  return lines.join("\n") + "\n";
}

/**
 * The completion script for `shell`, to be sourced by it (or installed
 * where it looks for completions; see `jobworker completion --help`).
 */
export function completionScript(shell: Shell): string {
  switch (shell) {
    case "bash":
      return bashScript();
    case "zsh":
      return zshScript();
    case "fish":
      return fishScript();
  }
}
