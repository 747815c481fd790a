/**
 * Job labels: `key=value` tags given at Start, shown in status, and used to
 * filter List and WatchEvents. Keys and values follow Kubernetes' rules
 * for labels, so what users already know (and tools already produce)
 * works unchanged:
 *
 * - key: an optional prefix (a DNS subdomain, at most 253 characters) and
 *   `/`, then a name: 1 to 63 characters of letters, digits, `-`, `_`, `.`,
 *   starting and ending with a letter or digit;
 * - value: empty, or of the name form.
 *
 * At most {@link MAX_LABELS} labels and {@link MAX_LABEL_BYTES} bytes of
 * keys and values together.
 *
 * @module
 */

/** Most labels a job may have. */
export const MAX_LABELS = 32;
/** Most bytes a job's label keys and values may take together. */
export const MAX_LABEL_BYTES = 4096;

const NAME = /^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$/;
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Why `key` is not a valid label key, or null when it is. */
export function labelKeyProblem(key: string): string | null {
  const slash = key.lastIndexOf("/");
  const prefix = slash < 0 ? null : key.slice(0, slash);
  const name = slash < 0 ? key : key.slice(slash + 1);
  if (prefix !== null) {
    if (prefix.length === 0 || prefix.length > 253) {
      return "its prefix must be 1 to 253 characters";
    }
    if (!prefix.split(".").every((part) => DNS_LABEL.test(part))) {
      return "its prefix must be a DNS subdomain (lowercase letters, digits, '-', '.')";
    }
  }
  if (!NAME.test(name)) {
    return "its name must be 1 to 63 letters, digits, '-', '_' or '.', " +
      "starting and ending with a letter or digit";
  }
  return null;
}

/** Why `value` is not a valid label value, or null when it is. */
export function labelValueProblem(value: string): string | null {
  if (value === "" || NAME.test(value)) return null;
  return "a value must be empty or 1 to 63 letters, digits, '-', '_' or '.', " +
    "starting and ending with a letter or digit";
}

/**
 * Checks a set of labels; returns them as a plain object with sorted keys,
 * or throws a message (without the "Cannot ..." prefix) naming the first
 * problem. Callers wrap it in their own error class.
 *
 * @example
 * ```ts
 * checkLabels({ "team": "infra", "example.com/tier": "batch" });
 * // { "example.com/tier": "batch", team: "infra" }
 * ```
 */
export function checkLabels(labels: unknown): Record<string, string> {
  if (labels === undefined || labels === null) return {};
  if (typeof labels !== "object" || Array.isArray(labels)) {
    throw new TypeError("labels must be an object of strings");
  }
  const entries = Object.entries(labels as Record<string, unknown>);
  if (entries.length > MAX_LABELS) {
    throw new RangeError(`at most ${MAX_LABELS} labels, got ${entries.length}`);
  }
  let bytes = 0;
  const checked: Record<string, string> = {};
  for (const [key, value] of entries.sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)) {
    if (typeof value !== "string") {
      throw new TypeError(`label ${JSON.stringify(key)} must have a string value`);
    }
    const keyProblem = labelKeyProblem(key);
    if (keyProblem !== null) {
      throw new RangeError(
        `label key ${JSON.stringify(key.slice(0, 300))} is invalid: ${keyProblem}`,
      );
    }
    const valueProblem = labelValueProblem(value);
    if (valueProblem !== null) {
      throw new RangeError(
        `label ${JSON.stringify(key)} has an invalid value ${
          JSON.stringify(value.slice(0, 100))
        }: ` +
          valueProblem,
      );
    }
    bytes += key.length + value.length;
    checked[key] = value;
  }
  if (bytes > MAX_LABEL_BYTES) {
    throw new RangeError(`labels take ${bytes} bytes; at most ${MAX_LABEL_BYTES}`);
  }
  return checked;
}

/** Whether `labels` has every key of `selector` with the same value (an empty selector matches all). */
export function matchesLabels(
  labels: Readonly<Record<string, string>>,
  selector: Readonly<Record<string, string>>,
): boolean {
  return Object.entries(selector).every(([key, value]) => labels[key] === value);
}
