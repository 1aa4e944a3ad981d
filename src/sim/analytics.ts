/**
 * Factory traffic for the analytics topics: sensor readings around each metric's target
 * (with drifts that trip the Western Electric rules and excursions out of spec), device
 * health reports and scores, sweeps and lab results, plus a share of malformed messages.
 * Deterministic for a seed.
 */
import { createRandom } from './random.ts';

export const ANALYTICS_TOPICS = ['sensors.device.readings', 'device.health', 'sensors.sweep.readings', 'lab.results'] as const;

/** The specifications the simulated metrics are made around (operators load theirs). */
export const SIM_SPECS = [
  { metric: 'temp', lsl: 20, usl: 26, target: 23, sigma: 1, unit: 'C' },
  { metric: 'pressure', lsl: 1.8, usl: 2.4, target: 2.1, sigma: 0.1, unit: 'bar' },
  { metric: 'Moisture', lsl: 10, usl: 14, target: 12, sigma: 0.6, unit: '%' },
] as const;

export interface AnalyticsMessage {
  readonly topic: (typeof ANALYTICS_TOPICS)[number];
  readonly key: string;
  readonly body: Buffer;
  readonly kind: 'valid' | 'out-of-spec' | 'drift' | 'invalid';
}

export interface AnalyticsSimOptions {
  readonly seed: number;
  readonly tenants?: ReadonlyArray<string>;
  readonly machines: number;
  /** Event time of the first message, epoch ms; each message advances it by intervalMs. */
  readonly startTime: number;
  readonly intervalMs: number;
  readonly anomalyRate: number;
  readonly invalidRate: number;
}

export function createAnalyticsGenerator(o: AnalyticsSimOptions): { next(): AnalyticsMessage } {
  const rnd = createRandom(o.seed);
  const tenants = o.tenants ?? ['t1', 't2'];
  const drift = new Map<string, number>(); // machine → remaining drifted readings
  let seq = 0;
  return {
    next() {
      const time = o.startTime + seq * o.intervalMs;
      const m = seq % o.machines;
      seq++;
      const tenant = tenants[m % tenants.length]!;
      const machine = `mc-${String(m + 1).padStart(2, '0')}`;
      const base = { time: new Date(time).toISOString(), tenant_id: tenant, factory_id: `f${(m % 2) + 1}` };
      const roll = rnd.next();
      // Keyed by the series' machine (a lab result's is its station), so a series stays on one partition.
      const msg = (topic: AnalyticsMessage['topic'], doc: unknown, kind: AnalyticsMessage['kind'], owner = machine): AnalyticsMessage =>
        ({ topic, key: `${tenant}/${owner}`, body: Buffer.from(typeof doc === 'string' ? doc : JSON.stringify(doc)), kind });
      if (rnd.chance(o.invalidRate)) {
        return rnd.chance(0.5)
          ? msg('sensors.device.readings', '{"time": "not closed', 'invalid')
          : msg('lab.results', { ...base, station_id: 'lab-01', analyte: 'Moisture', value: '12.4' }, 'invalid');
      }
      if (roll < 0.6) {
        const spec = SIM_SPECS[rnd.int(0, 1)]!;
        let kind: AnalyticsMessage['kind'] = 'valid';
        let value = rnd.normal(spec.target, spec.sigma * 0.8);
        const drifting = drift.get(`${machine}/${spec.metric}`) ?? 0;
        if (drifting > 0) {
          value = spec.target + spec.sigma * rnd.float(1.2, 1.9);
          drift.set(`${machine}/${spec.metric}`, drifting - 1);
          kind = 'drift';
        } else if (rnd.chance(o.anomalyRate)) {
          if (rnd.chance(0.5)) {
            value = spec.usl + spec.sigma * rnd.float(0.5, 2);
            kind = 'out-of-spec';
          } else drift.set(`${machine}/${spec.metric}`, 8);
        }
        return msg('sensors.device.readings', { ...base, machine_id: machine, sensor_id: `${spec.metric}-1`, metric: spec.metric, unit: spec.unit, value: round(value) }, kind);
      }
      if (roll < 0.8) {
        const down = rnd.chance(o.anomalyRate * 3);
        return rnd.chance(0.7)
          ? msg('device.health', { ...base, machine_id: machine, status: down ? 'offline' : 'online', level: down ? 'critical' : 'ok' }, 'valid')
          : msg('device.health', { ...base, machine_id: machine, health_score: round(down ? rnd.float(0.1, 0.5) : rnd.float(0.85, 1)) }, 'valid');
      }
      if (roll < 0.9) {
        const readings = Array.from({ length: rnd.int(3, 12) }, () => ({ value: round(rnd.normal(23, 0.5)) }));
        return msg('sensors.sweep.readings', { ...base, machine_id: machine, metric: 'temp', unit: 'C', readings }, 'valid');
      }
      const spec = SIM_SPECS[2];
      const station = `lab-0${(m % 2) + 1}`;
      return msg('lab.results', {
        ...base, station_id: station, sample_id: `S-${seq}`, analyte: spec.metric, unit: spec.unit,
        value: round(rnd.chance(o.anomalyRate) ? spec.usl + 1 : rnd.normal(spec.target, spec.sigma * 0.8)),
      }, 'valid', station);
    },
  };
}

const round = (v: number): number => Math.round(v * 1000) / 1000;
