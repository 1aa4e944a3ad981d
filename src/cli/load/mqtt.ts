/**
 * MQTT transport: QoS 1 publishes, each confirmed by the broker's PUBACK; at most
 * --batch-size are in flight per sender (one client connection each). MQTT has nothing to
 * declare: a broker queues messages for the persistent sessions subscribed at publish time.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { redactText, redactUrl } from '../../runtime/redact.ts';
import { mqttConnection } from '../../sources/mqtt/connection.ts';
import { OptionError, parseUrl } from '../options.ts';
import { awaitedSender, type Connection, type OpenOptions, type PreparedTransport, type Transport } from './transport.ts';

const SCHEMES = ['mqtt:', 'mqtts:', 'tcp:', 'ssl:', 'ws:', 'wss:'];

export const mqttTransport: Transport = {
  kind: 'mqtt',
  schemes: SCHEMES,
  defaultUrl: (env) => env['MQTT_URL'] ?? 'mqtt://127.0.0.1:1883',
  prepare(url, domain, options): PreparedTransport {
    parseUrl(url, '--broker', SCHEMES);
    const route = domain.routes.mqtt;
    if (route === undefined) throw new OptionError('--broker', `${domain.name} cannot be sent to MQTT (mqtt:) yet`);
    if (options.exchange !== undefined || options.routingKey !== undefined) throw new OptionError('--exchange', 'applies to AMQP brokers only (MQTT: --topic is the topic)');
    if (options.partitions !== undefined) throw new OptionError('--partitions', 'applies to Kafka brokers only');
    if (options.topic !== undefined && /[+#]/.test(options.topic)) throw new OptionError('--topic', `"${options.topic}" is a filter: publish to a topic without + or #`);
    const perMessage = options.topic === undefined && domain.messageRoutes !== undefined;
    const topic = options.topic ?? route.topic;
    return {
      broker: redactUrl(url),
      destination: perMessage ? { topics: domain.messageRoutes!.join(', ') } : { topic },
      async open({ concurrency, batchSize, events }: OpenOptions): Promise<Connection> {
        // As the worker connects: credentials as options (a password may hold a colon).
        const connection = mqttConnection({ url, tls: undefined });
        const clients: MqttClient[] = [];
        const close = async (): Promise<void> => {
          await Promise.all(clients.map((c) => c.endAsync().catch(() => undefined)));
        };
        try {
          for (let i = 0; i < concurrency; i++) {
            // No reconnect: a lost connection ends the run with the count confirmed so far.
            const client = await mqtt.connectAsync(connection.url, { ...connection.options, clean: true, protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 10_000 });
            client.on('error', (err) => events.error(err));
            client.on('close', () => events.error(new Error('connection closed by the broker')));
            clients.push(client);
          }
        } catch (err) {
          await close();
          throw new Error(`cannot connect to ${redactUrl(url)}: ${redactText(err instanceof Error ? err.message : String(err))}`, { cause: err });
        }
        const senders = clients.map((c) => awaitedSender((m) => c.publishAsync(perMessage && m.route !== undefined ? m.route : topic, m.body, { qos: 1 }), batchSize, events));
        return {
          senders,
          abandon() {
            for (const s of senders) s.close();
            for (const c of clients) c.end(true);
          },
          close: async () => {
            for (const s of senders) s.close();
            for (const c of clients) c.removeAllListeners('close');
            await close();
          },
        };
      },
    };
  },
};
