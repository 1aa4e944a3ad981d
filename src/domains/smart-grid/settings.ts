import type { InfluxSettings } from '../../sinks/influxdb/client.ts';

export interface SmartGridSettings {
  readonly topics: { readonly input: string; readonly alerts: string };
  /** InfluxDB 1.x; undefined when INFLUXDB_URL is not set (PostgreSQL only). */
  readonly influx: InfluxSettings | undefined;
  /** How often changed aggregate rows are written to InfluxDB (INFLUXDB_BATCH_TIMEOUT). */
  readonly influxFlushIntervalMs: number;
  /** How long (event time) a region's minute remembers which meters it counted. */
  readonly distinctRetentionMs: number;
  readonly retentionMonths: number;
}
