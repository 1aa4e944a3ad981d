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

/** `count` messages of a domain, routed as the default configuration routes them. */
export function traffic(domain: DomainName, config: Config, o: TrafficOptions): SimMessage[] {
  const invalidRate = o.invalidRate ?? 0.01;
  const out: SimMessage[] = [];
  switch (domain) {
    case 'energy-meter': {
      // `ingestd load --meters 1000 --rate 0`: received_at 1 ms apart, meters round-robin.
      const meters = 1000;
      const gen = createEnergyMeterGenerator({ seed: o.seed, meters, anomalyRate: 0.02, invalidRate, startTime: START_TIME, intervalMs: 1 });
      const keys = Array.from({ length: meters }, (_, i) => meterFingerprint(i));
      const route = config.rabbitmq.ingestRoutingKey;
      for (let i = 0; i < o.count; i++) out.push({ key: keys[i % meters]!, delivery: delivery(route, gen.next().body, i) });
      break;
    }
    case 'grid-telemetry': {
      // README run: 2000 meters, one reading per second each.
      const gen = createGridTelemetryGenerator({ seed: o.seed, meters: 2000, startTime: START_TIME, intervalMs: 1000, anomalyRate: 0.02, invalidRate });
      const route = config.gridTelemetry.topics.input;
      for (let i = 0; i < o.count; i++) {
        const m = gen.next();
        out.push({ key: m.key, delivery: delivery(route, m.body, i) });
      }
      break;
    }
    case 'analytics': {
      // README run: 200 machines; 60 % sensor readings, 20 % health, 10 % sweeps, 10 % lab results.
      const gen = createAnalyticsGenerator({ seed: o.seed, machines: 200, startTime: START_TIME, intervalMs: 100, anomalyRate: 0.02, invalidRate });
      for (let i = 0; i < o.count; i++) {
        const m = gen.next();
        out.push({ key: m.key, delivery: delivery(config.analytics.topicPrefix + m.topic, m.body, i) });
      }
      break;
    }
    case 'chat-events': {
      // `ingestd load --domain chat-events` defaults: two companies, history batches of 10 items.
      const gen = createChatGenerator({ seed: o.seed, companies: ['CompanyAAA01', 'CompanyBBB02'], historyCount: 10, startTime: START_TIME, invalidRate, staleRate: 0.02 });
      for (let i = 0; i < o.count; i++) {
        const m = gen.next();
        out.push({ key: m.subject.split('.')[3] ?? '', delivery: delivery(m.subject, m.body, i) });
      }
      break;
    }
    case 'smart-grid': {
      // README run: 10 000 meters, --anomaly-rate 0.001 (fault/offline spells), 1 ms apart.
      const gen = createSmartGridGenerator({ seed: o.seed, meters: 10_000, startTime: START_TIME, intervalMs: 1, faultRate: 0.001, invalidRate });
      const route = config.smartGrid.topics.input;
      for (let i = 0; i < o.count; i++) {
        const m = gen.next();
        out.push({ key: m.key, delivery: delivery(route, m.body, i) });
      }
      break;
    }
  }
  return out;
}
