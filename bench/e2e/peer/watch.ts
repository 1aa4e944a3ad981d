/**
 * The e2e-peer watcher, the same for both sides: once a second, on one connection of its own,
 * `SELECT count(*)` of the side's raw table, and from /proc the CPU ticks of the consumer
 * process (ingestd or the Connect JVM), of every PostgreSQL process (the watcher's own backend
 * left out; the postmaster's reaped children counted) and of the Kafka broker, the machine's
 * busy time, and the consumer's resident set (VmRSS, VmHWM). It stops at the expected row
 * count, when the consumer exits, when the count stops moving, or at the time limit.
 *
 * From that timeline: `steady` = 80 % of N over the time from the 10 % to the 90 % row (both
 * crossings interpolated linearly between samples), `total` = consumer launch to the sample
 * that saw the last row (start-up, group join and everything else included), CPU in cores over
 * the samples that bracket the steady window, and the peak VmHWM.
 */
import { readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import pg from 'pg';
import { round, sleep } from '../common.ts';

const TICKS = 100; // USER_HZ of /proc on Linux

interface ProcStat {
  readonly comm: string;
  readonly ppid: number;
  /** utime + stime, ticks */
  readonly own: number;
  /** cutime + cstime (reaped children), ticks */
  readonly children: number;
}

function procStat(pid: number | string): ProcStat | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = s.lastIndexOf(')');
    const f = s.slice(close + 2).split(' ');
    return {
      comm: s.slice(s.indexOf('(') + 1, close), ppid: Number(f[1]),
      own: Number(f[11]) + Number(f[12]), children: Number(f[13]) + Number(f[14]),
    };
  } catch {
    return null; // gone
  }
}

/** VmRSS and VmHWM in KiB, or null once the process is gone. */
function memory(pid: number): { rss: number; hwm: number } | null {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    return { rss: Number(/^VmRSS:\s+(\d+)/m.exec(s)?.[1] ?? Number.NaN), hwm: Number(/^VmHWM:\s+(\d+)/m.exec(s)?.[1] ?? Number.NaN) };
  } catch {
    return null;
  }
}

const pids = (): string[] => readdirSync('/proc').filter((d) => /^\d+$/.test(d));

/** Every process's stat, by pid. */
function snapshot(): Map<number, ProcStat> {
  const out = new Map<number, ProcStat>();
  for (const d of pids()) {
    const s = procStat(d);
    if (s !== null) out.set(Number(d), s);
  }
  return out;
}

/**
 * CPU ticks of every PostgreSQL process but `exclude`, plus what the postmaster collected from
 * its exited children (backends and autovacuum workers that came and went).
 */
function postgresTicks(procs: ReadonlyMap<number, ProcStat>, exclude: number): number {
  let ticks = 0;
  for (const [pid, s] of procs) {
    if (s.comm !== 'postgres' || pid === exclude) continue;
    ticks += s.own;
    if (procs.get(s.ppid)?.comm !== 'postgres') ticks += s.children; // the postmaster: its parent is not PostgreSQL
  }
  return ticks;
}

/** The Kafka broker: the JVM whose main class is kafka.Kafka. */
export function brokerPid(): number | null {
  for (const d of pids()) {
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').includes('kafka.Kafka')) return Number(d);
    } catch {
      // gone meanwhile
    }
  }
  return null;
}

/** Busy (not idle, not iowait) and total jiffies of the machine, all cores. */
function machineJiffies(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - f[3]! - f[4]!, total };
}

/** Cores busy on the whole machine over `ms`. */
export async function busyCores(ms = 2000): Promise<number> {
  const a = machineJiffies();
  await sleep(ms);
  const b = machineJiffies();
  return ((b.busy - a.busy) / Math.max(1, b.total - a.total)) * os.availableParallelism();
}

/**
 * Until the machine is quiet (< `below` cores busy over 2 s), at most `maxMs`: neither side
 * should start on a machine that is still flushing the previous step. Returns the last reading.
 */
export async function waitQuiet(signal: AbortSignal, below = 0.25, maxMs = 120_000): Promise<{ busy: number; waitedS: number; quiet: boolean }> {
  const t0 = Date.now();
  let busy = Number.NaN;
  while (Date.now() - t0 < maxMs) {
    signal.throwIfAborted();
    busy = await busyCores();
    if (busy < below) return { busy: round(busy, 2), waitedS: round((Date.now() - t0) / 1000), quiet: true };
  }
  return { busy: round(busy, 2), waitedS: round((Date.now() - t0) / 1000), quiet: false };
}

interface Sample {
  /** epoch ms */
  readonly t: number;
  readonly count: number;
  /** ticks of the consumer since its launch; null once it is gone */
  readonly consumer: number | null;
  readonly postgres: number;
  readonly broker: number | null;
  /** ticks of the watcher's backend and of this (bench) process */
  readonly backend: number;
  readonly bench: number;
  readonly busy: number;
  readonly total: number;
  readonly rssKiB: number | null;
  /** ticks of every process that is none of the above, by pid (who else used the machine) */
  readonly others: ReadonlyMap<number, { comm: string; own: number }>;
}

export interface CoreUse {
  readonly consumer: number | null;
  readonly postgres: number;
  readonly broker: number | null;
  /** the watcher: its backend and the bench process */
  readonly watcher: number;
  readonly machine: number;
  /** the rest of the machine: other work (should be near 0) */
  readonly other: number;
  /** The biggest user among the rest, e.g. `node 1234 0.8` (its command line when still running). */
  readonly topOther: string;
}

export interface WatchResult {
  readonly endReason: 'all rows' | 'consumer exited' | 'stalled' | 'time limit';
  readonly rows: number;
  readonly expected: number;
  /** consumer launch → the sample that saw the last row, s (null if not all rows arrived) */
  readonly totalS: number | null;
  readonly firstRowS: number | null;
  readonly steady: {
    readonly rowsPerS: number;
    readonly windowS: number;
    readonly cores: CoreUse;
  } | null;
  /** launch → end of the watch */
  readonly wholeRun: CoreUse & { readonly consumerCpuS: number | null };
  readonly peakRssMiB: number | null;
  readonly samples: number;
}

export interface WatchOptions {
  /** Database URL of the side's database. */
  readonly url: string;
  /** The raw table whose rows are counted. */
  readonly table: string;
  /** The consumer process (its ticks since launch all count). */
  readonly pid: number;
  /** When the consumer was launched, epoch ms. */
  readonly launchMs: number;
  readonly expected: number;
  readonly limitS: number;
  /** No new row for this long after the first one ends the watch. */
  readonly stallS?: number;
  readonly signal: AbortSignal;
  readonly progress?: (count: number, elapsedS: number) => void;
}

/** Watches one drain until all rows are there (or it cannot finish) and summarises it. */
export async function watchDrain(o: WatchOptions): Promise<WatchResult> {
  const client = new pg.Client({ connectionString: o.url, application_name: 'ingestd-bench-peer-watch' });
  await client.connect();
  const timeline: Sample[] = [];
  let endReason: WatchResult['endReason'] = 'time limit';
  let peakHwm = 0;
  try {
    const backendPid = (await client.query<{ p: number }>('SELECT pg_backend_pid() AS p')).rows[0]!.p;
    const broker = brokerPid();
    const sample = (count: number): Sample => {
      const m = machineJiffies();
      const procs = snapshot();
      const mem = memory(o.pid);
      if (mem !== null && Number.isFinite(mem.hwm)) peakHwm = Math.max(peakHwm, mem.hwm);
      const self = process.cpuUsage();
      const others = new Map<number, { comm: string; own: number }>();
      for (const [pid, p] of procs) {
        if (pid !== o.pid && pid !== broker && pid !== process.pid && p.comm !== 'postgres' && p.own > 0) others.set(pid, { comm: p.comm, own: p.own });
      }
      return {
        t: Date.now(), count, consumer: procs.get(o.pid)?.own ?? null, postgres: postgresTicks(procs, backendPid),
        broker: broker === null ? null : (procs.get(broker)?.own ?? null), backend: procs.get(backendPid)?.own ?? 0,
        bench: (self.user + self.system) / 1e6 * TICKS, busy: m.busy, total: m.total, rssKiB: mem?.rss ?? null, others,
      };
    };
    // The baseline: the machine as of now, the consumer as of its launch (all its ticks are the run's).
    const base = sample(0);
    timeline.push({ ...base, t: o.launchMs, consumer: 0 });
    const deadline = o.launchMs + o.limitS * 1000;
    let moved = Date.now();
    let last = 0;
    while (Date.now() < deadline) {
      o.signal.throwIfAborted();
      const tick = Date.now();
      let count = last;
      try {
        count = Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${o.table}`)).rows[0]!.n);
      } catch (err) {
        if ((err as { code?: string }).code !== '42P01') throw err; // undefined_table: not there yet
      }
      const s = sample(count);
      timeline.push(s);
      if (count !== last) moved = Date.now();
      last = count;
      o.progress?.(count, (s.t - o.launchMs) / 1000);
      if (count >= o.expected) {
        endReason = 'all rows';
        break;
      }
      if (s.consumer === null) {
        endReason = 'consumer exited';
        break;
      }
      if (count > 0 && Date.now() - moved > (o.stallS ?? 60) * 1000) {
        endReason = 'stalled';
        break;
      }
      await sleep(Math.max(0, 1000 - (Date.now() - tick)));
    }
  } finally {
    await client.end();
  }
  return summarise(timeline, o, endReason, peakHwm);
}

function summarise(timeline: ReadonlyArray<Sample>, o: WatchOptions, endReason: WatchResult['endReason'], peakHwmKiB: number): WatchResult {
  const end = timeline[timeline.length - 1]!;
  const n = o.expected;
  /** When the count crossed `threshold` (interpolated), with the index of the sample that saw it. */
  const cross = (threshold: number): { t: number; i: number } | null => {
    for (let i = 1; i < timeline.length; i++) {
      const a = timeline[i - 1]!;
      const b = timeline[i]!;
      if (b.count >= threshold) {
        if (b.count === a.count) return { t: b.t, i };
        return { t: a.t + ((threshold - a.count) / (b.count - a.count)) * (b.t - a.t), i };
      }
    }
    return null;
  };
  const cores = (a: Sample, b: Sample): CoreUse => {
    const s = (b.t - a.t) / 1000;
    const per = (x: number | null, y: number | null): number | null => (x === null || y === null ? null : (y - x) / TICKS / s);
    const machine = ((b.busy - a.busy) / Math.max(1, b.total - a.total)) * os.availableParallelism();
    const consumer = per(a.consumer, b.consumer);
    const postgres = (b.postgres - a.postgres) / TICKS / s;
    const broker = per(a.broker, b.broker);
    const watcher = (b.backend - a.backend + b.bench - a.bench) / TICKS / s;
    let top: { pid: number; comm: string; cores: number } | undefined;
    for (const [pid, p] of b.others) {
      const cores = (p.own - (a.others.get(pid)?.own ?? 0)) / TICKS / s;
      if (cores > 0.005 && (top === undefined || cores > top.cores)) top = { pid, comm: p.comm, cores };
    }
    return {
      consumer: consumer === null ? null : round(consumer, 2), postgres: round(postgres, 2), broker: broker === null ? null : round(broker, 2),
      watcher: round(watcher, 2), machine: round(machine, 2),
      other: round(Math.max(0, machine - (consumer ?? 0) - postgres - (broker ?? 0) - watcher), 2),
      topOther: top === undefined ? '-' : `${commandOf(top.pid, top.comm)} ${top.cores.toFixed(2)}`,
    };
  };
  const first = cross(1);
  const p10 = cross(0.1 * n);
  const p90 = cross(0.9 * n);
  // The consumer's last tick count while it still ran (its entry turns null once it exits).
  const lastAlive = [...timeline].reverse().find((s) => s.consumer !== null) ?? timeline[0]!;
  const whole = cores(timeline[0]!, { ...end, consumer: end.consumer ?? lastAlive.consumer });
  return {
    endReason,
    rows: end.count,
    expected: n,
    totalS: endReason === 'all rows' ? round((end.t - o.launchMs) / 1000, 2) : null,
    firstRowS: first === null ? null : round((first.t - o.launchMs) / 1000, 2),
    steady: p10 === null || p90 === null || p90.t <= p10.t ? null : {
      rowsPerS: Math.round((0.8 * n) / ((p90.t - p10.t) / 1000)),
      windowS: round((p90.t - p10.t) / 1000, 2),
      cores: cores(timeline[Math.max(0, p10.i - 1)]!, timeline[p90.i]!),
    },
    wholeRun: { ...whole, consumerCpuS: lastAlive.consumer === null ? null : round(lastAlive.consumer / TICKS, 2) },
    peakRssMiB: peakHwmKiB > 0 ? round(peakHwmKiB / 1024) : null,
    samples: timeline.length,
  };
}

/** `comm pid`, with the start of its command line while it still runs. */
function commandOf(pid: number, comm: string): string {
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((x) => x !== '').join(' ');
    return `${comm} ${pid} (${cmd.length > 80 ? `${cmd.slice(0, 77)}...` : cmd})`;
  } catch {
    return `${comm} ${pid}`;
  }
}

/** One line for the notes. */
export function describeWatch(w: WatchResult): string {
  const c = (u: CoreUse): string =>
    `consumer ${u.consumer ?? '?'}, PostgreSQL ${u.postgres}, broker ${u.broker ?? '?'}, watcher ${u.watcher}, other ${u.other} (top: ${u.topOther}); machine ${u.machine} of ${os.availableParallelism()}` +
    (u.other > 0.3 ? ' DISTURBED by other work' : '');
  return [
    `${w.endReason}: ${w.rows.toLocaleString('en-US')} of ${w.expected.toLocaleString('en-US')} rows`,
    w.totalS === null ? 'no total' : `total ${w.totalS} s from launch (first row at ${w.firstRowS} s)`,
    w.steady === null ? 'no steady window' : `steady ${w.steady.rowsPerS.toLocaleString('en-US')} rows/s over ${w.steady.windowS} s, cores there: ${c(w.steady.cores)}`,
    `whole run: consumer CPU ${w.wholeRun.consumerCpuS ?? '?'} s, cores: ${c(w.wholeRun)}`,
    `peak RSS ${w.peakRssMiB ?? '?'} MiB; ${w.samples} samples`,
  ].join('; ');
}
