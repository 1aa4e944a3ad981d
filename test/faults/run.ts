/**
 * `npm run test:faults`: every fault on every source, against the real brokers and a
 * PostgreSQL cluster of its own; prints the faults × sources table and exits 1 if any
 * scenario lost, duplicated or left anything unexpected. `--quick` (part of `npm test`)
 * runs the worker kills on every source and each other fault on one source, smaller.
 *
 *   node test/faults/run.ts [--quick] [--sources kafka,amqp,nats,mqtt] [--faults kill,...] [--seed N] [--out FILE]
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { FAULTS, FAULT_TITLES, runScenario, SIZES, startScratchDb, type FaultName, type ScenarioResult } from './scenario.ts';
import { SOURCES, type SourceName } from './sources.ts';
import { formatTable } from './table.ts';

const run = promisify(execFile);
const SERVICES = fileURLToPath(new URL('../../scripts/services.sh', import.meta.url));
const DEFAULT_OUT = fileURLToPath(new URL('./results/latest.json', import.meta.url));

/** --quick: every source is killed; the other faults rotate over the sources. */
const QUICK_PLAN: ReadonlyArray<[SourceName, FaultName]> = [
  ['kafka', 'kill'], ['amqp', 'kill'], ['nats', 'kill'], ['mqtt', 'kill'],
  ['nats', 'broker-restart'], ['amqp', 'db-outage'], ['kafka', 'rebalance'], ['mqtt', 'slow-db'],
];

const usage = (message: string): never => {
  process.stderr.write(`test:faults: ${message}\n`);
  process.exit(2);
};

const listOf = <T extends string>(value: string | undefined, all: readonly T[], flag: string): readonly T[] | undefined => {
  if (value === undefined) return undefined;
  const items = value.split(',').map((x) => x.trim()).filter((x) => x !== '');
  for (const x of items) if (!(all as readonly string[]).includes(x)) usage(`${flag}: unknown "${x}" (expected ${all.join(', ')})`);
  return items as T[];
};

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      sources: { type: 'string' },
      faults: { type: 'string' },
      seed: { type: 'string', default: '1' },
      out: { type: 'string', default: DEFAULT_OUT },
    },
  });
  const seed = Number(values.seed);
  if (!Number.isSafeInteger(seed)) usage(`--seed: a whole number, got "${values.seed}"`);
  const sources = listOf(values.sources, SOURCES, '--sources');
  const faults = listOf(values.faults, FAULTS, '--faults');
  const size = values.quick ? SIZES.quick : SIZES.full;
  const plan = (values.quick && sources === undefined && faults === undefined
    ? QUICK_PLAN
    : (faults ?? FAULTS).flatMap((f) => (sources ?? SOURCES).map((s): [SourceName, FaultName] => [s, f])));

  process.stdout.write(`fault suite: ${plan.length} scenarios, ${size.count} grid-telemetry messages each at ${size.rate}/s, seed ${seed}; ` +
    `${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB\n`);
  await run('bash', [SERVICES, 'postgres', 'rabbitmq', 'kafka', 'nats', 'mosquitto'], { maxBuffer: 16 * 2 ** 20 });
  const dir = await mkdtemp(join(tmpdir(), 'ingestd-faults-'));
  await chmod(dir, 0o755); // the scratch server runs as the postgres user
  const db = await startScratchDb(dir, 55_441);
  const results: ScenarioResult[] = [];
  try {
    for (const [i, [source, fault]] of plan.entries()) {
      process.stdout.write(`[${i + 1}/${plan.length}] ${source}: ${FAULT_TITLES[fault]} … `);
      const r = await runScenario({ source, fault, size, seed: seed + i, db, dir, port: 18_950 });
      results.push(r);
      const c = r.counts;
      process.stdout.write(`${r.problems.length === 0 ? 'ok' : 'FAILED'} in ${r.seconds.toFixed(0)} s` +
        (c === undefined ? '' : ` (sent ${c.sent}, stored ${c.stored}/${c.expected}, dead-lettered ${c.deadLettered}/${c.injectedBad})`) + '\n');
      for (const n of r.notes) process.stdout.write(`    ${n}\n`);
      for (const p of r.problems) process.stdout.write(`    PROBLEM: ${p}\n`);
    }
  } finally {
    await db.stop().catch(() => undefined);
  }
  process.stdout.write(`\n${formatTable(results)}\n`);
  await mkdir(dirname(values.out), { recursive: true });
  await writeFile(values.out, JSON.stringify({ seed, quick: values.quick, size, machine: { cores: cpus().length, memoryGiB: totalmem() / 2 ** 30 }, results }, null, 2));
  const failed = results.filter((r) => r.problems.length > 0);
  process.stdout.write(`${failed.length === 0 ? 'every scenario held' : `${failed.length} of ${results.length} scenarios FAILED`}; logs in ${dir}; results in ${values.out}\n`);
  return failed.length === 0 ? 0 : 1;
}

// kafkajs schedules a negative timeout while reconnecting (harmless): keep the table readable.
process.removeAllListeners('warning');
process.on('warning', (w) => {
  if (w.name !== 'TimeoutNegativeWarning') process.stderr.write(`${w.name}: ${w.message}\n`);
});

process.exitCode = await main();
