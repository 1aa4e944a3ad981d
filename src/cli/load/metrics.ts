/** `--metrics-port`: the run's counters in Prometheus text format while it runs. */
import { once } from 'node:events';
import { createServer } from 'node:http';
import { Counter, Registry } from 'prom-client';
import type { Counts } from './counts.ts';

export interface MetricsServer {
  close(): Promise<void>;
}

export const startMetrics = async (port: number, counts: Counts): Promise<MetricsServer> => {
  const registry = new Registry();
  const counter = (name: string, help: string, value: () => number): void => {
    new Counter({
      name, help, registers: [registry],
      collect() {
        this.reset();
        this.inc(value());
      },
    });
  };
  counter('ingestd_load_messages_sent_total', 'Messages published by ingestd load', () => counts.sent);
  counter('ingestd_load_messages_confirmed_total', 'Messages confirmed (ack) by the broker', () => counts.confirmed);
  counter('ingestd_load_messages_failed_total', 'Messages nacked or lost before confirmation', () => counts.failed);
  const server = createServer((req, res) => {
    if (req.url !== '/metrics' && req.url !== '/') {
      res.writeHead(404).end();
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: unknown) => res.writeHead(500).end(String(err)),
    );
  });
  server.listen(port);
  await once(server, 'listening');
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
};
