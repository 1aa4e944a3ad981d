import type { SpikeSettings } from '../../processors/anomaly/rolling-mean-spike.ts';
import type { ReadingRules } from './validate.ts';

export interface EnergyMeterSettings {
  readonly rules: ReadingRules;
  readonly spike: SpikeSettings;
  /** Exchange the reading events go to (RABBITMQ_WORKER_EXCHANGE). */
  readonly outputExchange: string;
  /** Months of raw readings kept when partitioning natively (TimescaleDB: its retention policy). */
  readonly retentionMonths: number;
}
