/**
 * NATS JetStream transport: each publish awaits the stream's acknowledgement (the
 * confirm); at most --batch-size are in flight per sender. With --declare (default) the
 * stream (NATS_STREAM, MESSAGE_EVENTS) is created or extended to capture the subjects.
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { EnvReader } from '../../config/env.ts';
import { parseNatsServers } from '../../config/tls.ts';
import { redactText, redactUrl } from '../../runtime/redact.ts';
import { natsConnectOptions } from '../../sources/nats/connection.ts';
import { ensureStream } from '../../sources/nats/streams.ts';
import { OptionError, parseUrl } from '../options.ts';
import type { LoadMessage } from './generators.ts';
import { awaitedSender, type Connection, type OpenOptions, type PreparedTransport, type Transport } from './transport.ts';

const SCHEMES = ['nats:'];

export const natsTransport: Transport = {
  kind: 'nats',
  schemes: SCHEMES,
  defaultUrl: (env) => env['NATS_URL'] ?? 'nats://127.0.0.1:4222',
  prepare(url, domain, options, env): PreparedTransport {
    parseUrl(url, '--broker', SCHEMES);
    const route = domain.routes.nats;
    if (route === undefined) throw new OptionError('--broker', `${domain.name} cannot be sent to NATS (nats:) yet`);
    if (options.exchange !== undefined || options.routingKey !== undefined) throw new OptionError('--exchange', 'applies to AMQP brokers only (NATS: --topic is the subject)');
    if (options.partitions !== undefined) throw new OptionError('--partitions', 'applies to Kafka brokers only');
    const perMessage = options.topic === undefined && domain.messageRoutes !== undefined;
    const subject = options.topic ?? route.subject;
    const stream = env['NATS_STREAM'] ?? 'MESSAGE_EVENTS';
    const declare = options.declare ?? true;
    // As the worker reads NATS_URL: the client ignores credentials inside server URLs.
    const r = new EnvReader({});
    const { servers, auth } = parseNatsServers(r, url);
    if (r.problems.length > 0) throw new OptionError('--broker', r.problems[0]!.replace(/^NATS_URL: /, ''));
    const shown = redactUrl(url);
    return {
      broker: shown,
      destination: { stream, [perMessage ? 'subjects' : 'subject']: perMessage ? domain.messageRoutes!.join(', ') : subject },
      async open({ concurrency, batchSize, events }: OpenOptions): Promise<Connection> {
        let nc: NatsConnection;
        try {
          nc = await connect({ ...natsConnectOptions({ servers, auth, tls: undefined }), name: 'ingestd-load' });
        } catch (err) {
          throw new Error(`cannot connect to ${shown}: ${redactText(err instanceof Error ? err.message : String(err))}`, { cause: err });
        }
        try {
          if (declare) await ensureStream(await jetstreamManager(nc), stream, perMessage ? domain.messageRoutes! : [subject]);
        } catch (err) {
          await nc.close();
          throw new Error(`cannot declare stream ${stream}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
        }
        const js = jetstream(nc);
        const publishOne = (m: LoadMessage) => js.publish(perMessage && m.route !== undefined ? m.route : subject, m.body, m.id === '' ? {} : { msgID: m.id });
        const senders = Array.from({ length: concurrency }, () => awaitedSender(publishOne, batchSize, events));
        return {
          senders,
          abandon() {
            for (const s of senders) s.close();
            void nc.close();
          },
          close: async () => {
            await nc.drain().catch(() => nc.close());
          },
        };
      },
    };
  },
};
