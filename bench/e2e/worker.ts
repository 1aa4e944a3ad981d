/**
 * `ingestd run` as a child process, started through bin/ingestd.js: readiness, its
 * /metrics, its peak RSS (VmHWM of /proc/<pid>/status), a graceful stop.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { BIN, round, sleep } from './common.ts';
import type { Scratch } from './scratch.ts';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** What the worker says about its own batches (db_write_latency_ms, stream_batch_size, stream_processing_latency_seconds). */
export class WorkerMetrics {
  readonly #m: ReadonlyMap<string, number>;

  constructor(m: ReadonlyMap<string, number>) {
    this.#m = m;
  }

  get(name: string): number {
    return this.#m.get(name) ?? 0;
  }

  /** The figures of the interval since `before` (the whole life without it). */
  since(before?: WorkerMetrics): { transactions: number; meanTxMs: number; meanBatch: number; meanReceiveToCommitMs: number } {
    const d = (name: string): number => this.get(name) - (before?.get(name) ?? 0);
    const tx = d('db_write_latency_ms_count');
    const batches = d('stream_batch_size_count');
    const received = d('stream_processing_latency_seconds_count');
    return {
      transactions: tx,
      meanTxMs: tx === 0 ? Number.NaN : d('db_write_latency_ms_sum') / tx,
      meanBatch: batches === 0 ? Number.NaN : d('stream_batch_size_sum') / batches,
      meanReceiveToCommitMs: received === 0 ? Number.NaN : (d('stream_processing_latency_seconds_sum') * 1000) / received,
    };
  }

  /** One line for the notes. */
  static describe(f: ReturnType<WorkerMetrics['since']>): string {
    return `worker metrics: ${f.transactions} transactions of ${f.meanBatch.toFixed(0)} messages, ${f.meanTxMs.toFixed(0)} ms each on average, receive→commit ${f.meanReceiveToCommitMs.toFixed(0)} ms on average`;
  }
}

/** `ingestd run` as a child process, as an operator runs it (cf. test/helpers/worker.ts). */
export class WorkerProc {
  readonly name: string;
  readonly port: number;
  readonly logFile: string;
  readonly #child: ChildProcess;

  private constructor(name: string, port: number, logFile: string, child: ChildProcess) {
    this.name = name;
    this.port = port;
    this.logFile = logFile;
    this.#child = child;
  }

  /** Started and registered for clean-up (SIGKILL if still running then). */
  static async start(scratch: Scratch, name: string, env: Record<string, string>, dir: string): Promise<WorkerProc> {
    const port = await freePort();
    const logFile = path.join(dir, `${name}.log`);
    const log = createWriteStream(logFile, { flags: 'a' });
    // Through bin/ingestd.js, as `npx ingestd run` starts it; its `env node` is this Node.
    const child = spawn(BIN, ['run'], {
      env: {
        ...process.env, PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env['PATH'] ?? ''}`,
        LOG_LEVEL: 'info', ...env, PORT: String(port), API_HOST: '127.0.0.1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.pipe(log);
    child.stderr!.pipe(log);
    const w = new WorkerProc(name, port, logFile, child);
    scratch.defer(`worker ${name}`, () => w.stop('SIGKILL'));
    return w;
  }

  get pid(): number {
    return this.#child.pid!;
  }

  get running(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  async waitReady(signal: AbortSignal, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      signal.throwIfAborted();
      if (!this.running) throw new Error(`worker ${this.name} exited (${this.#child.exitCode ?? this.#child.signalCode}); log: ${this.logFile}`);
      try {
        if ((await fetch(`http://127.0.0.1:${this.port}/ready`)).status === 200) return;
      } catch {
        // not listening yet
      }
      await sleep(100);
    }
    throw new Error(`worker ${this.name} not ready after ${timeoutMs / 1000} s; log: ${this.logFile}`);
  }

  /** The worker's /metrics, each series summed over its labels (`name_sum`, `name_count`, counters). */
  async metrics(): Promise<WorkerMetrics> {
    const text = await (await fetch(`http://127.0.0.1:${this.port}/metrics`)).text();
    const out = new Map<string, number>();
    for (const line of text.split('\n')) {
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{[^}]*\})?\s+(\S+)$/.exec(line);
      if (m === null || line.includes('le="')) continue;
      out.set(m[1]!, (out.get(m[1]!) ?? 0) + Number(m[2]));
    }
    return new WorkerMetrics(out);
  }

  /** Peak resident set size so far (VmHWM), MiB; null once the process is gone. */
  async peakRssMb(): Promise<number | null> {
    try {
      const status = await readFile(`/proc/${this.pid}/status`, 'utf8');
      const kb = Number(/^VmHWM:\s+(\d+)\s+kB/m.exec(status)?.[1]);
      return Number.isFinite(kb) ? round(kb / 1024) : null;
    } catch {
      return null;
    }
  }

  /** SIGTERM (graceful: in-flight batch, outbox), SIGKILL after 20 s; resolves with the exit code. */
  stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const child = this.#child;
    if (!this.running) return Promise.resolve(child.exitCode);
    return new Promise((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.once('exit', (code) => {
        clearTimeout(timer);
        resolve(code);
      });
      child.kill(signal);
    });
  }
}
