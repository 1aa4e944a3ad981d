import type { SubDomain } from '../subdomain.ts';
import { envelope, FINITE_NUMBER, IDENTIFIER, OPTIONAL_IDENTIFIER } from '../envelope.ts';

interface SensorPayload {
  tenant_id: string;
  factory_id: string;
  machine_id: string;
  sensor_id: string;
  metric: string;
  value: number;
  unit?: string;
}

/** A numeric sensor reading: one measurement of (machine, sensor, metric). */
export const sensor: SubDomain<SensorPayload> = {
  name: 'sensor',
  topic: 'sensors.device.readings',
  schema: envelope(['factory_id', 'machine_id', 'sensor_id', 'metric', 'value'], {
    factory_id: IDENTIFIER, machine_id: IDENTIFIER, sensor_id: IDENTIFIER, metric: IDENTIFIER, value: FINITE_NUMBER, unit: OPTIONAL_IDENTIFIER,
  }),
  map: (p, time) => [{
    kind: 'measurement', time, tenantId: p.tenant_id, factoryId: p.factory_id, machineId: p.machine_id,
    sensorId: p.sensor_id, metric: p.metric, unit: p.unit ?? '', value: p.value, sampleId: null,
  }],
};
