/** Live counters of one load run, shared by the senders, the reporter and the metrics server. */
export interface Counts {
  sent: number;
  confirmed: number;
  failed: number;
  /** Confirmed, but returned by the broker because nothing was bound for the route (AMQP). */
  unroutable: number;
  /** Messages sent per kind of the domain, every kind present (zero included), in the domain's order. */
  byKind: Record<string, number>;
}

export const createCounts = (kinds: readonly string[]): Counts => ({
  sent: 0,
  confirmed: 0,
  failed: 0,
  unroutable: 0,
  byKind: Object.fromEntries(kinds.map((k) => [k, 0])),
});
