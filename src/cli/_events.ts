/**
 * `events`: job events as lines (or JSON lines) for as long as the user
 * watches, across lost connections: the watch is resumed after the last
 * event seen (WatchEvents' `since`), or before the first one after the
 * newest event the server had when the watch began, so nothing is missed
 * or repeated within what the server retains, with a few attempts that
 * back off before it gives up.
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import { ApiError } from "../api/client.ts";
import type { JobEvent } from "../job/mod.ts";
import { escapeControl, formatLabels, formatTime } from "./format.ts";
import { pause } from "./_wait.ts";

/** How many times in a row `events` tries to resume a lost watch before it gives up. */
export const EVENTS_RETRIES = 5;
/** The first pause before resuming a lost watch; it doubles with each attempt in a row. */
export const EVENTS_FIRST_RETRY_MS = 500;
/**
 * A watch that stayed up this long counted as a connection that worked:
 * the attempts in a row start again from the first (as after an event).
 */
export const EVENTS_STABLE_MS = 10_000;

/** What `events` needs of the API client. */
export interface EventsClient {
  /**
   * Events after `since` (when given) and then live ones; `signal` ends
   * them quietly; `onWatching` is called once the server holds the watch,
   * with the newest event's number then.
   */
  watchEvents(
    options: {
      labels?: Record<string, string>;
      since?: number;
      signal?: AbortSignal;
      onWatching?: (lastSeq: number) => void;
    },
  ): AsyncGenerator<JobEvent>;
}

/** An event as `events --json` prints it, one object a line; the field list is part of the CLI's interface. */
export interface EventJson {
  seq: number;
  /** ISO 8601, UTC. */
  time: string;
  id: string;
  owner: string;
  type: JobEvent["type"];
  exitCode: number | null;
  signal: string | null;
  error: string | null;
  labels: Record<string, string>;
}

/** The JSON form of an event (built field by field, as statusToJson is). */
export function eventToJson(event: JobEvent): EventJson {
  return {
    seq: event.seq,
    time: event.time.toISOString(),
    id: event.id,
    owner: event.owner,
    type: event.type,
    exitCode: event.exitCode,
    signal: event.signal,
    error: event.error,
    labels: { ...event.labels },
  };
}

/** The widest event type (`oom-killed`): types are padded to it so that ids line up. */
const TYPE_WIDTH = 10;

/**
 * One event as a line of text, with its newline:
 * `SEQ TIME TYPE ID [exit CODE] [signal NAME] [error "WHY"] [LABELS]`, e.g.
 * `12 2024-05-01T12:00:01Z exited     0b5e... exit 3 team=infra`. Text from
 * jobs is escaped (see escapeControl).
 */
export function formatEventLine(event: JobEvent): string {
  const parts = [
    String(event.seq),
    formatTime(event.time),
    event.type.padEnd(TYPE_WIDTH),
    escapeControl(event.id),
  ];
  if (event.exitCode !== null) parts.push(`exit ${event.exitCode}`);
  if (event.signal !== null) parts.push(`signal ${escapeControl(event.signal)}`);
  if (event.error !== null) parts.push(`error ${escapeControl(JSON.stringify(event.error))}`);
  if (Object.keys(event.labels).length > 0) parts.push(formatLabels(event.labels));
  return parts.join(" ") + "\n";
}

/** Options of {@link watchEvents}. */
export interface WatchEventsOptions {
  /** Only events of jobs with all of these labels. */
  labels: Record<string, string>;
  /** Replay the retained events after this one first; null: from now on. */
  since: number | null;
  /** Writes one event (all of it, or throws: the watch ends with that error). */
  write: (event: JobEvent) => Promise<void>;
  /** One line for the user about a lost watch (stderr). */
  say: (line: string) => Promise<void>;
  /** The client of the first attempt. */
  client: EventsClient;
  /** A fresh client for each later attempt (a new connection; the old one may be stuck). */
  reconnect: () => Promise<EventsClient>;
  /** Ends the watch quietly (Ctrl-C); {@link watchEvents} then resolves. */
  signal: AbortSignal;
  /** Attempts in a row before giving up; default {@link EVENTS_RETRIES}. */
  retries?: number;
  /** The first pause; default {@link EVENTS_FIRST_RETRY_MS}. */
  firstRetryMs?: number;
  /** Why a watch broke, in a few words (default: the error's message). */
  describeError?: (err: unknown) => string;
}

/** The watch was lost for good; the message says why and where to resume. */
export class EventsLostError extends Error {
  /** @param message one line */
  constructor(message: string) {
    super(message);
    this.name = "EventsLostError";
  }
}

/**
 * Whether a watch that ended with `err` may be resumed: the connection or
 * the server went away (UNAVAILABLE, CANCELLED, INTERNAL, UNKNOWN,
 * ABORTED), or the server cut off a watcher that fell behind
 * (RESOURCE_EXHAUSTED). What the server refused (a `since` it no longer
 * holds, permissions, bad labels) is not retried.
 */
function resumable(err: unknown): boolean {
  if (!(err instanceof ApiError)) return true;
  return [
    grpc.status.UNAVAILABLE,
    grpc.status.CANCELLED,
    grpc.status.INTERNAL,
    grpc.status.UNKNOWN,
    grpc.status.ABORTED,
    grpc.status.RESOURCE_EXHAUSTED,
  ].includes(err.code);
}

/** The connection was never made (as opposed to lost): refused, unknown host, TLS. */
function neverConnected(err: unknown): boolean {
  return err instanceof ApiError && err.code === grpc.status.UNAVAILABLE &&
    /No connection established/i.test(err.message);
}

function messageOf(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const line = text.replace(/\s*\n\s*/g, " ").trim() || "the stream ended";
  return /^[A-Z][a-z]/.test(line) ? line[0]!.toLowerCase() + line.slice(1) : line;
}

/**
 * Writes events until `options.signal` aborts (then resolves). A watch
 * that breaks is resumed after the last event written (or after
 * `options.since` when none was; without either, after the newest event
 * the server had when the watch began), with a fresh client, after 0.5 s, 1 s,
 * 2 s, ... (`options.firstRetryMs` doubling); an event, or a watch that
 * stayed up {@link EVENTS_STABLE_MS}, starts the count again. The very
 * first connection failing is not retried: the server is not there.
 *
 * @throws the client's error when the server refused the watch (e.g.
 * OUT_OF_RANGE for a `since` it no longer holds) or the first connection
 * failed; {@link EventsLostError} after `options.retries` failed attempts
 * in a row; whatever `options.write` throws.
 */
export async function watchEvents(options: WatchEventsOptions): Promise<void> {
  const { signal } = options;
  const retries = options.retries ?? EVENTS_RETRIES;
  const firstRetryMs = options.firstRetryMs ?? EVENTS_FIRST_RETRY_MS;
  let client = options.client;
  let last: number | null = options.since;
  let failures = 0;
  let everConnected = false;
  for (;;) {
    const began = performance.now();
    let err: unknown = null;
    const events = client.watchEvents({
      labels: options.labels,
      ...(last === null ? {} : { since: last }),
      signal,
      // "From now on" began there: a watch lost before its first event resumes after it.
      onWatching: (lastSeq) => {
        if (last === null) last = lastSeq;
      },
    });
    try {
      for (;;) {
        let next: IteratorResult<JobEvent>;
        try {
          next = await events.next();
        } catch (e) {
          if (!resumable(e) || (!everConnected && neverConnected(e))) {
            if (signal.aborted) return;
            throw e;
          }
          err = e;
          break;
        }
        if (next.done) break;
        const event = next.value;
        everConnected = true;
        failures = 0;
        // The server never repeats one; a resumed watch must not either.
        if (last !== null && event.seq <= last) continue;
        // A write that fails (stdout closed) ends the watch with its error.
        await options.write(event);
        last = event.seq;
      }
    } finally {
      // Cancels the call when leaving early.
      await events.return(undefined).catch(() => {});
    }
    if (signal.aborted) return;
    everConnected = true;
    if (performance.now() - began >= EVENTS_STABLE_MS) failures = 0;
    const why = err === null
      ? "the server ended the stream"
      : (options.describeError ?? messageOf)(err);
    const resumeNote = last === null
      ? "no event seen yet"
      : `to resume: jobworker events --since ${last}`;
    if (failures >= retries) {
      throw new EventsLostError(
        `lost the event stream (${why}); gave up after ${retries} attempts (${resumeNote})`,
      );
    }
    const waitMs = firstRetryMs * 2 ** failures;
    failures++;
    await options.say(
      `lost the event stream (${why}); resuming ${last === null ? "" : `after event ${last} `}in ${
        waitMs / 1000
      } s (attempt ${failures} of ${retries})`,
    );
    await pause(waitMs, signal);
    if (signal.aborted) return;
    // Failing here (the certificates cannot be read again) is not a lost connection: it ends.
    client = await options.reconnect();
  }
}
