import { randomBytes } from 'node:crypto';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';

export const NATS_URL = process.env.TEST_NATS_URL ?? 'nats://127.0.0.1:4222';

/** Stream and durable names unique to one test. */
export function uniqueNatsNames(): Record<string, string> {
  const s = randomBytes(4).toString('hex').toUpperCase();
  return { NATS_STREAM: `T_${s}`, NATS_DLQ_STREAM: `T_${s}_DLQ`, NATS_DURABLE: `t_${s}` };
}

export class TestNats {
  readonly nc: NatsConnection;

  private constructor(nc: NatsConnection) {
    this.nc = nc;
  }

  static async open(): Promise<TestNats> {
    return new TestNats(await connect({ servers: NATS_URL }));
  }

  /** Publishes with stream acknowledgements (the stream must exist: the worker creates it). */
  async publish(messages: ReadonlyArray<{ subject: string; body: Buffer }>): Promise<void> {
    const js = jetstream(this.nc);
    for (let i = 0; i < messages.length; i += 500) {
      await Promise.all(messages.slice(i, i + 500).map((m) => js.publish(m.subject, m.body)));
    }
  }

  /** Messages stored in a stream (0 when it does not exist). */
  async streamSize(stream: string): Promise<number> {
    const jsm = await jetstreamManager(this.nc);
    try {
      return (await jsm.streams.info(stream)).state.messages;
    } catch {
      return 0;
    }
  }

  /** Every message of a stream with its headers, read directly by sequence. */
  async readStream(stream: string): Promise<Array<{ subject: string; body: string; headers: Record<string, string> }>> {
    const jsm = await jetstreamManager(this.nc);
    const info = await jsm.streams.info(stream);
    const out: Array<{ subject: string; body: string; headers: Record<string, string> }> = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
      const m = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
      if (m === null) continue;
      const headers: Record<string, string> = {};
      if (m.header !== undefined) for (const k of m.header.keys()) headers[k] = m.header.get(k);
      out.push({ subject: m.subject, body: Buffer.from(m.data).toString(), headers });
    }
    return out;
  }

  /** Deletes every stream that captures one of these subjects (a test broker's leftovers). */
  async deleteStreamsCapturing(...subjects: string[]): Promise<void> {
    const jsm = await jetstreamManager(this.nc);
    for await (const info of jsm.streams.list()) {
      if (info.config.subjects?.some((x) => subjects.includes(x))) await jsm.streams.delete(info.config.name).catch(() => undefined);
    }
  }

  async deleteStreams(...names: string[]): Promise<void> {
    const jsm = await jetstreamManager(this.nc);
    for (const n of names) await jsm.streams.delete(n).catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.nc.close();
  }
}
