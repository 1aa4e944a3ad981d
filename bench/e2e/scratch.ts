/**
 * What a measurement creates and removes again: the clean-up list, a fresh database, the
 * worker's migrations, a directory for worker logs.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { BenchContext } from '../lib.ts';
import { hex, MAIN, PG_ADMIN_URL, withPg } from './common.ts';
import type { Rig } from './rigs.ts';

/** Everything a benchmark created, undone in reverse order; a failed step is reported, not fatal. */
export class Scratch {
  readonly #steps: Array<{ what: string; undo: () => Promise<unknown> }> = [];
  readonly #ctx: BenchContext;

  constructor(ctx: BenchContext) {
    this.#ctx = ctx;
  }

  defer(what: string, undo: () => Promise<unknown>): void {
    this.#steps.push({ what, undo });
  }

  async cleanup(): Promise<void> {
    for (const s of this.#steps.splice(0).reverse()) {
      try {
        await s.undo();
      } catch (err) {
        console.error(`bench: clean-up of ${s.what} failed: ${(err as Error).message}`);
      }
    }
    this.#ctx.progress('clean-up done');
  }
}

/** A fresh database `e2e_<hex>`, dropped (WITH FORCE) at clean-up. */
export async function createDatabase(scratch: Scratch): Promise<{ url: string; name: string }> {
  const name = `e2e_${hex(5)}`;
  await withPg(PG_ADMIN_URL, (admin) => admin.query(`CREATE DATABASE ${name}`));
  scratch.defer(`database ${name}`, () => withPg(PG_ADMIN_URL, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)));
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return { url: url.toString(), name };
}

/** `ingestd migrate` for this environment, as a child process (what `run` does first). */
export async function migrateDatabase(env: Record<string, string>): Promise<void> {
  const child = spawn(process.execPath, [MAIN, 'migrate'], { env: { ...process.env, LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`ingestd migrate exited ${code}: ${err.trim().slice(-500)}`);
}

/** A directory for worker logs, removed at clean-up (kept, and named, when a benchmark fails). */
export async function logDir(scratch: Scratch, ok: () => boolean): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ingestd-e2e-'));
  scratch.defer(`log directory ${dir}`, async () => {
    if (ok()) await rm(dir, { recursive: true, force: true });
    else console.error(`bench: worker logs kept in ${dir}`);
  });
  return dir;
}

/** What one measurement works with: its rig (unique names), a fresh database and a log directory. */
export interface Setup<R extends Rig = Rig> {
  readonly scratch: Scratch;
  readonly rig: R;
  readonly db: { readonly url: string; readonly name: string };
  readonly dir: string;
}

/**
 * fn with a fresh rig, database and log directory, all removed afterwards, also after a
 * failure or Ctrl-C (the worker logs are kept, and named, when fn failed).
 */
export async function withSetup<T, R extends Rig = Rig>(ctx: BenchContext, makeRig: (scratch: Scratch) => R, fn: (s: Setup<R>) => Promise<T>): Promise<T> {
  const scratch = new Scratch(ctx);
  let ok = false;
  try {
    const rig = makeRig(scratch);
    const db = await createDatabase(scratch);
    const dir = await logDir(scratch, () => ok);
    const out = await fn({ scratch, rig, db, dir });
    ok = true;
    return out;
  } finally {
    await scratch.cleanup();
  }
}
