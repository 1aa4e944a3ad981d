import type { RollingSettings } from '../../processors/anomaly/western-electric.ts';

export interface AnalyticsSettings {
  /** Schema of every analytics table (DB_SCHEMA). */
  readonly schema: string;
  /** Aggregation windows in seconds (WINDOWS). */
  readonly windowsS: ReadonlyArray<number>;
  /** Enabled sub-domains (DOMAINS_ENABLED: `analytics` for all, or some of sensor, device, sweep, lab). */
  readonly subDomains: ReadonlyArray<string>;
  /** Put before every registered topic (ANALYTICS_TOPIC_PREFIX, e.g. `staging.`): one broker, several environments. */
  readonly topicPrefix: string;
  /** Health statuses that count as available (ANALYTICS_UP_STATUSES). */
  readonly upStatuses: ReadonlyArray<string>;
  /** Rolling control limits for series without a specification. */
  readonly rolling: RollingSettings;
  /** Where anomalies are published: a Kafka topic, or the routing key on the worker exchange. */
  readonly anomalyTopic: string;
  readonly retentionMonths: number;
}
