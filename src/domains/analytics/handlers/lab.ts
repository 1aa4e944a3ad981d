import type { SubDomain } from '../subdomain.ts';
import { envelope, FINITE_NUMBER, IDENTIFIER } from '../envelope.ts';

interface LabPayload {
  tenant_id: string;
  factory_id: string;
  station_id: string;
  sample_id: string;
  analyte: string;
  value: number;
  unit: string;
}

/**
 * A lab result: a measurement of `analyte` at a station (the station is the series' machine),
 * kept with its sample id, which is part of its identity.
 */
export const lab: SubDomain<LabPayload> = {
  name: 'lab',
  topic: 'lab.results',
  schema: envelope(['factory_id', 'station_id', 'sample_id', 'analyte', 'value', 'unit'], {
    factory_id: IDENTIFIER, station_id: IDENTIFIER, sample_id: IDENTIFIER, analyte: IDENTIFIER, value: FINITE_NUMBER,
    unit: { type: 'string', maxLength: 200 },
  }),
  map: (p, time) => [{
    kind: 'measurement', time, tenantId: p.tenant_id, factoryId: p.factory_id, machineId: p.station_id,
    sensorId: '', metric: p.analyte, unit: p.unit, value: p.value, sampleId: p.sample_id,
  }],
};
