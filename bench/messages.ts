/**
 * Simulated traffic per domain, as deliveries a source would hand over: the project's own
 * seeded simulators (src/sim/), so the same seed gives the same bytes. Rates and shapes
 * are those of the README's Performance runs (2 % anomalies, 1 % bad messages).
 */
import { createAnalyticsGenerator } from '../src/sim/analytics.ts';
import { createChatGenerator } from '../src/sim/chat-events.ts';
import { createEnergyMeterGenerator, meterFingerprint } from '../src/sim/energy-meter.ts';
import { createGridTelemetryGenerator } from '../src/sim/grid-telemetry.ts';
import { createSmartGridGenerator } from '../src/sim/smart-grid.ts';
import type { Config } from '../src/config/index.ts';
import type { Delivery } from '../src/sources/types.ts';

export const DOMAIN_NAMES = ['energy-meter', 'grid-telemetry', 'analytics', 'chat-events', 'smart-grid'] as const;
export type DomainName = (typeof DOMAIN_NAMES)[number];

/** A fixed event-time origin: the same seed gives the same bytes whenever it runs. */
export const START_TIME = Date.UTC(2026, 0, 5, 10, 0, 0);

export interface SimMessage {
  /** The Kafka key the load generator would use (meter, machine, company): decides the partition. */
  readonly key: string;
  readonly delivery: Delivery;
}

export interface TrafficOptions {
  readonly seed: number;
  readonly count: number;
  /** Share of messages that fail decoding (default 1 %). */
  readonly invalidRate?: number;
}

const delivery = (route: string, body: Buffer, offset: number): Delivery => ({
  id: undefined,
  route,
  body,
  headers: {},
  receivedAt: START_TIME,
  origin: { offset: String(offset), attempts: 1 },
});

/** `count` messages of a generator, each keyed and routed by the given functions (i: its position). */
function take<M extends { readonly body: Buffer }>(count: number, next: () => M, key: (m: M, i: number) => string, route: (m: M) => string): SimMessage[] {
  const out: SimMessage[] = [];
  for (let i = 0; i < count; i++) {
    const m = next();
    out.push({ key: key(m, i), delivery: delivery(route(m), m.body, i) });
  }
  return out;
}

/** `count` messages of a domain, routed as the default configuration routes them. */
export function traffic(domain: DomainName, config: Config, o: TrafficOptions): SimMessage[] {
  const invalidRate = o.invalidRate ?? 0.01;
  switch (domain) {
    case 'energy-meter': {
      // `ingestd load --meters 1000 --rate 0`: received_at 1 ms apart, meters round-robin.
      const meters = 1000;
      const gen = createEnergyMeterGenerator({ seed: o.seed, meters, anomalyRate: 0.02, invalidRate, startTime: START_TIME, intervalMs: 1 });
      const keys = Array.from({ length: meters }, (_, i) => meterFingerprint(i));
      return take(o.count, () => gen.next(), (_, i) => keys[i % meters]!, () => config.rabbitmq.ingestRoutingKey);
    }
    case 'grid-telemetry': {
      // README run: 2000 meters, one reading per second each.
      const gen = createGridTelemetryGenerator({ seed: o.seed, meters: 2000, startTime: START_TIME, intervalMs: 1000, anomalyRate: 0.02, invalidRate });
      return take(o.count, () => gen.next(), (m) => m.key, () => config.gridTelemetry.topics.input);
    }
    case 'analytics': {
      // README run: 200 machines; 60 % sensor readings, 20 % health, 10 % sweeps, 10 % lab results.
      const gen = createAnalyticsGenerator({ seed: o.seed, machines: 200, startTime: START_TIME, intervalMs: 100, anomalyRate: 0.02, invalidRate });
      return take(o.count, () => gen.next(), (m) => m.key, (m) => config.analytics.topicPrefix + m.topic);
    }
    case 'chat-events': {
      // `ingestd load --domain chat-events` defaults: two companies, history batches of 10 items.
      const gen = createChatGenerator({ seed: o.seed, companies: ['CompanyAAA01', 'CompanyBBB02'], historyCount: 10, startTime: START_TIME, invalidRate, staleRate: 0.02 });
      return take(o.count, () => gen.next(), (m) => m.subject.split('.')[3] ?? '', (m) => m.subject);
    }
    case 'smart-grid': {
      // README run: 10 000 meters, --anomaly-rate 0.001 (fault/offline spells), 1 ms apart.
      const gen = createSmartGridGenerator({ seed: o.seed, meters: 10_000, startTime: START_TIME, intervalMs: 1, faultRate: 0.001, invalidRate });
      return take(o.count, () => gen.next(), (m) => m.key, () => config.smartGrid.topics.input);
    }
  }
}
