/**
 * RabbitMQ transport: a durable topic exchange (asserted unless --no-declare), one confirm
 * channel per sender, persistent mandatory publishes, 'drain' backpressure, and returned
 * messages counted as unroutable.
 */
import amqp from 'amqplib';
import type { ChannelModel, ConfirmChannel, Options as AmqpOptions } from 'amqplib';
import { redactUrl } from '../../runtime/redact.ts';
import { drained } from '../../sources/amqp/drained.ts';
import { OptionError, parseUrl } from '../options.ts';
import type { LoadMessage } from './generators.ts';
import type { Connection, OpenOptions, PreparedTransport, Sender, SendEvents, Transport } from './transport.ts';

export const DEFAULT_AMQP_URL = 'amqp://guest:guest@127.0.0.1:5672';
export const DEFAULT_EXCHANGE = 'energy-metering.ingest.exchange';
export const DEFAULT_ROUTING_KEY = 'meter.reading.ingested';

/** Publishes on one confirm channel; flush waits until the broker has confirmed everything published. */
const channelSender = (ch: ConfirmChannel, exchange: string, routingKey: string, perMessage: boolean, events: SendEvents): Sender => {
  let outstanding = 0;
  let closed = false;
  let allConfirmed: (() => void) | null = null;
  // One callback for every message: amqplib calls it with null (ack) or an error (nack, channel closed).
  const onConfirm = (err: unknown): void => {
    outstanding--;
    if (err === null || err === undefined) events.confirmed(1);
    else events.failed(1);
    if (outstanding === 0 && allConfirmed !== null) {
      const resolve = allConfirmed;
      allConfirmed = null;
      resolve();
    }
  };
  ch.on('error', events.error);
  ch.on('close', () => {
    closed = true;
  });
  ch.on('return', () => events.unroutable(1));
  // amqplib copies the options while encoding, so one object serves every publish.
  const props: AmqpOptions.Publish = { persistent: true, contentType: 'application/json', mandatory: true, messageId: '' };
  return {
    publish(msg: LoadMessage) {
      if (closed) return false;
      props.messageId = msg.id;
      let flowing: boolean;
      try {
        flowing = ch.publish(exchange, perMessage && msg.route !== undefined ? msg.route : routingKey, msg.body, props, onConfirm);
      } catch (err) {
        events.error(err);
        closed = true;
        return false;
      }
      outstanding++;
      return flowing || closed ? true : drained(ch);
    },
    flush: () => (outstanding === 0 ? Promise.resolve() : new Promise<void>((resolve) => (allConfirmed = resolve))),
  };
};

const declareExchange = async (conn: ChannelModel, exchange: string): Promise<void> => {
  const ch = await conn.createChannel();
  ch.on('error', () => {});
  try {
    await ch.assertExchange(exchange, 'topic', { durable: true });
  } catch (err) {
    throw new Error(`cannot declare exchange "${exchange}" as a durable topic exchange: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  await ch.close();
};

const SCHEMES = ['amqp:', 'amqps:'];

export const amqpTransport: Transport = {
  kind: 'amqp',
  schemes: SCHEMES,
  defaultUrl: (env) => env['RABBITMQ_URL'] ?? DEFAULT_AMQP_URL,
  prepare(url, domain, options, env): PreparedTransport {
    parseUrl(url, '--broker', SCHEMES);
    if (options.partitions !== undefined) throw new OptionError('--partitions', 'applies to Kafka brokers only');
    const route = domain.routes.amqp;
    if (route === undefined) throw new OptionError('--broker', `${domain.name} cannot be sent to RabbitMQ (amqp:) yet`);
    if (options.topic !== undefined && options.routingKey !== undefined && options.topic !== options.routingKey) {
      throw new OptionError('--topic', `conflicts with --routing-key ("${options.topic}" vs "${options.routingKey}"); give one of them`);
    }
    const exchange = options.exchange ?? env['RABBITMQ_INGEST_EXCHANGE'] ?? DEFAULT_EXCHANGE;
    const routingKey = options.routingKey ?? options.topic ?? route.routingKey ?? env['RABBITMQ_INGEST_ROUTING_KEY'] ?? DEFAULT_ROUTING_KEY;
    const declare = options.declare ?? true;
    const perMessage = options.routingKey === undefined && options.topic === undefined && domain.messageRoutes !== undefined;
    return {
      broker: redactUrl(url),
      destination: perMessage ? { exchange, 'routing keys': domain.messageRoutes!.join(', ') } : { exchange, 'routing key': routingKey },
      async open({ concurrency, events }: OpenOptions): Promise<Connection> {
        let conn: ChannelModel;
        try {
          conn = await amqp.connect(url, { clientProperties: { connection_name: 'ingestd-load' } });
        } catch (err) {
          throw new Error(`cannot connect to ${redactUrl(url)}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
        }
        let closing = false;
        const channels: ConfirmChannel[] = [];
        const close = async (): Promise<void> => {
          closing = true;
          // Closing an open connection also closes its channels; errors here change nothing.
          await conn.close().catch(() => {});
        };
        conn.on('error', events.error);
        conn.on('close', () => {
          if (!closing) events.error(new Error('connection closed by the broker'));
        });
        try {
          if (declare) await declareExchange(conn, exchange);
          for (let i = 0; i < concurrency; i++) channels.push(await conn.createConfirmChannel());
        } catch (err) {
          await close();
          throw err;
        }
        return {
          senders: channels.map((ch) => channelSender(ch, exchange, routingKey, perMessage, events)),
          abandon() {
            closing = true;
            // Outstanding confirm callbacks then run with an error, which resolves every flush.
            for (const ch of channels) ch.close().catch(() => {});
          },
          close,
        };
      },
    };
  },
};
