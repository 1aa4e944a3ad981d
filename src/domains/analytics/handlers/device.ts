import type { AnalyticsRecord } from '../records.ts';
import type { SubDomain } from '../subdomain.ts';
import { envelope, FINITE_NUMBER, IDENTIFIER, OPTIONAL_IDENTIFIER } from '../envelope.ts';

interface DevicePayload {
  tenant_id: string;
  factory_id: string;
  machine_id: string;
  status?: string;
  level?: string;
  health_score?: number;
}

/**
 * Device health: a status report (an event `health.<status>`, with its level) and/or a
 * `health_score` (a measurement of metric `health_score`). Status reports feed the
 * availability KPI.
 */
export const device: SubDomain<DevicePayload> = {
  name: 'device',
  topic: 'device.health',
  schema: {
    ...envelope(['factory_id', 'machine_id'], {
      factory_id: IDENTIFIER, machine_id: IDENTIFIER,
      status: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.-]+$' },
      level: OPTIONAL_IDENTIFIER, health_score: FINITE_NUMBER,
    }),
    // A report carries a status, a score, or both.
    anyOf: [{ properties: { status: true }, required: ['status'] }, { properties: { health_score: true }, required: ['health_score'] }],
  },
  map: (p, time) => {
    const out: AnalyticsRecord[] = [];
    if (p.status !== undefined) {
      const status = p.status.toLowerCase();
      out.push({
        kind: 'event', time, tenantId: p.tenant_id, factoryId: p.factory_id, entityType: 'machine', entityId: p.machine_id,
        eventType: `health.${status}`, value: null, discriminator: '', payload: { status, level: p.level ?? null },
      });
    }
    if (p.health_score !== undefined) {
      out.push({
        kind: 'measurement', time, tenantId: p.tenant_id, factoryId: p.factory_id, machineId: p.machine_id,
        sensorId: '', metric: 'health_score', unit: '', value: p.health_score, sampleId: null,
      });
    }
    return out;
  },
};
