/**
 * The InfluxDB measurements of SPEC §5.5, named and shaped as the reference consumer wrote
 * them, so existing Grafana boards and queries keep working.
 */
import type { Point } from '../../sinks/influxdb/line-protocol.ts';
import type { Transaction } from './decode.ts';
import type { UnsyncedRegion, UnsyncedSecond } from './store.ts';

export function transactionPoint(t: Transaction): Point {
  return {
    measurement: 'energy_consumption',
    tags: { meter_id: t.meterId, region: t.region, status: t.status, building_type: t.buildingType },
    fields: { consumption_kwh: t.consumptionKwh, latitude: t.latitude, longitude: t.longitude, peak_load: t.peakLoad },
    timeMs: t.timestampMs,
  };
}

/** energy_consumption_aggregate and meter_status (one point per status) of one second. */
export function secondPoints(s: UnsyncedSecond): Point[] {
  const timeMs = Number(s.ms);
  const count = Number(s.reading_count);
  return [
    {
      measurement: 'energy_consumption_aggregate',
      tags: {},
      fields: { total_kwh: s.total_kwh, reading_count: { int: count }, max_kwh: s.max_kwh, min_kwh: s.min_kwh, avg_kwh: count > 0 ? s.total_kwh / count : 0 },
      timeMs,
    },
    { measurement: 'meter_status', tags: { status: 'active' }, fields: { count: { int: Number(s.active_count) } }, timeMs },
    { measurement: 'meter_status', tags: { status: 'fault' }, fields: { count: { int: Number(s.fault_count) } }, timeMs },
    { measurement: 'meter_status', tags: { status: 'offline' }, fields: { count: { int: Number(s.offline_count) } }, timeMs },
  ];
}

/** region_consumption of one region and minute. */
export function regionPoint(r: UnsyncedRegion): Point {
  return {
    measurement: 'region_consumption',
    tags: { region: r.region },
    fields: {
      total_kwh: r.total_kwh, meter_count: { int: r.meter_count },
      average_kwh: r.meter_count > 0 ? r.total_kwh / r.meter_count : 0, max_consumption: r.max_consumption,
    },
    timeMs: Number(r.ms),
  };
}
