import { summarize } from '../../../processors/summary.ts';
import type { SubDomain } from '../subdomain.ts';
import { envelope, FINITE_NUMBER, IDENTIFIER, OPTIONAL_IDENTIFIER } from '../envelope.ts';

interface SweepPayload {
  tenant_id: string;
  factory_id: string;
  machine_id: string;
  metric: string;
  unit?: string;
  sensor_id?: string;
  readings: Array<{ value: number }>;
}

/** A sweep: many readings of one metric at once, stored as one event with n/min/max/mean/std. */
export const sweep: SubDomain<SweepPayload> = {
  name: 'sweep',
  topic: 'sensors.sweep.readings',
  schema: envelope(['factory_id', 'machine_id', 'metric', 'readings'], {
    factory_id: IDENTIFIER, machine_id: IDENTIFIER, metric: IDENTIFIER, unit: OPTIONAL_IDENTIFIER, sensor_id: OPTIONAL_IDENTIFIER,
    readings: {
      type: 'array', minItems: 1, maxItems: 100_000,
      items: { type: 'object', required: ['value'], properties: { value: FINITE_NUMBER } },
    },
  }),
  map: (p, time) => {
    const s = summarize(p.readings.map((r) => r.value));
    return [{
      kind: 'event', time, tenantId: p.tenant_id, factoryId: p.factory_id, entityType: 'machine', entityId: p.machine_id,
      eventType: 'sweep', value: s.mean, discriminator: `${p.sensor_id ?? ''}\u0000${p.metric}`,
      payload: { metric: p.metric, unit: p.unit ?? '', sensor_id: p.sensor_id ?? null, n: s.n, min: s.min, max: s.max, mean: s.mean, std: s.std },
    }];
  },
};
