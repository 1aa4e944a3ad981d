import type { Readiness } from '../../runtime/health.ts';
import type { Metrics } from '../../runtime/metrics.ts';

type Sample = { at: number; messages: Map<string, number>; dead: number };

/** A running pipeline: its name is its domains joined by `+`, as in the metrics' `domain` label. */
export interface PipelineRef {
  readonly name: string;
  readonly sourceKind: string;
}

const key = (source: string, domain: string): string => `${source}\u0000${domain}`;

const sum = (values: ReadonlyArray<{ value: number }>): number => values.reduce((n, v) => n + v.value, 0);

/**
 * GET /v1/pipeline: readiness and, from the worker's own metrics, throughput per source over
 * the last sampling period, lag, paused flags, dead letters and per-domain counters.
 */
export class PipelineStatus {
  readonly #metrics: Metrics;
  readonly #readiness: Readiness;
  readonly #started = Date.now();
  #previous: Sample | undefined;
  #latest: Sample | undefined;
  readonly #timer: NodeJS.Timeout;

  readonly #pipelines: () => ReadonlyArray<PipelineRef>;

  constructor(metrics: Metrics, readiness: Readiness, pipelines: () => ReadonlyArray<PipelineRef>, periodMs = 2_000) {
    this.#metrics = metrics;
    this.#pipelines = pipelines;
    this.#readiness = readiness;
    void this.#sample();
    this.#timer = setInterval(() => void this.#sample(), periodMs);
    this.#timer.unref();
  }

  close(): void {
    clearInterval(this.#timer);
  }

  async #sample(): Promise<void> {
    const messages = new Map<string, number>();
    for (const v of (await this.#metrics.messages.get()).values) {
      const k = key(String(v.labels['source'] ?? ''), String(v.labels['domain'] ?? ''));
      messages.set(k, (messages.get(k) ?? 0) + v.value);
    }
    const dead = sum((await this.#metrics.dlq.get()).values);
    this.#previous = this.#latest;
    this.#latest = { at: Date.now(), messages, dead };
  }

  async snapshot() {
    const [lag, paused, messages, readings, anomalies] = await Promise.all([
      this.#metrics.lag.get(), this.#metrics.paused.get(), this.#metrics.messages.get(), this.#metrics.readings.get(), this.#metrics.anomalies.get(),
    ]);
    const prev = this.#previous;
    const last = this.#latest;
    const dt = prev !== undefined && last !== undefined ? (last.at - prev.at) / 1000 : 0;
    const rate = (a: number | undefined, b: number | undefined): number => (dt > 0 ? Math.max(0, ((a ?? 0) - (b ?? 0)) / dt) : 0);
    const count = (sample: Sample | undefined, source: string, domains: ReadonlyArray<string>): number =>
      domains.reduce((n, d) => n + (sample?.messages.get(key(source, d)) ?? 0), 0);
    const pipelines = this.#pipelines().map((p) => {
      // Deliveries count under their domain, unrouted ones under the pipeline's name (once if the same).
      const labels = [...new Set([...p.name.split('+'), p.name])];
      const mine = (values: ReadonlyArray<{ labels: Record<string, unknown>; value: number }>) =>
        values.filter((v) => v.labels['source'] === p.sourceKind && v.labels['domain'] === p.name);
      const lags = mine(lag.values);
      return {
        name: p.name,
        source: p.sourceKind,
        messages_per_s: Math.round(rate(count(last, p.sourceKind, labels), count(prev, p.sourceKind, labels)) * 10) / 10,
        lag_seconds: lags.length === 0 ? null : Math.max(...lags.map((v) => v.value)),
        paused: mine(paused.values).some((v) => v.value > 0),
      };
    });
    const domains = new Map<string, { domain: string; messages: number; readings_valid: number; readings_invalid: number; anomalies: number }>();
    const row = (domain: string) => {
      let r = domains.get(domain);
      if (r === undefined) domains.set(domain, (r = { domain, messages: 0, readings_valid: 0, readings_invalid: 0, anomalies: 0 }));
      return r;
    };
    for (const v of messages.values) row(String(v.labels['domain'])).messages += v.value;
    for (const v of readings.values) {
      const r = row(String(v.labels['domain']));
      if (v.labels['status'] === 'valid') r.readings_valid += v.value;
      else r.readings_invalid += v.value;
    }
    for (const v of anomalies.values) row(String(v.labels['domain'])).anomalies += v.value;
    return {
      ready: this.#readiness.ready,
      reasons: this.#readiness.reasons(),
      uptime_s: Math.round((Date.now() - this.#started) / 1000),
      pipelines,
      dead_letters: { total: last?.dead ?? 0, per_s: Math.round(rate(last?.dead, prev?.dead) * 100) / 100 },
      domains: [...domains.values()].sort((a, b) => a.domain.localeCompare(b.domain)),
    };
  }
}
