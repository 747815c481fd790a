/**
 * The server's operator-facing side channels, made from their flags: the
 * audit log (always on; `--audit-log`, `--audit-max-size`) and the metrics
 * listener (`--metrics-addr`, off by default). Bad flags throw a
 * RangeError naming the flag before anything starts.
 *
 * @module
 */
import { join } from "node:path";
import type { JobManager } from "../job/mod.ts";
import { parseSize } from "../units/mod.ts";
import { AuditLog } from "./audit.ts";
import { Metrics, type MetricsListener, parseMetricsAddr, serveMetrics } from "./metrics.ts";
import { type CallObserver, observeAll } from "./observe.ts";

/** The flags as parseArgs returns them (absent ones undefined). */
export interface OperationsFlags {
  dataDir: string;
  auditLog?: string | undefined;
  auditMaxSize?: string | undefined;
  metricsAddr?: string | undefined;
}

/** The audit log and the metrics, running. */
export interface Operations {
  /** Reports every call to the audit log and the metrics. */
  observer: CallObserver;
  /** Where the audit log is. */
  auditPath: string;
  /** The metrics listener's `host:port`, or null when off. */
  metricsAddr: string | null;
  /** Stops the metrics listener and closes the audit log. */
  close(): Promise<void>;
}

/** Checks the flags without opening anything (for failing early). */
export function checkOperationsFlags(flags: OperationsFlags): void {
  if (flags.auditMaxSize !== undefined) auditMaxBytes(flags.auditMaxSize);
  if (flags.metricsAddr !== undefined) parseMetricsAddr(flags.metricsAddr);
}

function auditMaxBytes(text: string): number {
  try {
    return parseSize(text);
  } catch (err) {
    throw new RangeError(`--audit-max-size: ${(err as Error).message}`);
  }
}

/** Opens the audit log and starts the metrics listener the flags ask for. */
export async function startOperations(
  manager: JobManager,
  flags: OperationsFlags,
): Promise<Operations> {
  const auditPath = flags.auditLog ?? join(flags.dataDir, "audit.log");
  const audit = AuditLog.open(auditPath, {
    ...(flags.auditMaxSize === undefined ? {} : { maxBytes: auditMaxBytes(flags.auditMaxSize) }),
  });
  const observers: CallObserver[] = [audit.observer()];
  let listener: MetricsListener | null = null;
  if (flags.metricsAddr !== undefined) {
    const metrics = new Metrics(manager);
    observers.push(metrics.observer());
    try {
      listener = await serveMetrics(metrics, parseMetricsAddr(flags.metricsAddr));
    } catch (err) {
      audit.close();
      throw new Error(
        `Cannot serve metrics on ${flags.metricsAddr}: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }
  return {
    observer: observeAll(observers),
    auditPath,
    metricsAddr: listener?.addr ?? null,
    async close() {
      await listener?.close();
      audit.close();
    },
  };
}
