/**
 * Smart-meter transactions for the smart-grid domain: meters placed around five region
 * centres (so the dashboard's map has a shape), consumption by building type on a daily
 * curve, meters that go into fault or offline for a while and come back, and a share of
 * malformed messages. Deterministic for a seed.
 */
import { createRandom } from './random.ts';

export const SMART_GRID_REGIONS = [
  { name: 'north', lat: 52.62, lon: 4.90 },
  { name: 'south', lat: 52.30, lon: 4.88 },
  { name: 'east', lat: 52.46, lon: 5.08 },
  { name: 'west', lat: 52.44, lon: 4.70 },
  { name: 'central', lat: 52.46, lon: 4.89 },
] as const;

const BUILDINGS = [
  { type: 'residential', kwh: 0.35 },
  { type: 'commercial', kwh: 1.6 },
  { type: 'industrial', kwh: 4.2 },
] as const;

export interface SmartGridMessage {
  readonly key: string;
  readonly body: Buffer;
  readonly transactionId: string | null;
  readonly kind: 'valid' | 'fault' | 'offline' | 'invalid';
}

export interface SmartGridSimOptions {
  readonly seed: number;
  readonly meters: number;
  /** Event time of the first message, epoch ms; each message advances it by intervalMs. */
  readonly startTime: number;
  readonly intervalMs: number;
  /** Chance that a healthy meter goes into fault or offline at its next transaction. */
  readonly faultRate: number;
  readonly invalidRate: number;
  /** Multiplies each transaction's energy: a sparser history (one per meter every 2 min) carrying the same power as live traffic. */
  readonly kwhScale?: number;
}

interface Meter {
  readonly id: string;
  readonly region: string;
  readonly building: (typeof BUILDINGS)[number];
  readonly lat: number;
  readonly lon: number;
  status: 'active' | 'fault' | 'offline';
  /** Transactions left in the current fault or offline spell. */
  spell: number;
}

export const smartMeterId = (i: number): string => `SM-${String(i + 1).padStart(5, '0')}`;

export function createSmartGridGenerator(o: SmartGridSimOptions): { next(): SmartGridMessage } {
  const rnd = createRandom(o.seed);
  const meters: Meter[] = Array.from({ length: o.meters }, (_, i) => {
    const region = SMART_GRID_REGIONS[i % SMART_GRID_REGIONS.length]!;
    return {
      id: smartMeterId(i), region: region.name, building: BUILDINGS[rnd.int(0, BUILDINGS.length - 1)]!,
      lat: round(region.lat + rnd.normal(0, 0.035), 5), lon: round(region.lon + rnd.normal(0, 0.05), 5), status: 'active', spell: 0,
    };
  });
  let seq = 0;
  return {
    next() {
      const time = o.startTime + seq * o.intervalMs;
      const m = meters[seq % meters.length]!;
      seq++;
      if (rnd.chance(o.invalidRate)) {
        const bad = rnd.chance(0.5)
          ? '{"transaction_id": "broken'
          : JSON.stringify({ transaction_id: rnd.uuid(), meter_id: m.id, region: m.region, status: 'unknown', consumption_kwh: -1, timestamp: new Date(time).toISOString() });
        return { key: m.id, body: Buffer.from(bad), transactionId: null, kind: 'invalid' };
      }
      if (m.spell > 0) {
        m.spell--;
        if (m.spell === 0) m.status = 'active';
      } else if (rnd.chance(o.faultRate)) {
        m.status = rnd.chance(0.6) ? 'fault' : 'offline';
        m.spell = rnd.int(20, 200);
      }
      // Daily curve: low at night, peaks in the morning and the evening (local to the event time).
      const hour = new Date(time).getUTCHours() + new Date(time).getUTCMinutes() / 60;
      const daily = 0.55 + 0.3 * Math.exp(-((hour - 8) ** 2) / 6) + 0.45 * Math.exp(-((hour - 19) ** 2) / 8);
      const kwh = m.status === 'offline' ? 0 : Math.max(0, rnd.normal(m.building.kwh * daily, m.building.kwh * 0.15)) * (m.status === 'fault' ? 0.2 : 1);
      const transactionId = rnd.uuid();
      const doc = {
        transaction_id: transactionId, meter_id: m.id, region: m.region, status: m.status, building_type: m.building.type,
        consumption_kwh: round(kwh * (o.kwhScale ?? 1), 4), latitude: m.lat, longitude: m.lon, peak_load: round(m.building.kwh * daily * 1.8, 3),
        timestamp: new Date(time).toISOString(),
      };
      return { key: m.id, body: Buffer.from(JSON.stringify(doc)), transactionId, kind: m.status === 'active' ? 'valid' : m.status };
    },
  };
}

const round = (v: number, digits: number): number => Math.round(v * 10 ** digits) / 10 ** digits;
