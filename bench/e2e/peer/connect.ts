/**
 * The peer: Kafka Connect standalone with the Debezium JDBC sink and pgjdbc, all from Maven
 * Central (pom.xml next to this file), run as a plain JVM on the jars Maven copied into one
 * directory. Java 17+ is needed to run it, and Maven only to fetch the jars once: they are kept
 * under $BENCH_PEERS_DIR (default ~/.cache/ingestd-peers) and fetched again when pom.xml changes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { copyFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { hex, PG_ADMIN_URL } from '../common.ts';
import type { Scratch } from '../scratch.ts';
import { freePort } from '../worker.ts';

/** bench/e2e/peer/: the pom, the property templates, the table. */
export const PEER_DIR = fileURLToPath(new URL('.', import.meta.url));
export const PEER_NAME = 'Kafka Connect 3.9.1 + Debezium JDBC sink 3.1.2.Final (upsert)';
const CACHE = process.env['BENCH_PEERS_DIR'] ?? path.join(os.homedir(), '.cache', 'ingestd-peers');

/** Exit code and output of a command, or null when it is not installed (ENOENT). */
function probe(cmd: string, args: ReadonlyArray<string>, o: { cwd?: string; logFile?: string } = {}): Promise<{ code: number | null; out: string } | null> {
  return new Promise((resolve) => {
    let child: ChildProcess;
    try {
      child = spawn(cmd, args, { cwd: o.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch {
      resolve(null);
      return;
    }
    let out = '';
    const log = o.logFile === undefined ? undefined : createWriteStream(o.logFile);
    const take = (b: Buffer): void => {
      out = (out + b.toString()).slice(-20_000);
      log?.write(b);
    };
    child.stdout!.on('data', take);
    child.stderr!.on('data', take);
    child.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ENOENT' ? null : { code: -1, out: err.message }));
    child.once('close', (code) => {
      log?.end();
      resolve({ code, out });
    });
  });
}

/** Where the peer's jars are, or why the peer cannot run on this machine (a skip, not a failure). */
export type PeerReadiness = { readonly libs: string; readonly java: string } | { readonly skip: string };

/**
 * Java 17+ on PATH, and the jars: already fetched for this pom, or fetched now with Maven
 * (`mvn dependency:copy-dependencies`). A missing `java` or `mvn` is a skip; a Maven run that
 * fails (network, repository) is an error naming its log.
 */
export async function peerReadiness(progress: (m: string) => void): Promise<PeerReadiness> {
  const java = await probe('java', ['-version']);
  if (java === null) return { skip: 'java not found on PATH (the peer, Kafka Connect 3.9.1 + Debezium 3.1, needs Java 17+)' };
  const version = /version "([^"]+)"/.exec(java.out)?.[1] ?? '?';
  const major = Number(version.startsWith('1.') ? version.split('.')[1] : version.split(/[.+-]/)[0]);
  if (java.code !== 0 || !(major >= 17)) return { skip: `java ${version} found, the peer needs Java 17+ (Debezium 3.1)` };

  const pom = await readFile(path.join(PEER_DIR, 'pom.xml'));
  const stamp = createHash('sha256').update(pom).digest('hex');
  const home = path.join(CACHE, 'kafka-connect');
  const libs = path.join(home, 'libs');
  const marker = path.join(libs, '.done');
  if ((await readFile(marker, 'utf8').catch(() => '')).trim() === stamp) return { libs, java: version };

  const mvn = await probe('mvn', ['-v']);
  if (mvn === null || mvn.code !== 0) {
    return { skip: `mvn not ${mvn === null ? 'found on PATH' : 'working'} and the peer's jars are not in ${libs} yet (Maven fetches them once from Maven Central)` };
  }
  progress(`e2e-peer: fetching Kafka Connect, the Debezium JDBC sink and pgjdbc from Maven Central into ${libs}`);
  await mkdir(home, { recursive: true });
  await copyFile(path.join(PEER_DIR, 'pom.xml'), path.join(home, 'pom.xml'));
  const staging = path.join(home, `libs.${hex(4)}`);
  const logFile = path.join(home, 'mvn.log');
  const r = await probe('mvn', ['-B', '-q', 'dependency:copy-dependencies', `-DoutputDirectory=${staging}`], { cwd: home, logFile });
  if (r === null || r.code !== 0) {
    await rm(staging, { recursive: true, force: true });
    throw new Error(`e2e-peer: Maven could not fetch the peer's jars (exit ${r?.code}); see ${logFile}`);
  }
  await rm(libs, { recursive: true, force: true });
  await rename(staging, libs);
  await writeFile(marker, `${stamp}\n`);
  return { libs, java: version };
}

/** A properties template of bench/e2e/peer/ with some keys set (appended: the last occurrence of a key wins). */
async function properties(template: string, set: Record<string, string>): Promise<string> {
  const text = await readFile(path.join(PEER_DIR, template), 'utf8');
  return `${text.trimEnd()}\n\n# set by bench/e2e/peer.ts for this run\n${Object.entries(set).map(([k, v]) => `${k}=${v}`).join('\n')}\n`;
}

/** The Connect standalone JVM with one sink connector, as a child process. */
export class ConnectProc {
  readonly logFile: string;
  readonly #child: ChildProcess;

  private constructor(logFile: string, child: ChildProcess) {
    this.logFile = logFile;
    this.#child = child;
  }

  /**
   * Writes the run's worker and connector files into `dir` and starts the JVM (-Xmx1g) on
   * them; registered for clean-up (SIGKILL if it still runs then).
   */
  static async start(scratch: Scratch, o: { libs: string; dir: string; connector: string; topic: string; database: string }): Promise<ConnectProc> {
    const pgUrl = new URL(PG_ADMIN_URL);
    const workerFile = path.join(o.dir, 'worker.properties');
    const sinkFile = path.join(o.dir, 'sink.properties');
    await writeFile(workerFile, await properties('worker.properties', {
      'offset.storage.file.filename': path.join(o.dir, 'connect.offsets'),
      listeners: `http://127.0.0.1:${await freePort()}`,
    }));
    await writeFile(sinkFile, await properties('sink.properties', {
      name: o.connector,
      topics: o.topic,
      'connection.url': `jdbc:postgresql://${pgUrl.hostname}:${pgUrl.port || '5432'}/${o.database}?reWriteBatchedInserts=true`,
      ...(pgUrl.username === '' ? {} : { 'connection.username': decodeURIComponent(pgUrl.username) }),
      ...(pgUrl.password === '' ? {} : { 'connection.password': decodeURIComponent(pgUrl.password) }),
    }));
    const logFile = path.join(o.dir, 'connect.log');
    const out = createWriteStream(path.join(o.dir, 'connect.stdout'));
    const child = spawn('java', [
      '-Xmx1g', `-Dlog4j.configuration=file:${path.join(PEER_DIR, 'log4j.properties')}`, `-Dconnect.log.file=${logFile}`,
      '-cp', `${o.libs}${path.sep}*`, 'org.apache.kafka.connect.cli.ConnectStandalone', workerFile, sinkFile,
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.pipe(out);
    child.stderr!.pipe(out);
    const c = new ConnectProc(logFile, child);
    scratch.defer('Kafka Connect JVM', () => c.stop('SIGKILL'));
    return c;
  }

  get pid(): number {
    return this.#child.pid!;
  }

  get running(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** SIGTERM (Connect stops its tasks and commits offsets), SIGKILL after 20 s. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.#child;
    if (!this.running) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill(signal);
    });
  }

  /** The last ERROR lines of its log, for a failure message. */
  async errors(): Promise<string> {
    const text = await readFile(this.logFile, 'utf8').catch(() => '');
    return text.split('\n').filter((l) => / (ERROR|FATAL) /.test(l)).slice(-3).join(' | ').slice(0, 1500);
  }
}
