import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The Prometheus metrics of SPEC §7 (names are public interface). Labels: domain, source. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const ds = ['domain', 'source'] as const;
  return {
    registry,
    messages: new Counter({ name: 'stream_messages_total', help: 'Messages received and settled', labelNames: ds, registers: [registry] }),
    failed: new Counter({
      name: 'stream_messages_failed_total',
      help: 'Messages dead-lettered, by reason (error code)',
      labelNames: [...ds, 'reason'],
      registers: [registry],
    }),
    retries: new Counter({
      name: 'stream_batch_retries_total',
      help: 'Batch attempts that failed transiently and were retried, by reason (error code)',
      labelNames: [...ds, 'reason'],
      registers: [registry],
    }),
    dlq: new Counter({ name: 'stream_dlq_messages_total', help: 'Messages sent to a dead-letter queue', labelNames: ds, registers: [registry] }),
    duplicates: new Counter({
      name: 'stream_duplicates_skipped_total',
      help: 'Redelivered messages found already stored and skipped',
      labelNames: ds,
      registers: [registry],
    }),
    readings: new Counter({ name: 'stream_readings_total', help: 'Readings stored, by validation status', labelNames: [...ds, 'status'], registers: [registry] }),
    anomalies: new Counter({ name: 'stream_anomalies_detected_total', help: 'Anomalies detected, by type', labelNames: [...ds, 'type'], registers: [registry] }),
    published: new Counter({
      name: 'stream_events_published_total',
      help: 'Derived messages published from the outbox with broker confirms',
      labelNames: ['publisher'],
      registers: [registry],
    }),
    aggregatesWritten: new Counter({
      name: 'stream_aggregates_written_total',
      help: 'Aggregate rows inserted or updated by new readings',
      labelNames: ds,
      registers: [registry],
    }),
    aggregatesPublished: new Counter({
      name: 'stream_aggregates_published_total',
      help: 'Closed aggregates (and their revisions) published from the outbox',
      labelNames: ['publisher'],
      registers: [registry],
    }),
    alertsPublished: new Counter({
      name: 'stream_alerts_published_total',
      help: 'Alerts published from the outbox',
      labelNames: ['publisher'],
      registers: [registry],
    }),
    flushDuration: new Histogram({
      name: 'stream_aggregation_flush_duration',
      help: 'Seconds per periodic domain task run (window flushes, offline checks)',
      labelNames: ['domain', 'task'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    windowedReadings: new Gauge({
      name: 'stream_windowed_readings_gauge',
      help: 'Readings in windows not yet published (open or changed since publication)',
      labelNames: ['domain', 'window'],
      registers: [registry],
    }),
    windowBuckets: new Gauge({
      name: 'stream_window_buckets_gauge',
      help: 'Window rows not yet published (open or changed since publication)',
      labelNames: ['domain', 'window'],
      registers: [registry],
    }),
    outboxPending: new Gauge({
      name: 'stream_outbox_pending_batches',
      help: 'Outbox rows (one per committed batch and publisher) waiting to be published',
      registers: [registry],
    }),
    outboxOldest: new Gauge({
      name: 'stream_outbox_oldest_seconds',
      help: 'Age of the oldest outbox row waiting to be published (0 when none)',
      registers: [registry],
    }),
    outboxFailures: new Counter({
      name: 'stream_outbox_publish_failures_total',
      help: 'Outbox publish attempts that failed (the rows stay and are retried), by publisher',
      labelNames: ['publisher'],
      registers: [registry],
    }),
    dbWrite: new Histogram({
      name: 'db_write_latency_ms',
      help: 'Unit of work (one transaction per batch) duration in milliseconds',
      labelNames: ds,
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000],
      registers: [registry],
    }),
    batchSize: new Histogram({
      name: 'stream_batch_size',
      help: 'Messages per committed batch',
      labelNames: ds,
      buckets: [1, 10, 50, 100, 250, 500, 1000, 2500, 5000],
      registers: [registry],
    }),
    latency: new Histogram({
      name: 'stream_processing_latency_seconds',
      help: 'Receive to commit, per message',
      labelNames: ds,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    lag: new Gauge({ name: 'stream_lag_seconds', help: 'Seconds from the worker receiving the newest message of the last batch to its settle', labelNames: ds, registers: [registry] }),
    inFlight: new Gauge({
      name: 'stream_messages_in_flight',
      help: 'Messages taken from the source and not yet settled; bounded, because the source is asked for no more batches while its limit is reached',
      labelNames: ds,
      registers: [registry],
    }),
    paused: new Gauge({ name: 'stream_paused', help: '1 while consumption is paused (transient failure, retrying)', labelNames: ds, registers: [registry] }),
    kafkaLag: new Gauge({
      name: 'kafka_consumer_lag_messages',
      help: 'Messages between the committed position and the partition end, per partition',
      labelNames: ['topic', 'partition'],
      registers: [registry],
    }),
    kafkaConsumerConnected: new Gauge({ name: 'kafka_consumer_connected', help: '1 while the consumer is a member of its group', registers: [registry] }),
    kafkaProducerConnected: new Gauge({ name: 'kafka_producer_connected', help: '1 while the producer is connected', registers: [registry] }),
    rabbitmqConnected: new Gauge({ name: 'rabbitmq_connected', help: '1 while connected to RabbitMQ', labelNames: ['role'], registers: [registry] }),
    dlqRetried: new Counter({ name: 'stream_dlq_retries_total', help: 'Dead letters re-injected by the retry worker', labelNames: ['source'], registers: [registry] }),
    dlqExhausted: new Counter({ name: 'stream_dlq_exhausted_total', help: 'Dead letters moved to exhausted_events after DLQ_MAX_RETRIES', labelNames: ['source'], registers: [registry] }),
    natsConnected: new Gauge({ name: 'nats_connected', help: '1 while connected to NATS', labelNames: ['role'], registers: [registry] }),
    mqttConnected: new Gauge({ name: 'mqtt_connected', help: '1 while connected to the MQTT broker', registers: [registry] }),
    dbConnected: new Gauge({ name: 'timescaledb_connected', help: '1 while the database answers', registers: [registry] }),
    influxdbConnected: new Gauge({ name: 'influxdb_connected', help: '1 while the last InfluxDB write succeeded', registers: [registry] }),
    influxdbPointsWritten: new Counter({ name: 'influxdb_points_written_total', help: 'Points written to InfluxDB, by retention policy', labelNames: ['policy'], registers: [registry] }),
    influxdbPointsDropped: new Counter({
      name: 'influxdb_points_dropped_total',
      help: 'Points InfluxDB dropped as older than their retention policy (kept in PostgreSQL)',
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
