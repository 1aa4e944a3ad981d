/**
 * The messages and how they go out. Messages come from the project's generators
 * (`createLoadGenerator`, the code behind `ingestd load`) and go out through the load
 * command's own transports (kafkajs, amqplib, JetStream senders with broker confirms); MQTT,
 * which `ingestd load` does not speak, through mqtt.js with QoS 1.
 */
import { performance } from 'node:perf_hooks';
import mqtt from 'mqtt';
import { createLoadGenerator, loadDomain, type LoadMessage } from '../../src/cli/load/generators.ts';
import type { Connection, SendEvents } from '../../src/cli/load/transport.ts';
import { decodeMeterMessage } from '../../src/domains/energy-meter/decode.ts';
import { decodeGridReading } from '../../src/domains/grid-telemetry/decode.ts';
import { decodeTransaction } from '../../src/domains/smart-grid/decode.ts';
import { benchConfig } from '../lib.ts';
import { hex, MQTT_URL, nowMs, sleep, type E2eDomain } from './common.ts';

export interface Traffic {
  readonly messages: ReadonlyArray<LoadMessage>;
  /** Rows the worker stores for them (distinct decodable messages; energy-meter: their readings). */
  readonly rows: number;
  /** Messages that decode (the rest are dead letters). */
  readonly decodable: number;
  /** The generator options, as `ingestd load` flags. */
  readonly flags: string;
}

export interface TrafficOptions {
  readonly seed: number;
  readonly count: number;
  readonly meters: number;
  readonly startTime: number;
  /** grid-telemetry: event time between two readings of a meter; energy-meter: received_at step. */
  readonly intervalMs?: number;
  readonly rate?: number;
  readonly anomalyRate?: number;
  readonly invalidRate?: number;
}

/** The messages `ingestd load --domain <d> --seed … --count …` sends, and what the worker will store of them. */
export function traffic(domain: E2eDomain, o: TrafficOptions): Traffic {
  const anomalyRate = o.anomalyRate ?? 0.02;
  const invalidRate = o.invalidRate ?? 0.01;
  const gen = createLoadGenerator(loadDomain(domain), {
    seed: o.seed, meters: o.meters, startTime: o.startTime, intervalMs: o.intervalMs, rate: o.rate ?? 0,
    anomalyRate, invalidRate, outOfOrderRate: 0, lateRate: 0,
  });
  const messages = Array.from({ length: o.count }, () => gen.next());
  const seen = new Set<string>();
  let rows = 0;
  let decodable = 0;
  const rules = benchConfig().energyMeter.rules;
  for (const m of messages) {
    try {
      if (domain === 'grid-telemetry' || domain === 'smart-grid') {
        const { messageId } = domain === 'grid-telemetry' ? decodeGridReading(m.body) : decodeTransaction(m.body);
        decodable++;
        if (!seen.has(messageId)) rows++;
        seen.add(messageId);
      } else {
        const { messageId, value } = decodeMeterMessage(m.body, rules);
        decodable++;
        if (!seen.has(messageId)) rows += value.readings.length;
        seen.add(messageId);
      }
    } catch {
      // dead letter
    }
  }
  const flags = `--domain ${domain} --seed ${o.seed} --count ${o.count} --meters ${o.meters} --anomaly-rate ${anomalyRate} --invalid-rate ${invalidRate}` +
    ` --start-time ${new Date(o.startTime).toISOString()}${o.intervalMs === undefined ? '' : ` --interval ${o.intervalMs}ms`}`;
  return { messages, rows, decodable, flags };
}

/** A publisher with broker confirms: publish() may return a promise to wait for (backpressure). */
export interface RigSender {
  publish(m: LoadMessage): boolean | Promise<void>;
  /** Called with n each time the broker confirms the next n messages (in publish order, near enough). */
  onConfirm: ((n: number) => void) | undefined;
  /** Resolves once every message so far is confirmed; throws if any failed. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** A load-command transport's first sender, with its confirmations counted. */
export async function transportSender(open: (events: SendEvents) => Promise<Connection>, adapt: (m: LoadMessage) => LoadMessage = (m) => m): Promise<RigSender> {
  let failed = 0;
  let unroutable = 0;
  let error: unknown;
  let self: RigSender | undefined;
  const conn = await open({
    confirmed: (n) => self?.onConfirm?.(n),
    failed: (n) => void (failed += n),
    unroutable: (n) => void (unroutable += n),
    error: (err) => void (error ??= err),
  });
  const sender = conn.senders[0]!;
  self = {
    onConfirm: undefined,
    publish: (m) => {
      const r = sender.publish(adapt(m));
      if (r === false) throw new Error(`publisher closed: ${String(error)}`);
      return r;
    },
    flush: async () => {
      await sender.flush();
      if (error !== undefined || failed > 0 || unroutable > 0) {
        throw new Error(`publish failed: ${failed} failed, ${unroutable} unroutable${error === undefined ? '' : `: ${(error as Error).message ?? String(error)}`}`);
      }
    },
    close: () => conn.close(),
  };
  return self;
}

/** QoS 1 publisher on mqtt.js (`ingestd load` has no MQTT transport): at most `window` unacknowledged. */
export async function mqttSender(topic: string, window = 500): Promise<RigSender> {
  const client = await mqtt.connectAsync(MQTT_URL, { clientId: `e2e-pub-${hex(4)}`, clean: true, protocolVersion: 5, reconnectPeriod: 0 });
  let inFlight = 0;
  let error: Error | undefined;
  const waiters: Array<() => void> = [];
  const wake = (): void => {
    for (const w of waiters.splice(0)) w();
  };
  const self: RigSender = {
    onConfirm: undefined,
    publish: (m) => {
      if (error !== undefined) throw error;
      inFlight++;
      client.publish(topic, m.body, { qos: 1 }, (err) => {
        inFlight--;
        if (err) error ??= err;
        else self.onConfirm?.(1);
        wake();
      });
      if (inFlight < window) return true;
      return new Promise<void>((resolve) => waiters.push(resolve));
    },
    flush: async () => {
      while (inFlight > 0) await new Promise<void>((resolve) => waiters.push(resolve));
      if (error !== undefined) throw error;
    },
    close: () => client.endAsync(),
  };
  return self;
}

/** Publishes every message as fast as the broker confirms them. */
export async function publishAll(sender: RigSender, messages: ReadonlyArray<LoadMessage>, signal: AbortSignal): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < messages.length; i++) {
    const r = sender.publish(messages[i]!);
    if (r !== true) await r;
    if ((i & 4095) === 0) signal.throwIfAborted();
  }
  await sender.flush();
  return (messages.length * 1000) / (performance.now() - t0);
}

/**
 * Publishes at a steady `rate` (msg/s): every ~1 ms, the messages now due go out, each
 * stamped with nowMs() just before its publish call. Returns the stamps, by index, and
 * when the broker confirmed each (the n-th confirmation taken as the n-th message's).
 */
export async function publishPaced(
  sender: RigSender, messages: ReadonlyArray<LoadMessage>, rate: number, signal: AbortSignal,
): Promise<{ stamps: Float64Array; confirms: Float64Array; seconds: number }> {
  const stamps = new Float64Array(messages.length);
  const confirms = new Float64Array(messages.length);
  let confirmed = 0;
  sender.onConfirm = (n) => {
    const t = nowMs();
    for (const end = Math.min(messages.length, confirmed + n); confirmed < end; confirmed++) confirms[confirmed] = t;
  };
  const t0 = performance.now();
  let sent = 0;
  while (sent < messages.length) {
    signal.throwIfAborted();
    const due = Math.min(messages.length, Math.floor(((performance.now() - t0) * rate) / 1000) + 1);
    while (sent < due) {
      stamps[sent] = nowMs();
      const r = sender.publish(messages[sent]!);
      sent++;
      if (r !== true) await r;
    }
    await sleep(1);
  }
  const seconds = (performance.now() - t0) / 1000;
  await sender.flush();
  sender.onConfirm = undefined;
  return { stamps, confirms, seconds };
}
