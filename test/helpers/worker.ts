import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventually } from './db.ts';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/ingestd.js', import.meta.url));

/** The real worker (`ingestd run`) as a child process, as an operator runs it. */
export class WorkerProcess {
  readonly port: number;
  readonly env: Record<string, string>;
  readonly logFile: string;
  /** Started through bin/ingestd.js (the launcher's memory settings, as `npx ingestd run`), or main.ts directly. */
  readonly launcher: 'bin' | 'main';
  child: ChildProcess | undefined;

  constructor(env: Record<string, string>, port: number, logFile: string, launcher: 'bin' | 'main' = 'main') {
    this.env = env;
    this.port = port;
    this.logFile = logFile;
    this.launcher = launcher;
  }

  start(): void {
    const log = createWriteStream(this.logFile, { flags: 'a' });
    const [command, args] = this.launcher === 'bin' ? [BIN, ['run']] : [process.execPath, [MAIN, 'run']];
    // The launcher's shebang runs `node` from PATH: this Node first.
    const path = `${dirname(process.execPath)}:${process.env.PATH ?? ''}`;
    this.child = spawn(command, args, {
      env: { ...process.env, PATH: path, LOG_LEVEL: 'info', ...this.env, PORT: String(this.port), API_HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.pipe(log);
    this.child.stderr!.pipe(log);
  }

  async http(path: string): Promise<{ status: number; body: string }> {
    const res = await fetch(`http://127.0.0.1:${this.port}${path}`);
    return { status: res.status, body: await res.text() };
  }

  async waitReady(timeoutMs = 30_000): Promise<void> {
    await eventually(async () => (await this.http('/ready')).status === 200, timeoutMs, 'worker ready');
  }

  /** Sends a signal without waiting for an exit (SIGSTOP / SIGCONT). */
  signal(signal: NodeJS.Signals): void {
    this.child?.kill(signal);
  }

  /** What the worker logged so far. */
  async logText(): Promise<string> {
    return readFile(this.logFile, 'utf8').catch(() => '');
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    const child = this.child;
    // Already gone (exited, or killed by a signal): 'exit' will not fire again.
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child?.exitCode ?? null);
    return new Promise((resolve) => {
      child.once('exit', (code) => resolve(code));
      child.kill(signal);
    });
  }
}
