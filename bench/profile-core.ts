/**
 * Profile one domain's core pipeline (decode + pure batch steps) under `--cpu-prof`:
 *
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof bench/profile-core.ts energy-meter [passes]
 *
 * Runs the same messages and steps as core-pipeline (seed 1), `passes` times (default 20),
 * and prints the rate; open the .cpuprofile in Chrome DevTools or summarise it with
 * `node bench/profile-summary.ts FILE`.
 */
import pg from 'pg';
import { findDomain } from '../src/domains/index.ts';
import { benchConfig, chunk, silentLogger } from './lib.ts';
import { DOMAIN_NAMES, traffic, type DomainName } from './messages.ts';
import { pureSteps } from './pure-steps.ts';
import { decodeBatch } from './core-pipeline.ts';

const domain = process.argv[2] as DomainName;
if (!DOMAIN_NAMES.includes(domain)) throw new Error(`usage: profile-core.ts ${DOMAIN_NAMES.join('|')} [passes]`);
const passes = Number(process.argv[3] ?? 20);
const config = benchConfig();
const pool = new pg.Pool({ connectionString: 'postgres://127.0.0.1:1/unused', max: 1 });
const handler = findDomain(domain)!.create({ config, pool, log: silentLogger(), source: config.sources[domain]! });
const steps = pureSteps(domain, config);
const batches = chunk(traffic(domain, config, { seed: 1, count: 30_000 }).map((m) => m.delivery), 1000);
const t0 = performance.now();
let n = 0;
for (let p = 0; p < passes; p++) {
  steps?.reset();
  for (const batch of batches) {
    const decoded = decodeBatch(handler, batch);
    if (steps !== null) steps.run(decoded);
    n += batch.length;
  }
}
console.log(`${domain}: ${Math.round(n / ((performance.now() - t0) / 1000))} msg/s over ${passes} passes`);
await pool.end();
