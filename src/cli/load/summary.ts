/** What `ingestd load` reports at the end, and how it prints it. */

export interface LoadSummary {
  readonly domain: string;
  /** The broker URL, password redacted. */
  readonly broker: string;
  /** Where the messages went, in display order: `exchange` and `routing key` (AMQP) or `topic` (Kafka). */
  readonly destination: Readonly<Record<string, string>>;
  readonly seed: number;
  readonly startTime: string;
  readonly sent: number;
  readonly confirmed: number;
  readonly failed: number;
  /** Confirmed, but returned by the broker because no queue was bound for the routing key (always 0 on Kafka). */
  readonly unroutable: number;
  /** Messages sent per kind of the domain (energy-meter: valid, anomaly, invalid-reading, undecodable). */
  readonly byKind: Readonly<Record<string, number>>;
  readonly elapsedMs: number;
  readonly ratePerSec: number;
  readonly interrupted: boolean;
  readonly error: string | null;
  /** Every message sent was confirmed and nothing went wrong. */
  readonly ok: boolean;
}

export const formatMs = (ms: number): string => (ms < 10_000 ? `${(ms / 1000).toFixed(2)}s` : `${(ms / 1000).toFixed(1)}s`);

export const formatSummary = (s: LoadSummary): string => {
  const rows: Array<[string, string | number]> = [
    ['domain', s.domain],
    ['broker', s.broker],
    ...Object.entries(s.destination),
    ['sent', s.sent],
    ['confirmed', s.confirmed],
    ['failed', s.failed],
    ['unroutable', s.unroutable],
    ...Object.entries(s.byKind).map(([k, n]): [string, number] => [`  ${k}`, n]),
    ['elapsed', formatMs(s.elapsedMs)],
    ['rate', `${Math.round(s.ratePerSec)} msg/s`],
    ['seed', s.seed],
    ['start time', s.startTime],
  ];
  const lines = [`ingestd load ${s.ok ? 'finished' : 'finished with problems'}${s.interrupted ? ' (interrupted)' : ''}`];
  for (const [k, v] of rows) lines.push(`  ${k.padEnd(17)} ${v}`);
  if (s.error !== null) lines.push(`  error             ${s.error}`);
  if (s.unroutable > 0) {
    const { exchange = '', 'routing key': routingKey = '' } = s.destination;
    lines.push(`  warning           ${s.unroutable} messages had no queue bound to "${exchange}" for "${routingKey}" and were dropped by the broker`);
  }
  lines.push(`  repeat with       --seed ${s.seed} --start-time ${s.startTime}`);
  return `${lines.join('\n')}\n`;
};
