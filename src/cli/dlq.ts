import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import type pg from 'pg';
import { parseDuration } from '../config/env.ts';
import type { Config } from '../config/index.ts';
import { deadLetterQueues } from '../dlq/index.ts';
import { deleteExhausted, listExhausted } from '../dlq/exhausted.ts';
import { matches, replayDeadLetters, type DeadLetterFilter, type DeadLetterQueue, type DeadLetterRecord } from '../dlq/types.ts';
import { parseRfc3339 } from '../processors/timestamps.ts';
import { redactText } from '../runtime/redact.ts';
import { enabledDomains, migrationSets } from '../runtime/worker.ts';
import { migrate } from '../sinks/postgres/migrate.ts';
import { createPool } from '../sinks/postgres/pool.ts';
import { EXIT, configOrExit, loggerFor } from './context.ts';
import { OptionError, parsePositiveInt } from './options.ts';

interface FilterOptions {
  source?: string;
  class?: string;
  reason?: string;
  since?: string;
  until?: string;
  tenant?: string;
  route?: string;
  limit?: string;
  json?: boolean;
  all?: boolean;
  yes?: boolean;
  body?: string;
}

/** RFC 3339, or a duration meaning that long ago (`2h`). */
function instant(raw: string, flag: string): number {
  const t = parseRfc3339(raw) ?? (() => {
    const ms = parseDuration(raw, null);
    return ms === null ? null : Date.now() - ms;
  })();
  if (t === null) throw new OptionError(flag, `expected an RFC 3339 time or a duration ago such as 30m or 2h, got "${raw}"`);
  return t;
}

function filterOf(o: FilterOptions): DeadLetterFilter {
  if (o.class !== undefined && !['structural', 'poison'].includes(o.class)) throw new OptionError('--class', `expected structural or poison, got "${o.class}"`);
  let reason: RegExp | undefined;
  if (o.reason !== undefined) {
    try {
      reason = new RegExp(o.reason, 'i');
    } catch (err) {
      throw new OptionError('--reason', `not a regular expression: ${(err as Error).message}`);
    }
  }
  return {
    ...(o.class === undefined ? {} : { errorClass: o.class }),
    ...(reason === undefined ? {} : { reason }),
    ...(o.since === undefined ? {} : { since: instant(o.since, '--since') }),
    ...(o.until === undefined ? {} : { until: instant(o.until, '--until') }),
    ...(o.tenant === undefined ? {} : { tenant: o.tenant }),
    ...(o.route === undefined ? {} : { route: o.route }),
  };
}

const withFilters = (c: Command): Command => c
  .option('--source <kind>', 'only this broker: amqp, kafka, nats, mqtt')
  .option('--class <class>', 'structural or poison')
  .option('--reason <regex>', 'reason matches (case-insensitive)')
  .option('--since <time>', 'dead-lettered at or after (RFC 3339, or a duration ago: 2h)')
  .option('--until <time>', 'dead-lettered before')
  .option('--tenant <id>', 'tenant / company (from the body, or a chat subject)')
  .option('--route <route>', 'original topic, routing key or subject');

/** Opens the configured dead-letter queues (and the database), runs `fn`, closes everything. */
async function withQueues<T>(opts: FilterOptions, fn: (queues: DeadLetterQueue[], pool: pg.Pool, config: Config) => Promise<T>): Promise<T> {
  const config = configOrExit();
  const log = loggerFor({ ...config, logLevel: config.logLevel === 'info' ? 'warn' : config.logLevel });
  const pool = createPool({ ...config.database, applicationName: `${config.serviceName}-dlq` }, log);
  let queues: DeadLetterQueue[] = [];
  try {
    await migrate(pool, migrationSets(enabledDomains(config), config), log);
    queues = deadLetterQueues(config, pool, log).filter((q) => opts.source === undefined || q.kind === opts.source);
    if (opts.source !== undefined && queues.length === 0) {
      throw new OptionError('--source', `no enabled domain is bound to "${opts.source}" (bound: ${config.pipelines.map((p) => p.source).join(', ')})`);
    }
    return await fn(queues, pool, config);
  } finally {
    for (const q of queues) await q.close().catch(() => undefined);
    await pool.end().catch(() => undefined);
  }
}

async function listAll(queues: DeadLetterQueue[], filter: DeadLetterFilter): Promise<Array<{ q: DeadLetterQueue; records: DeadLetterRecord[] }>> {
  const out = [];
  for (const q of queues) out.push({ q, records: (await q.list()).filter((r) => matches(r, filter)) });
  return out;
}

const when = (r: DeadLetterRecord): string => (r.deadLetteredAt === undefined ? '-' : new Date(r.deadLetteredAt).toISOString().slice(0, 19) + 'Z');
const line = (r: DeadLetterRecord): string => `${r.ref}  ${r.errorClass}  attempts ${r.attempts}  ${when(r)}  ${r.route}${r.tenant === undefined ? '' : `  tenant ${r.tenant}`}\n    ${r.reason}`;

function printList(groups: Array<{ dlq: string; kind: string; records: DeadLetterRecord[] }>, json: boolean | undefined, limit: number): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(groups.flatMap((g) => g.records.slice(0, limit).map((r) => ({ ...r, body: r.body.toString('base64') }))), null, 2)}\n`);
    return;
  }
  for (const g of groups) {
    const by = (c: string) => g.records.filter((r) => r.errorClass === c).length;
    process.stdout.write(`${g.kind} ${g.dlq}: ${g.records.length} dead letters (${by('structural')} structural, ${by('poison')} poison)\n`);
    for (const r of g.records.slice(0, limit)) process.stdout.write(`  ${line(r)}\n`);
    if (g.records.length > limit) process.stdout.write(`  … ${g.records.length - limit} more (--limit)\n`);
  }
}

/** The records chosen by refs, or by --all with the filters; unknown refs are a usage error. */
function choose(all: DeadLetterRecord[], refs: string[], o: FilterOptions): DeadLetterRecord[] {
  if (refs.length === 0 && !o.all) throw new OptionError('--all', 'name dead letters by ref, or pass --all (with filters) to take every match');
  if (refs.length === 0) return all;
  const byRef = new Map(all.map((r) => [r.ref, r]));
  const unknown = refs.filter((r) => !byRef.has(r));
  if (unknown.length > 0) throw new OptionError('ref', `not found (or filtered out): ${unknown.join(', ')}`);
  return refs.map((r) => byRef.get(r)!);
}

async function confirm(question: string, yes: boolean | undefined): Promise<boolean> {
  if (yes) return true;
  if (!process.stdin.isTTY) throw new OptionError('--yes', 'purging needs confirmation: pass --yes when not on a terminal');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

function bodyReplacement(o: FilterOptions, chosen: DeadLetterRecord[]): Map<string, Buffer> | undefined {
  if (o.body === undefined) return undefined;
  if (chosen.length !== 1) throw new OptionError('--body', 'replaces the body of exactly one dead letter: name one ref');
  try {
    return new Map([[chosen[0]!.ref, readFileSync(o.body)]]);
  } catch (err) {
    throw new OptionError('--body', `cannot read ${o.body}: ${(err as Error).message}`);
  }
}

/** Runs a dlq action, mapping usage errors to exit 2 and failures to exit 1. */
const action = (fn: (...args: any[]) => Promise<void>) => async (...args: any[]): Promise<void> => {
  try {
    await fn(...args);
  } catch (err) {
    if (err instanceof OptionError) {
      process.stderr.write(`ingestd dlq: ${err.message}\n`);
      process.exitCode = EXIT.usage;
    } else {
      process.stderr.write(`ingestd dlq: ${redactText((err as Error).message)}\n`);
      process.exitCode = EXIT.failure;
    }
  }
};

export function registerDlq(program: Command): void {
  const dlq = program.command('dlq').description('inspect, replay and purge dead letters on every broker, and the exhausted ones');

  withFilters(dlq.command('list').description('dead letters per queue, with counts (filters narrow them)'))
    .option('--limit <n>', 'rows shown per queue', '50')
    .option('--json', 'JSON (bodies in base64)')
    .action(action(async (o: FilterOptions) => {
      const filter = filterOf(o);
      const limit = parsePositiveInt(o.limit ?? '50', '--limit');
      await withQueues(o, async (queues) => {
        const groups = await listAll(queues, filter);
        printList(groups.map((g) => ({ dlq: g.q.name, kind: g.q.kind, records: g.records })), o.json, limit);
      });
    }));

  dlq.command('show').description('one dead letter: headers and body').argument('<ref>')
    .action(action(async (ref: string) => {
      const source = ref.split(':')[0];
      await withQueues({ ...(source === undefined ? {} : { source }) }, async (queues) => {
        const r = (await listAll(queues, {})).flatMap((g) => g.records).find((x) => x.ref === ref);
        if (r === undefined) throw new OptionError('ref', `not found: ${ref}`);
        process.stdout.write(`${line(r)}\nheaders:\n${Object.entries(r.headers).map(([k, v]) => `  ${k}: ${v}`).join('\n')}\nbody (${r.body.length} bytes):\n${r.body.toString()}\n`);
      });
    }));

  withFilters(dlq.command('replay').description('re-inject dead letters into their original route (then remove them)').argument('[refs...]'))
    .option('--all', 'every dead letter that matches the filters')
    .option('--body <file>', 'replace the body (one ref): replay a fixed message')
    .action(action(async (refs: string[], o: FilterOptions) => {
      const filter = filterOf(o);
      await withQueues(o, async (queues) => {
        let total = 0;
        for (const { q, records } of await listAll(queues, refs.length > 0 ? {} : filter)) {
          const mine = refs.length > 0 ? refs.filter((r) => r.startsWith(`${q.kind}:`)) : [];
          if (refs.length > 0 && mine.length === 0) continue;
          const chosen = choose(records, mine, o);
          const n = await replayDeadLetters(q, chosen, bodyReplacement(o, chosen));
          total += n;
          process.stdout.write(`${q.kind}: replayed ${n} dead letter${n === 1 ? '' : 's'}\n`);
        }
        if (total === 0 && refs.length > 0) throw new OptionError('ref', `not found: ${refs.join(', ')}`);
      });
    }));

  withFilters(dlq.command('purge').description('delete dead letters for good (asks first)').argument('[refs...]'))
    .option('--all', 'every dead letter that matches the filters')
    .option('--yes', 'do not ask')
    .action(action(async (refs: string[], o: FilterOptions) => {
      const filter = filterOf(o);
      await withQueues(o, async (queues) => {
        const picked: Array<{ q: DeadLetterQueue; chosen: DeadLetterRecord[] }> = [];
        for (const { q, records } of await listAll(queues, refs.length > 0 ? {} : filter)) {
          const mine = refs.length > 0 ? refs.filter((r) => r.startsWith(`${q.kind}:`)) : [];
          if (refs.length > 0 && mine.length === 0) continue;
          picked.push({ q, chosen: choose(records, mine, o) });
        }
        const n = picked.reduce((s, p) => s + p.chosen.length, 0);
        if (n === 0) {
          process.stdout.write('nothing to purge\n');
          return;
        }
        if (!(await confirm(`Purge ${n} dead letter${n === 1 ? '' : 's'} (${picked.map((p) => `${p.chosen.length} on ${p.q.kind}`).join(', ')})?`, o.yes))) {
          process.stdout.write('not purged\n');
          return;
        }
        for (const p of picked) process.stdout.write(`${p.q.kind}: purged ${await p.q.remove(p.chosen)}\n`);
      });
    }));

  const exhausted = dlq.command('exhausted').description('dead letters the retry worker gave up on (exhausted_events)');
  withFilters(exhausted.command('list').description('exhausted dead letters'))
    .option('--limit <n>', 'rows shown', '50')
    .option('--json', 'JSON (bodies in base64)')
    .action(action(async (o: FilterOptions) => {
      const filter = filterOf(o);
      await withQueues(o, async (_queues, pool) => {
        const records = (await listExhausted(pool, filter)).filter((r) => o.source === undefined || r.kind === o.source);
        printList([{ dlq: 'exhausted_events', kind: 'postgres', records }], o.json, parsePositiveInt(o.limit ?? '50', '--limit'));
      });
    }));
  withFilters(exhausted.command('replay').description('re-inject exhausted dead letters into their original route (then delete them)').argument('[refs...]'))
    .option('--all', 'every exhausted dead letter that matches the filters')
    .option('--body <file>', 'replace the body (one ref)')
    .action(action(async (refs: string[], o: FilterOptions) => {
      const filter = filterOf(o);
      await withQueues({}, async (queues, pool) => {
        const chosen = choose((await listExhausted(pool, refs.length > 0 ? {} : filter)).filter((r) => o.source === undefined || r.kind === o.source), refs, o);
        const bodies = bodyReplacement(o, chosen);
        let n = 0;
        for (const q of queues) {
          const mine = chosen.filter((r) => r.kind === q.kind);
          if (mine.length === 0) continue;
          await q.publish(mine, bodies);
          n += await deleteExhausted(pool, mine);
        }
        const stranded = chosen.filter((r) => !queues.some((q) => q.kind === r.kind));
        if (stranded.length > 0) throw new OptionError('--source', `${stranded.length} exhausted dead letters belong to brokers no enabled domain is bound to (${[...new Set(stranded.map((r) => r.kind))].join(', ')})`);
        process.stdout.write(`replayed ${n} exhausted dead letter${n === 1 ? '' : 's'}\n`);
      });
    }));
}
