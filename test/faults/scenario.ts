/**
 * One scenario of the fault suite: grid-telemetry (1 m and 15 m windows, EMA alerts) fed
 * through one source by `ingestd load` with a fixed seed, one fault injected while the
 * worker runs, then a drain and the counts of verify.ts.
 */
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { createLoadGenerator, loadDomain, type LoadMessage } from '../../src/cli/load/generators.ts';
import { generatorOptions, runLoad, type LoadOptions, type LoadSummary } from '../../src/cli/load/run.ts';
import { createRandom, type Random } from '../../src/sim/random.ts';
import { createTestDatabase, eventually } from '../helpers/db.ts';
import { WorkerProcess } from '../helpers/worker.ts';
import { createRig, type SourceName, type SourceRig } from './sources.ts';
import { storedReadings } from '../helpers/grid.ts';
import { count, deadLetterBodies, isBad, outboxPending, problemsOf, type Counts } from './verify.ts';

const run = promisify(execFile);
const PG_SCRATCH = fileURLToPath(new URL('../../scripts/pg-scratch.sh', import.meta.url));

export type FaultName = 'kill' | 'broker-restart' | 'db-outage' | 'rebalance' | 'slow-db' | 'pause';
export const FAULTS: readonly FaultName[] = ['kill', 'broker-restart', 'db-outage', 'rebalance', 'slow-db', 'pause'];

export const FAULT_TITLES: Readonly<Record<FaultName, string>> = {
  kill: 'worker SIGKILLed 3×, restarted',
  'broker-restart': 'broker restarted mid-drain',
  'db-outage': 'PostgreSQL stopped 10 s',
  rebalance: '2 workers, one SIGKILLed',
  'slow-db': 'table locked (slow database)',
  pause: '2 workers, one paused past takeover (zombie)',
};

export interface Size {
  readonly count: number;
  /** Offered rate, messages/s (the broker-restart scenario pre-loads at full speed instead). */
  readonly rate: number;
  readonly meters: number;
  readonly lockMs: number;
  readonly dbDownMs: number;
  readonly brokerDownMs: number;
  readonly drainTimeoutMs: number;
  /** How long the paused worker is stopped: past the Kafka session timeout of the rig (10 s). */
  readonly pauseMs: number;
}

export const SIZES: Readonly<Record<'full' | 'quick', Size>> = {
  full: { count: 40_000, rate: 2_000, meters: 200, lockMs: 15_000, dbDownMs: 10_000, brokerDownMs: 3_000, drainTimeoutMs: 180_000, pauseMs: 15_000 },
  quick: { count: 10_000, rate: 2_000, meters: 100, lockMs: 8_000, dbDownMs: 10_000, brokerDownMs: 2_000, drainTimeoutMs: 120_000, pauseMs: 15_000 },
};

export interface ScenarioResult {
  readonly source: SourceName;
  readonly fault: FaultName;
  readonly counts: Counts | undefined;
  readonly problems: string[];
  /** What was observed along the way (readiness, memory, in-flight messages, restarts). */
  readonly notes: string[];
  readonly seconds: number;
}

/** The scratch PostgreSQL cluster the suite stops and starts. */
export interface ScratchDb {
  readonly adminUrl: string;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export async function startScratchDb(dir: string, port: number): Promise<ScratchDb> {
  const pgDir = join(dir, 'pg');
  const start = async (): Promise<void> => void (await run('bash', [PG_SCRATCH, 'start', pgDir, String(port)]));
  await start();
  return { adminUrl: `postgres://postgres@127.0.0.1:${port}/postgres`, start, stop: async () => void (await run('bash', [PG_SCRATCH, 'stop', pgDir])) };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Which of two workers to fault: worker 1, unless only worker 0 consumes (a RabbitMQ queue with
 * a single active consumer delivers to the first and keeps the other standing by).
 */
async function consumingWorker(s: Scenario): Promise<number> {
  const claimed = /rabbitmq queue claimed/;
  return claimed.test(await s.worker(0).logText()) && !claimed.test(await s.worker(1).logText()) ? 0 : 1;
}

/** Everything a fault needs: the source, the database, the workers, the load. */
export class Scenario {
  readonly rig: SourceRig;
  readonly fault: FaultName;
  readonly size: Size;
  readonly seed: number;
  readonly random: Random;
  readonly url: string;
  readonly db: ScratchDb;
  readonly dir: string;
  readonly workers: WorkerProcess[] = [];
  readonly notes: string[] = [];
  readonly startTime = Date.parse('2026-03-02T08:00:00Z');
  /** Messages the load sends (a fault may ask for more before loading). */
  count: number;
  #port: number;

  constructor(o: { rig: SourceRig; fault: FaultName; size: Size; seed: number; url: string; db: ScratchDb; dir: string; port: number }) {
    this.rig = o.rig;
    this.fault = o.fault;
    this.size = o.size;
    this.seed = o.seed;
    this.random = createRandom(o.seed ^ 0x5eed);
    this.url = o.url;
    this.db = o.db;
    this.dir = o.dir;
    this.count = o.size.count;
    this.#port = o.port;
  }

  /** Worker i (created on first use), started through bin/ingestd.js as operators start it. */
  worker(i: number): WorkerProcess {
    let w = this.workers[i];
    if (w === undefined) {
      w = new WorkerProcess(
        // RETRY_MAX 2 s: back within seconds of the database returning; SHUTDOWN_TIMEOUT bounds a SIGTERM.
        { ...this.rig.env, ...this.rig.workerEnv(i), DATABASE_URL: this.url, RETRY_MAX: '2s', SHUTDOWN_TIMEOUT: '20s' },
        this.#port + i,
        join(this.dir, `worker-${i}.log`),
        'bin',
      );
      this.workers[i] = w;
    }
    return w;
  }

  async startWorker(i: number): Promise<WorkerProcess> {
    const w = this.worker(i);
    w.start();
    await w.waitReady(120_000);
    return w;
  }

  loadOptions(rate: number): LoadOptions {
    const l = this.rig.load;
    return {
      broker: l.broker, domain: 'grid-telemetry', topic: l.topic, declare: l.declare, count: this.count, rate,
      seed: this.seed, meters: this.size.meters, anomalyRate: 0.02, invalidRate: 0.01, startTime: this.startTime, intervalMs: 1000,
      concurrency: 1, batchSize: 200, progress: 'none',
      ...(l.exchange === undefined ? {} : { exchange: l.exchange }),
      ...(l.partitions === undefined ? {} : { partitions: l.partitions }),
    };
  }

  /** The messages `load` sends, regenerated from the same seed and options. */
  messages(): LoadMessage[] {
    const o = this.loadOptions(this.size.rate);
    const gen = createLoadGenerator(loadDomain('grid-telemetry'), generatorOptions(o, this.seed, this.startTime));
    return Array.from({ length: this.count }, () => gen.next());
  }

  async load(rate = this.size.rate): Promise<LoadSummary> {
    const s = await runLoad(this.loadOptions(rate));
    if (!s.ok || s.confirmed !== this.count) throw new Error(`load: ${s.confirmed}/${this.count} confirmed, ${s.failed} failed${s.error === null ? '' : `: ${s.error}`}`);
    return s;
  }

  /** Seconds the load takes at the offered rate. */
  get loadSeconds(): number {
    return this.count / this.size.rate;
  }

  async stored(): Promise<number> {
    return storedReadings(this.url).catch(() => -1);
  }

  async waitStored(n: number, what: string): Promise<void> {
    await eventually(async () => (await this.stored()) >= n, this.size.drainTimeoutMs, what);
  }

  /** Polls until the worker answers /ready with 503 (true), or gives up after `ms` (false). */
  async sawNotReady(w: WorkerProcess, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      if ((await w.http('/ready').catch(() => ({ status: 0 }))).status === 503) return true;
      await sleep(200);
    }
    return false;
  }

  /** A metric's value summed over its series from one worker's /metrics (NaN when absent). */
  async metric(w: WorkerProcess, name: string): Promise<number> {
    const body = (await w.http('/metrics')).body;
    let sum = NaN;
    for (const line of body.split('\n')) {
      if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) sum = (Number.isNaN(sum) ? 0 : sum) + Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return sum;
  }
}

/** The faults: each starts its workers, drives the load, injects itself, and leaves the draining to runScenario. */
const INJECT: Readonly<Record<FaultName, (s: Scenario) => Promise<void>>> = {
  async kill(s) {
    await s.startWorker(0);
    const loading = s.load();
    // Random moments while the worker is storing: after a random share of the readings.
    const thresholds = [0, 1, 2].map(() => Math.floor(s.random.float(0.1, 0.8) * s.size.count)).sort((a, b) => a - b);
    for (const n of thresholds) {
      await s.waitStored(n, `${n} readings stored`);
      const code = await s.worker(0).kill('SIGKILL');
      if (code !== null) throw new Error(`the worker had exited (code ${code}) before it was killed`);
      s.notes.push(`killed with ${await s.stored()} stored`);
      await s.startWorker(0);
    }
    await loading;
  },

  async 'broker-restart'(s) {
    // Subscriptions, queues and sessions exist once the worker has started; the backlog is
    // then loaded while it is stopped, and drained through the broker's restart.
    await s.startWorker(0);
    if ((await s.worker(0).kill('SIGTERM')) !== 0) throw new Error('worker did not stop cleanly');
    s.count = s.size.count * 3; // a backlog the worker takes longer to drain than the broker takes to stop
    await s.load(0);
    const w = await s.startWorker(0);
    await s.waitStored(1, 'draining before the restart');
    const restarting = s.rig.restartBroker(s.size.brokerDownMs);
    const down = await s.sawNotReady(w, 20_000);
    await restarting;
    s.notes.push(`broker restarted with ${await s.stored()} stored; readiness ${down ? 'went 503 while it was down' : 'never went 503'}`);
    await w.waitReady(120_000);
  },

  async 'db-outage'(s) {
    const w = await s.startWorker(0);
    const loading = s.load();
    await s.waitStored(Math.floor(s.size.count * 0.2), 'storing before the outage');
    await s.db.stop();
    const at = Date.now();
    const down = await s.sawNotReady(w, 8_000);
    await sleep(Math.max(0, at + s.size.dbDownMs - Date.now()));
    await s.db.start();
    s.notes.push(`PostgreSQL down ${((Date.now() - at) / 1000).toFixed(1)} s; readiness ${down ? 'went 503' : 'never went 503'}`);
    await w.waitReady(120_000);
    await loading;
  },

  async rebalance(s) {
    await s.startWorker(0);
    await s.startWorker(1);
    const loading = s.load();
    await s.waitStored(Math.floor(s.size.count * 0.3), 'both consuming');
    const i = await consumingWorker(s);
    await s.worker(i).kill('SIGKILL');
    s.notes.push(`worker ${i} killed with ${await s.stored()} stored`);
    await loading;
    if (s.rig.killedMemberHoldsMessages) {
      // An MQTT shared subscription keeps sending the dead member's share to its session;
      // the broker delivers it when that client id connects again.
      await sleep(3_000);
      s.notes.push(`worker ${i} restarted to collect its session (${await s.stored()} stored without it)`);
      await s.startWorker(i);
    }
  },

  /**
   * A zombie: one of two workers stopped (SIGSTOP) past the group's session timeout while it
   * holds uncommitted work, then resumed. The other takes its partitions (or messages) over; the
   * resumed one must not commit what it held (Kafka: fenced by the partitions' owner epochs).
   */
  async pause(s) {
    await s.startWorker(0);
    await s.startWorker(1);
    const loading = s.load();
    await s.waitStored(Math.floor(s.size.count * 0.3), 'both consuming');
    const i = await consumingWorker(s);
    const w = s.worker(i);
    w.signal('SIGSTOP');
    const at = Date.now();
    try {
      await sleep(Math.max(s.size.pauseMs, s.rig.takeoverMs ?? 0));
    } finally {
      w.signal('SIGCONT');
    }
    s.notes.push(`worker ${i} paused ${((Date.now() - at) / 1000).toFixed(1)} s (${await s.stored()} stored when resumed)`);
    await loading;
    await w.waitReady(120_000);
    const log = await w.logText();
    if (/claimed by another worker|checkpoint fenced/.test(log)) s.notes.push('its late checkpoint was fenced');
  },

  async 'slow-db'(s) {
    const w = await s.startWorker(0);
    const loading = s.load();
    await s.waitStored(Math.floor(s.size.count * 0.2), 'storing before the lock');
    const locker = new pg.Client({ connectionString: s.url });
    await locker.connect();
    let peakRss = 0;
    let peakInFlight = 0;
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE aggregates_1m IN ACCESS EXCLUSIVE MODE');
      const storedAtLock = await s.stored();
      const until = Date.now() + s.size.lockMs;
      while (Date.now() < until) {
        peakRss = Math.max(peakRss, await s.metric(w, 'process_resident_memory_bytes'));
        peakInFlight = Math.max(peakInFlight, await s.metric(w, 'stream_messages_in_flight'));
        await sleep(250);
      }
      const storedInLock = (await s.stored()) - storedAtLock;
      s.notes.push(
        `aggregates_1m locked ${(s.size.lockMs / 1000).toFixed(0)} s: ${storedInLock} readings committed meanwhile, ` +
          `at most ${peakInFlight} messages in flight, peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MB`,
      );
      if (storedInLock > 0) throw new Error(`${storedInLock} readings committed while the table was locked: the lock did not hold the sink`);
    } finally {
      await locker.query('ROLLBACK').catch(() => undefined);
      await locker.end();
    }
    await loading;
    // Bounded: at most the source's batches in flight, not the backlog offered meanwhile.
    const offered = s.size.rate * (s.size.lockMs / 1000);
    if (peakInFlight >= offered / 2) throw new Error(`${peakInFlight} messages in flight while ${offered} were offered: the source did not pause`);
    if (peakRss > 300 * 2 ** 20) throw new Error(`peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MB while the database was slow (limit 300 MB)`);
  },
};

/** Runs one fault on one source and counts the outcome; never throws. */
export async function runScenario(o: { source: SourceName; fault: FaultName; size: Size; seed: number; db: ScratchDb; dir: string; port: number }): Promise<ScenarioResult> {
  const started = Date.now();
  const rig = createRig(o.source);
  const dir = join(o.dir, `${o.source}-${o.fault}`);
  await mkdir(dir, { recursive: true });
  const problems: string[] = [];
  let counts: Counts | undefined;
  let s: Scenario | undefined;
  let drop: (() => Promise<void>) | undefined;
  try {
    const db = await createTestDatabase(o.db.adminUrl);
    drop = db.drop;
    await rig.prepare();
    s = new Scenario({ rig, fault: o.fault, size: o.size, seed: o.seed, url: db.url, db: o.db, dir, port: o.port });
    await INJECT[o.fault](s);
    const sent = s.messages();
    const good = new Set(sent.filter((m) => !isBad(m)).map((m) => m.id)).size;
    await s.waitStored(good, `${good} readings stored`).catch((err: unknown) => problems.push(String(err instanceof Error ? err.message : err)));
    await eventually(async () => (await outboxPending(s!.url)) === 0, 60_000, 'outbox published').catch(() => undefined);
    const live = s.workers.filter((w) => w.child !== undefined && w.child.exitCode === null && w.child.signalCode === null);
    for (const w of live) {
      await w.waitReady(60_000).catch(() => problems.push(`worker on port ${w.port} not ready at the end`));
    }
    // Every dead letter reaches the DLQ while the workers run: one whose copy could not be
    // published (broker down) is redelivered after NATS_ACK_WAIT/NATS_BACKOFF, then lettered.
    const bad = sent.length - sent.filter((m) => !isBad(m)).length;
    await eventually(async () => (await deadLetterBodies(rig.env, s!.url)).length >= bad, 60_000, 'dead letters').catch(() => undefined);
    for (const w of live) {
      const code = await w.kill('SIGTERM');
      if (code !== 0) problems.push(`worker on port ${w.port} exited ${code} on SIGTERM`);
    }
    // The count reads them again with the workers stopped: a running worker's DLQ retry scan
    // holds RabbitMQ's dead letters unacknowledged while it looks at them, and a reader then
    // sees only the rest.
    const letters = await deadLetterBodies(rig.env, s.url);
    counts = await count(sent, letters, s.url);
    problems.push(...problemsOf(counts, rig.orderedPerKey));
  } catch (err) {
    problems.push(err instanceof Error ? err.message : String(err));
  } finally {
    for (const w of s?.workers ?? []) await w.kill('SIGKILL');
    await o.db.start().catch(() => undefined); // never leave the database down
    if (process.env.FAULTS_KEEP === undefined) {
      await drop?.().catch(() => undefined);
      await rig.cleanup();
    } else {
      s?.notes.push(`kept for inspection: ${s.url}, ${JSON.stringify(rig.env)}`);
    }
  }
  return { source: o.source, fault: o.fault, counts, problems, notes: s?.notes ?? [], seconds: (Date.now() - started) / 1000 };
}
