/**
 * Where the CPU went over an interval, from /proc: the worker processes, the PostgreSQL
 * backends serving them, the source's broker, this bench process and the rest of the machine.
 */
import { readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { withPg, type SourceName } from './common.ts';

const TICKS = 100; // USER_HZ of /proc on Linux

/** Busy (not idle, not iowait) CPU seconds of the whole machine, all cores. */
async function machineCpu(): Promise<number> {
  const f = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return (total - f[3]! - f[4]!) / TICKS;
}

/** CPU seconds and command name of every process. */
async function allProcesses(): Promise<Map<number, { comm: string; cpu: number }>> {
  const out = new Map<number, { comm: string; cpu: number }>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = await readFile(`/proc/${name}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const f = stat.slice(close + 2).split(' ');
      out.set(Number(name), { comm: stat.slice(stat.indexOf('(') + 1, close), cpu: (Number(f[11]) + Number(f[12])) / TICKS });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** The broker process of each source, by command name. */
const BROKER_COMM: Record<SourceName, string> = { kafka: 'java', rabbitmq: 'beam.smp', nats: 'nats-server', mqtt: 'mosquitto' };

export interface CpuUse {
  readonly seconds: number;
  readonly cores: number;
  /** Cores used on average over the interval. */
  readonly worker: number;
  /** PostgreSQL for the benchmark's database: its sessions (mostly the worker's pool), WAL writer, checkpointer, background writer. */
  readonly postgres: number;
  /** The source's broker process (a shared broker: its other clients count here too). */
  readonly broker: number;
  /** This bench process (publisher, commit clock, polls). */
  readonly bench: number;
  readonly machine: number;
  /** Everything else: other work on the machine, other PostgreSQL sessions, kernel. */
  readonly other: number;
  /** The biggest consumer among the rest, e.g. `node 1234 0.8`. */
  readonly topOther: string;
}

/**
 * Where the CPU went over an interval, from /proc: the worker processes, the PostgreSQL
 * backends serving them, the source's broker, this bench process, and the rest of the
 * machine (other work running concurrently shows up there, and names itself).
 */
export class CpuSample {
  readonly #t: number;
  readonly #procs: Map<number, { comm: string; cpu: number }>;
  readonly #backends: ReadonlySet<number>;
  readonly #machine: number;
  readonly #url: string;
  readonly #workerPids: ReadonlyArray<number>;
  readonly #source: SourceName;

  private constructor(t: number, procs: Map<number, { comm: string; cpu: number }>, backends: ReadonlySet<number>, machine: number, url: string, workerPids: ReadonlyArray<number>, source: SourceName) {
    this.#t = t;
    this.#procs = procs;
    this.#backends = backends;
    this.#machine = machine;
    this.#url = url;
    this.#workerPids = workerPids;
    this.#source = source;
  }

  static async take(url: string, workerPids: ReadonlyArray<number>, source: SourceName): Promise<CpuSample> {
    const db = new URL(url).pathname.slice(1);
    // Sessions on this database (the worker's pool, autovacuum there, the bench's own polls)
    // and the server's shared processes (WAL writer, checkpointer, background writer).
    const backends = await withPg(url, async (c) => new Set((await c.query<{ pid: number }>(
      "SELECT pid FROM pg_stat_activity WHERE datname = $1 OR (datname IS NULL AND backend_type <> 'client backend')", [db],
    )).rows.map((r) => r.pid)), 'ingestd-bench-cpu');
    return new CpuSample(performance.now(), await allProcesses(), backends, await machineCpu(), url, workerPids, source);
  }

  /** The CPU used between this sample and now. */
  async until(): Promise<CpuUse> {
    const end = await CpuSample.take(this.#url, this.#workerPids, this.#source);
    const seconds = (end.#t - this.#t) / 1000;
    const backends = new Set([...this.#backends, ...end.#backends]);
    const sum = { worker: 0, postgres: 0, broker: 0, bench: 0 };
    const rest: Array<{ name: string; cores: number }> = [];
    for (const [pid, p] of end.#procs) {
      const used = (p.cpu - (this.#procs.get(pid)?.cpu ?? 0)) / seconds;
      if (used <= 0) continue;
      if (this.#workerPids.includes(pid)) sum.worker += used;
      else if (backends.has(pid)) sum.postgres += used;
      else if (p.comm === BROKER_COMM[this.#source]) sum.broker += used;
      else if (pid === process.pid) sum.bench += used;
      else rest.push({ name: `${p.comm} ${pid}`, cores: used });
    }
    rest.sort((a, b) => b.cores - a.cores);
    const machine = (end.#machine - this.#machine) / seconds;
    return {
      seconds, cores: os.availableParallelism(), ...sum, machine,
      other: Math.max(0, machine - sum.worker - sum.postgres - sum.broker - sum.bench),
      topOther: rest.length === 0 ? '-' : `${rest[0]!.name} ${rest[0]!.cores.toFixed(2)}`,
    };
  }

  static describe(u: CpuUse): string {
    const flag = u.other > 0.3 ? ' DISTURBED by other work' : '';
    return `CPU in cores over ${u.seconds.toFixed(1)} s: worker ${u.worker.toFixed(2)}, PostgreSQL ${u.postgres.toFixed(2)}, ` +
      `broker ${u.broker.toFixed(2)}, bench ${u.bench.toFixed(2)}, other ${u.other.toFixed(2)} (top: ${u.topOther}); machine ${u.machine.toFixed(2)} of ${u.cores}${flag}`;
  }
}
