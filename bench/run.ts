/**
 * `npm run bench`: runs the benchmark modules listed below, prints the machine and a table
 * row per figure as soon as it is known, and writes every figure with its repetitions as
 * JSON. See bench/README.md for what each one times and against which limit.
 *
 *   npm run bench -- [--seed N] [--only name,name] [--quick] [--reps N] [--out FILE]
 */
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { corePipeline } from './core-pipeline.ts';
import { dbPath } from './db-path.ts';
import { e2eDrain } from './e2e/drain.ts';
import { e2eLatency } from './e2e/latency.ts';
import { e2ePeer } from './e2e/peer.ts';
import { e2eScaling } from './e2e/scaling.ts';
import { e2eSmartGrid } from './e2e/smart-grid.ts';
import { e2eSteady } from './e2e/steady.ts';
import { machine, machineLine, type BenchContext, type BenchResult, type Benchmark } from './lib.ts';

/** Every benchmark, in the order they run: adding one is a file under bench/ and a line here. */
const BENCHMARKS: ReadonlyArray<Benchmark> = [
  corePipeline,
  dbPath,
  e2eDrain,
  e2eLatency,
  e2eScaling,
  e2eSmartGrid,
  e2ePeer,
  e2eSteady,
];

const USAGE = `usage: npm run bench -- [options]
  --seed N          simulator seed (default 1): the same seed gives the same messages
  --only LIST       run a subset: benchmark names (${BENCHMARKS.map((b) => b.name).join(', ')})
                    or one part of one, e.g. core-pipeline/grid-telemetry, db-path/smart-grid,
                    e2e-drain/kafka, e2e-latency/mqtt (e2e parts: kafka, rabbitmq, nats, mqtt),
                    e2e-smart-grid, e2e-peer/ingestd, e2e-peer/kafka-connect, e2e-steady
  --quick           a fifth of the messages and fewer repetitions (smoke run)
  --reps N          repetitions per measurement (default 5 in memory, 3 with the database, 1 end to end;
                    quick: 2, 1 and 1)
  --out FILE        JSON output (default bench/results/latest.json)`;

function options(): { seed: number; only: string[]; quick: boolean; reps: number | undefined; out: string } {
  try {
    const { values } = parseArgs({
      options: {
        seed: { type: 'string', default: '1' },
        only: { type: 'string' },
        quick: { type: 'boolean', default: false },
        reps: { type: 'string' },
        out: { type: 'string', default: 'bench/results/latest.json' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
    if (values.help) {
      console.log(USAGE);
      process.exit(0);
    }
    const seed = Number(values.seed);
    if (!Number.isSafeInteger(seed)) throw new Error(`--seed: a whole number, got "${values.seed}"`);
    const reps = values.reps === undefined ? undefined : Number(values.reps);
    if (reps !== undefined && !(Number.isSafeInteger(reps) && reps >= 1)) throw new Error(`--reps: a whole number >= 1, got "${values.reps}"`);
    const only = values.only === undefined ? [] : values.only.split(',').map((s) => s.trim()).filter((s) => s !== '');
    for (const o of only) {
      if (!BENCHMARKS.some((b) => o === b.name || o.startsWith(`${b.name}/`))) {
        throw new Error(`--only: no benchmark "${o}" (benchmarks: ${BENCHMARKS.map((b) => b.name).join(', ')})`);
      }
    }
    return { seed, only, quick: values.quick, reps, out: values.out };
  } catch (err) {
    console.error(`bench: ${(err as Error).message}\n${USAGE}`);
    process.exit(2);
  }
}

// ------------------------------------------------------------------------- table

const COLUMNS = [
  { title: 'measurement', width: 36, align: 'left' },
  { title: 'value', width: 11, align: 'right' },
  { title: 'unit', width: 10, align: 'left' },
  { title: 'limit', width: 11, align: 'right' },
  { title: 'ratio', width: 6, align: 'right' },
  { title: 'spread', width: 7, align: 'right' },
  { title: 'limit is', width: 0, align: 'left' },
] as const;

const cell = (text: string, c: (typeof COLUMNS)[number]): string =>
  c.width === 0 ? text : c.align === 'left' ? text.padEnd(c.width) : text.padStart(c.width);
const line = (cells: string[]): string => `| ${cells.map((t, i) => cell(t, COLUMNS[i]!)).join(' | ')} |`;
const num = (x: number): string => Math.round(x).toLocaleString('en-US');

const header = (): string =>
  `${line(COLUMNS.map((c) => c.title))}\n|${COLUMNS.map((c) => `${c.align === 'right' ? '-'.repeat(Math.max(c.width, 1) + 1) + ':' : ':' + '-'.repeat(Math.max(c.width, 1) + 1)}`).join('|')}|`;

const row = (r: BenchResult): string =>
  line([
    r.name,
    num(r.value),
    r.unit,
    r.limit === null ? '—' : num(r.limit),
    r.ratio === null ? '—' : r.ratio.toFixed(2),
    `±${(r.spread_pct / 2).toFixed(1)}%`,
    r.limit_name ?? '',
  ]);

// -------------------------------------------------------------------------- main

const o = options();
const started = new Date();
const m = machine();
console.log(`machine: ${machineLine(m)}`);
console.log(`seed ${o.seed}${o.quick ? ', quick' : ''}; started ${started.toISOString()}\n`);
console.log(header());

const abort = new AbortController();
process.once('SIGINT', () => {
  console.error('\nbench: interrupted; cleaning up (Ctrl-C again to kill)');
  abort.abort(new Error('interrupted'));
});

// Progress goes to stderr: on a terminal as one status line that the next table row
// replaces, so the table stays readable; otherwise as plain lines (logs).
const live = process.stderr.isTTY === true && process.stdout.isTTY === true;
const status = (message: string): void => {
  process.stderr.write(live ? `\r\x1b[K  … ${message}` : `  … ${message}\n`);
};
const clearStatus = (): void => {
  if (live) process.stderr.write('\r\x1b[K');
};

const results: BenchResult[] = [];
const failures: Array<{ name: string; error: string }> = [];
const skipped: Array<{ name: string; reason: string }> = [];
const durations: Array<{ name: string; seconds: number }> = [];
for (const b of BENCHMARKS) {
  const parts = o.only.filter((x) => x === b.name || x.startsWith(`${b.name}/`));
  if (o.only.length > 0 && parts.length === 0) continue;
  const reported = new Set<string>();
  const ctx: BenchContext = {
    seed: o.seed,
    quick: o.quick,
    reps: o.reps,
    wants: (part) => parts.length === 0 || parts.includes(b.name) || parts.includes(`${b.name}/${part}`),
    report: (r) => {
      if (reported.has(r.name)) return;
      reported.add(r.name);
      results.push(r);
      clearStatus();
      console.log(row(r));
    },
    progress: status,
    skip: (reason) => {
      skipped.push({ name: b.name, reason });
      clearStatus();
      console.error(`bench: ${b.name} skipped: ${reason}`);
    },
    signal: abort.signal,
  };
  const t0 = Date.now();
  try {
    for (const r of await b.run(ctx)) ctx.report(r);
    durations.push({ name: b.name, seconds: Math.round((Date.now() - t0) / 100) / 10 });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    failures.push({ name: b.name, error: message });
    clearStatus();
    console.error(`bench: ${b.name} failed: ${message}`);
    if (abort.signal.aborted) break;
  }
}

clearStatus();
const finished = new Date();
const seconds = (finished.getTime() - started.getTime()) / 1000;
const report = {
  machine: { ...m, loadavg_end: Math.round(os.loadavg()[0]! * 100) / 100 },
  seed: o.seed,
  quick: o.quick,
  started_at: started.toISOString(),
  finished_at: finished.toISOString(),
  duration_s: Math.round(seconds * 10) / 10,
  benchmarks: durations,
  results,
  failures,
  skipped,
};
await mkdir(path.dirname(o.out), { recursive: true });
await writeFile(o.out, `${JSON.stringify(report, null, 2)}\n`);
console.log(`\n${results.length} figures in ${seconds.toFixed(1)} s (${durations.map((d) => `${d.name} ${d.seconds} s`).join(', ')}) → ${o.out}${failures.length > 0 ? `; ${failures.length} benchmark(s) failed` : ''}${skipped.length > 0 ? `; ${skipped.length} skipped` : ''}`);
process.exit(failures.length > 0 ? 1 : 0);
