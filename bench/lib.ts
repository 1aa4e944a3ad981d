/**
 * What every benchmark shares: the module contract, the result shape, repetition and
 * timing helpers, and the configuration the handlers are built from.
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { requireConfig, type Config } from '../src/config/index.ts';
import { createLogger, type Logger } from '../src/runtime/logger.ts';

/** One reported figure. `ratio` = value / limit when a limit applies. */
export interface BenchResult {
  readonly name: string;
  /** Median of `runs`. */
  readonly value: number;
  readonly unit: string;
  /** Median of `limit_runs`: the ceiling measured in the same run, or null. */
  readonly limit: number | null;
  readonly limit_name: string | null;
  readonly ratio: number | null;
  /** Every repetition, in order. */
  readonly runs: ReadonlyArray<number>;
  readonly limit_runs: ReadonlyArray<number> | null;
  /** (max − min) / median of `runs`, in percent. */
  readonly spread_pct: number;
  /**
   * What the seconds of a rate are: `wall` clock, or `thread-cpu`, the CPU time of the
   * benchmark's own thread (one-core measurements: time the machine gave to other work,
   * such as another process on a shared machine, is not counted).
   */
  readonly basis: 'wall' | 'thread-cpu';
  /** With basis `thread-cpu`: the same repetitions (and those of the limit) as wall-clock rates. */
  readonly wall_runs?: ReadonlyArray<number>;
  readonly limit_wall_runs?: ReadonlyArray<number>;
  /** Messages or rows per repetition. */
  readonly n: number;
  readonly notes?: string;
}

export interface BenchContext {
  readonly seed: number;
  readonly quick: boolean;
  /** `--reps`: repetitions per measurement (each figure is their median); undefined = the benchmark's default. */
  readonly reps: number | undefined;
  /** Whether the `--only` selection includes this part (`core-pipeline/grid-telemetry` → `grid-telemetry`). */
  wants(part: string): boolean;
  /** Prints (and records) a result as soon as it is known. */
  report(result: BenchResult): void;
  /** A progress line (stderr, so stdout stays the table). */
  progress(message: string): void;
  /**
   * Why the benchmark (or a part of it) cannot run on this machine, e.g. a missing tool: printed
   * on stderr and listed under `skipped` in the JSON; not a failure.
   */
  skip(reason: string): void;
  /** Aborted on Ctrl-C: long loops check it, so clean-up (dropping the database) still runs. */
  readonly signal: AbortSignal;
}

/** A benchmark module: adding one is a file under bench/ and a line in run.ts. */
export interface Benchmark {
  readonly name: string;
  readonly description: string;
  run(ctx: BenchContext): Promise<ReadonlyArray<BenchResult>>;
}

export const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

export const spreadPct = (xs: ReadonlyArray<number>): number => {
  if (xs.length < 2) return 0;
  const m = median(xs);
  return m === 0 ? 0 : ((Math.max(...xs) - Math.min(...xs)) / m) * 100;
};

/** A result from repetitions of a rate and (optionally) of its limit. */
export function result(o: {
  name: string;
  unit: string;
  runs: ReadonlyArray<number>;
  limitRuns?: ReadonlyArray<number>;
  limitName?: string;
  n: number;
  notes?: string;
  basis?: 'wall' | 'thread-cpu';
  wallRuns?: ReadonlyArray<number>;
  limitWallRuns?: ReadonlyArray<number>;
}): BenchResult {
  const value = median(o.runs);
  const limit = o.limitRuns === undefined ? null : median(o.limitRuns);
  return {
    name: o.name,
    value: round3(value),
    unit: o.unit,
    limit: limit === null ? null : round3(limit),
    limit_name: limit === null ? null : (o.limitName ?? null),
    ratio: limit === null || limit === 0 ? null : Math.round((value / limit) * 10_000) / 10_000,
    runs: o.runs.map(round3),
    limit_runs: o.limitRuns === undefined ? null : o.limitRuns.map(round3),
    spread_pct: round3(spreadPct(o.runs)),
    basis: o.basis ?? 'wall',
    ...(o.wallRuns === undefined ? {} : { wall_runs: o.wallRuns.map(round3) }),
    ...(o.limitWallRuns === undefined ? {} : { limit_wall_runs: o.limitWallRuns.map(round3) }),
    n: o.n,
    ...(o.notes === undefined ? {} : { notes: o.notes }),
  };
}

const round3 = (x: number): number => Math.round(x * 1000) / 1000;

// A full collection before each timed pass, so one pass does not pay for the garbage of the
// previous one. `node bench/run.ts` has no --expose-gc: the flag is set at run time.
setFlagsFromString('--expose-gc');
const gcFn = runInNewContext('gc') as (() => void) | undefined;
export const collectGarbage = (): void => gcFn?.();

export interface Timing {
  /** Wall-clock seconds. */
  readonly wall: number;
  /** CPU seconds (user + system) of this thread only. */
  readonly cpu: number;
}

/** Time taken by fn, after a full GC. */
export async function timed(fn: () => unknown): Promise<Timing> {
  collectGarbage();
  const c0 = process.threadCpuUsage();
  const t0 = performance.now();
  await fn();
  const wall = (performance.now() - t0) / 1000;
  const c = process.threadCpuUsage(c0);
  return { wall, cpu: (c.user + c.system) / 1e6 };
}

export function chunk<T>(items: ReadonlyArray<T>, size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Deterministic key → partition (FNV-1a), like a Kafka producer keyed by meter. */
export function partitionOf(key: string, partitions: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return (h >>> 0) % partitions;
}

export const silentLogger = (): Logger => createLogger({ service: 'ingestd-bench', level: 'silent' });

/** The worker's configuration with every domain enabled and no InfluxDB (PostgreSQL only). */
export function benchConfig(env: Readonly<Record<string, string>> = {}): Config {
  return requireConfig({
    DOMAINS_ENABLED: 'energy-meter,grid-telemetry,analytics,chat-events,smart-grid',
    LOG_LEVEL: 'silent',
    ...env,
  });
}

export interface Machine {
  readonly cores: number;
  readonly model: string;
  readonly total_memory_gib: number;
  readonly node: string;
  readonly platform: string;
  readonly release: string;
  /** 1-minute load average when the run started (others' work on the machine skews figures). */
  readonly loadavg_start: number;
}

export function machine(): Machine {
  return {
    cores: os.availableParallelism(),
    model: os.cpus()[0]?.model.trim() ?? 'unknown',
    total_memory_gib: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
    release: os.release(),
    loadavg_start: Math.round(os.loadavg()[0]! * 100) / 100,
  };
}

export const machineLine = (m: Machine): string =>
  `${m.cores} cores (${m.model}), ${m.total_memory_gib} GiB, Node ${m.node}, ${m.platform}, load ${m.loadavg_start}`;
