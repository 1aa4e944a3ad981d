/**
 * What a broker needs to provide for `ingestd load`. A transport turns a URL and the
 * run's options into a destination (checked before anything connects), then opens
 * `concurrency` senders. `run.ts` does the pacing, counting and reporting; a transport
 * only moves bytes and reports confirmations. Adding a broker = one module implementing
 * `Transport`, listed in `brokers.ts`.
 */
import type { BrokerKind, LoadDomain, LoadMessage } from './generators.ts';

/** What a sender reports; the counters live in run.ts. */
export interface SendEvents {
  /** n messages confirmed by the broker. */
  confirmed(n: number): void;
  /** n messages rejected by the broker (nack, failed produce request). */
  failed(n: number): void;
  /** n confirmed messages the broker could not route anywhere. */
  unroutable(n: number): void;
  /** The run cannot go on (connection lost, channel error): stop and report it. */
  error(err: unknown): void;
}

/** One publisher (an AMQP channel, a Kafka producer), used by one send loop at a time. */
export interface Sender {
  /**
   * Hands one message to the broker, in order. Returns false if the sender is closed and did
   * not take it; true if it did; or a promise if it did and the caller must wait for it
   * before the next publish (backpressure).
   */
  publish(message: LoadMessage): boolean | Promise<void>;
  /** Resolves once every message taken so far has been confirmed or has failed. */
  flush(): Promise<void>;
}

export interface Connection {
  /** `concurrency` senders. */
  readonly senders: readonly Sender[];
  /** Gives up on outstanding confirmations (after Ctrl-C, when the broker takes too long): pending flushes resolve. */
  abandon(): void;
  /** Closes everything; never throws. */
  close(): Promise<void>;
}

/** The options a transport may read (from LoadOptions). */
export interface DestinationOptions {
  readonly exchange?: string;
  readonly routingKey?: string;
  readonly topic?: string;
  readonly partitions?: number;
  /** Declare the destination first (AMQP: assert the exchange; Kafka: create the topic if missing). */
  readonly declare?: boolean;
}

export interface OpenOptions {
  readonly concurrency: number;
  readonly batchSize: number;
  readonly events: SendEvents;
}

/** A checked destination, ready to connect. */
export interface PreparedTransport {
  /** The broker URL for display, password redacted. */
  readonly broker: string;
  /** Where messages go, in display order (e.g. exchange + routing key, or topic). */
  readonly destination: Readonly<Record<string, string>>;
  /** Connects, declares if asked, opens the senders. Errors name the broker. */
  open(o: OpenOptions): Promise<Connection>;
}

export interface Transport {
  readonly kind: BrokerKind;
  /** URL schemes, with the colon (`amqp:`). */
  readonly schemes: readonly string[];
  /** The URL used when --broker is not given. */
  defaultUrl(env: NodeJS.ProcessEnv): string;
  /** Checks the URL and options for the domain, throwing OptionError (exit 2) on bad usage. */
  prepare(url: string, domain: LoadDomain, options: DestinationOptions, env: NodeJS.ProcessEnv): PreparedTransport;
}

/**
 * A sender over a client whose publish returns a promise per message (JetStream stream
 * acknowledgement, MQTT PUBACK): at most `batchSize` unconfirmed at once, the first failure
 * ends the run.
 */
export const awaitedSender = (publishOne: (m: LoadMessage) => Promise<unknown>, batchSize: number, events: SendEvents): Sender & { close(): void } => {
  const inFlight = new Set<Promise<void>>();
  let closed = false;
  return {
    publish(m: LoadMessage) {
      if (closed) return false;
      const p: Promise<void> = publishOne(m).then(
        () => events.confirmed(1),
        (err: unknown) => {
          events.failed(1);
          if (!closed) events.error(err);
          closed = true;
        },
      ).finally(() => inFlight.delete(p));
      inFlight.add(p);
      return inFlight.size >= batchSize ? Promise.race(inFlight) : true;
    },
    flush: async () => {
      await Promise.all(inFlight);
    },
    close() {
      closed = true;
    },
  };
};
