/**
 * `new Date(ms).toISOString()`, faster for the hot paths that format every reading's time
 * (rows, events): the `YYYY-MM-DDTHH:MM:SS.` part is remembered per second, since a batch's
 * readings share a few seconds, and only the milliseconds are appended. Anything the cache
 * cannot hold as is (fractional ms, years outside 0000–9999, NaN) goes to Date itself, so
 * the result and the errors are always those of toISOString().
 */
const MAX_MS = 253_402_300_800_000; // 10000-01-01T00:00:00Z
const KEPT = 4096;
const prefixes = new Map<number, string>();

export function isoTime(ms: number): string {
  if (!Number.isInteger(ms) || ms < 0 || ms >= MAX_MS) return new Date(ms).toISOString();
  const second = Math.floor(ms / 1000);
  let prefix = prefixes.get(second);
  if (prefix === undefined) {
    if (prefixes.size >= KEPT) prefixes.clear();
    prefix = new Date(second * 1000).toISOString().slice(0, 20);
    prefixes.set(second, prefix);
  }
  const milli = ms - second * 1000;
  return `${prefix}${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}Z`;
}
