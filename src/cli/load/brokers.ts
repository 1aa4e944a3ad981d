/** The brokers `ingestd load` can publish to, chosen by the --broker URL's scheme. */
import { OptionError } from '../options.ts';
import { amqpTransport } from './amqp.ts';
import type { BrokerKind, LoadDomain } from './generators.ts';
import { kafkaTransport } from './kafka.ts';
import { mqttTransport } from './mqtt.ts';
import { natsTransport } from './nats.ts';
import type { Transport } from './transport.ts';

export const TRANSPORTS: readonly Transport[] = [amqpTransport, kafkaTransport, natsTransport, mqttTransport];

const byKind = (kind: BrokerKind): Transport => TRANSPORTS.find((t) => t.kind === kind)!;

/** The transport for a URL, and the URL (the domain's default broker when none is given). */
export const transportFor = (url: string | undefined, domain: LoadDomain, env: NodeJS.ProcessEnv): { transport: Transport; url: string } => {
  if (url === undefined) {
    const transport = byKind(domain.defaultBroker);
    return { transport, url: transport.defaultUrl(env) };
  }
  const text = url.trim();
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*:)\/\//.exec(text)?.[1]?.toLowerCase();
  const schemes = TRANSPORTS.flatMap((t) => t.schemes);
  if (scheme === undefined) {
    // A malformed URL may still hold a password: only echo values without credentials.
    const shown = text.includes('@') ? 'the value' : `"${text}"`;
    throw new OptionError('--broker', `${shown} is not a broker URL (e.g. amqp://guest:guest@127.0.0.1:5672 or kafka://127.0.0.1:9092)`);
  }
  const transport = TRANSPORTS.find((t) => t.schemes.includes(scheme));
  if (transport === undefined) throw new OptionError('--broker', `unsupported scheme "${scheme}" (expected ${schemes.join(', ')})`);
  return { transport, url: text };
};
