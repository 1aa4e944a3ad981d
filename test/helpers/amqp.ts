import { randomBytes } from 'node:crypto';
import amqp, { type ChannelModel, type ConfirmChannel, type GetMessage } from 'amqplib';

export const AMQP_URL = process.env.TEST_RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

/** Topology names unique to one test, so tests never see each other's messages. */
export function uniqueTopology(): Record<string, string> {
  const s = randomBytes(4).toString('hex');
  return {
    RABBITMQ_INGEST_EXCHANGE: `t.${s}.ingest.exchange`,
    RABBITMQ_INGEST_QUEUE: `t.${s}.ingest.queue`,
    RABBITMQ_INGEST_ROUTING_KEY: 'meter.reading.ingested',
    RABBITMQ_WORKER_EXCHANGE: `t.${s}.worker.events.exchange`,
    RABBITMQ_DLQ_QUEUE: `t.${s}.ingest.dlq`,
  };
}

export class TestBroker {
  readonly model: ChannelModel;
  readonly ch: ConfirmChannel;
  readonly topo: Record<string, string>;

  private constructor(model: ChannelModel, ch: ConfirmChannel, topo: Record<string, string>) {
    this.model = model;
    this.ch = ch;
    this.topo = topo;
  }

  static async open(topo: Record<string, string>): Promise<TestBroker> {
    const model = await amqp.connect(AMQP_URL);
    const ch = await model.createConfirmChannel();
    await ch.assertExchange(topo.RABBITMQ_INGEST_EXCHANGE!, 'topic', { durable: true });
    await ch.assertExchange(topo.RABBITMQ_WORKER_EXCHANGE!, 'topic', { durable: true });
    return new TestBroker(model, ch, topo);
  }

  async publish(bodies: ReadonlyArray<string | Buffer>): Promise<void> {
    for (const b of bodies) {
      this.ch.publish(this.topo.RABBITMQ_INGEST_EXCHANGE!, this.topo.RABBITMQ_INGEST_ROUTING_KEY!, Buffer.isBuffer(b) ? b : Buffer.from(b), { persistent: true });
    }
    await this.ch.waitForConfirms();
  }

  /** A queue bound to the worker-events exchange, to capture the output events. */
  async captureEvents(): Promise<string> {
    const { queue } = await this.ch.assertQueue('', { exclusive: true });
    await this.ch.bindQueue(queue, this.topo.RABBITMQ_WORKER_EXCHANGE!, '#');
    return queue;
  }

  async drain(queue: string): Promise<GetMessage[]> {
    const out: GetMessage[] = [];
    for (;;) {
      const m = await this.ch.get(queue, { noAck: true });
      if (m === false) return out;
      out.push(m);
    }
  }

  async depth(queue: string): Promise<number> {
    return (await this.ch.checkQueue(queue)).messageCount;
  }

  /** Closes the connection and leaves the topology in place. */
  async disconnect(): Promise<void> {
    await this.model.close().catch(() => undefined);
  }

  /** Deletes this test's queues and exchanges, then disconnects. */
  async close(): Promise<void> {
    for (const q of [this.topo.RABBITMQ_INGEST_QUEUE!, this.topo.RABBITMQ_DLQ_QUEUE!]) await this.ch.deleteQueue(q).catch(() => undefined);
    for (const e of [this.topo.RABBITMQ_INGEST_EXCHANGE!, this.topo.RABBITMQ_WORKER_EXCHANGE!]) await this.ch.deleteExchange(e).catch(() => undefined);
    await this.model.close().catch(() => undefined);
  }
}
