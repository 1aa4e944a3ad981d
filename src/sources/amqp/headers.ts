/** AMQP header table → plain strings (Buffers decoded, numbers printed, nested values as JSON). */
export function headersOf(table: Record<string, unknown> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (table === undefined) return out;
  for (const [k, v] of Object.entries(table)) {
    if (v === undefined || v === null) continue;
    out[k] = typeof v === 'string' ? v : Buffer.isBuffer(v) ? v.toString('utf8') : typeof v === 'object' ? JSON.stringify(v) : String(v);
  }
  return out;
}
