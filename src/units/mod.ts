/**
 * Sizes and durations as people write them on command lines: `512K`,
 * `64M`, `1.5G` (1024-based), `90s`, `10m`, `2h`, `7d`. Shared by the
 * server's flags and the CLI; each caller words its own errors around the
 * RangeError these throw.
 *
 * @module
 */

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
};

/**
 * Bytes from a size: a number with an optional K, M, G or T suffix
 * (1024-based), optionally followed by `i` and/or `B`: `512K`, `64M`,
 * `1.5G`, `64Mi`, `2GiB`, `100B`. The result must be a whole number.
 *
 * @throws {RangeError} `"64X" is not a size (like 512K, 64M, 1G)`
 */
export function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)([kmgt]?)(i?)(b?)$/i.exec(text.trim());
  // A bare "i" (as in "64i") is not a unit: only K/M/G/T take one.
  if (match === null || (match[2] === "" && match[3] !== "")) {
    throw new RangeError(`${JSON.stringify(text)} is not a size (like 512K, 64M, 1G)`);
  }
  const bytes = Number(match[1]) * SIZE_UNITS[match[2]!.toLowerCase()]!;
  if (!Number.isSafeInteger(bytes)) {
    throw new RangeError(`${JSON.stringify(text)} is not a whole number of bytes`);
  }
  return bytes;
}

const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/**
 * Milliseconds from a duration: a number with a unit, ms, s, m, h or d
 * (`500ms`, `90s`, `1.5h`, `7d`), several of them from the largest unit
 * down (`1h30m`, `2m30s`, `1d12h`); a bare number is seconds.
 *
 * @throws {RangeError} `"ten" is not a duration (like 90s, 10m, 2h, 7d)`
 */
export function parseDuration(text: string): number {
  const trimmed = text.trim();
  const bare = /^\d+(?:\.\d+)?$/.test(trimmed);
  const parts = [...trimmed.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)];
  const order = ["d", "h", "m", "s", "ms"];
  const wellFormed = bare ||
    (parts.length > 0 && parts.map((p) => p[0]).join("") === trimmed &&
      parts.every((p, i) => i === 0 || order.indexOf(p[2]!) > order.indexOf(parts[i - 1]![2]!)));
  if (!wellFormed) {
    throw new RangeError(`${JSON.stringify(text)} is not a duration (like 90s, 10m, 2h, 7d)`);
  }
  const ms = bare
    ? Number(trimmed) * DURATION_UNITS.s!
    : parts.reduce((sum, p) => sum + Number(p[1]) * DURATION_UNITS[p[2]!]!, 0);
  if (!Number.isSafeInteger(Math.round(ms))) {
    throw new RangeError(`${JSON.stringify(text)} is too long a duration`);
  }
  return Math.round(ms);
}
