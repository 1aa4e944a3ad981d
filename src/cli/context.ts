import { existsSync } from 'node:fs';
import { ConfigError, requireConfig, type Config } from '../config/index.ts';
import { createLogger, type Logger } from '../runtime/logger.ts';

export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** Environment with `.env` (if present in the working directory) under the real variables. */
export function loadEnv(): NodeJS.ProcessEnv {
  if (existsSync('.env')) process.loadEnvFile('.env');
  return process.env;
}

/** Config or exit 2 with one line per problem. */
export function configOrExit(env: NodeJS.ProcessEnv = loadEnv()): Config {
  try {
    return requireConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`ingestd: ${err.message}\n`);
      process.exit(EXIT.usage);
    }
    throw err;
  }
}

export const loggerFor = (config: Config, destination?: NodeJS.WritableStream): Logger =>
  createLogger({ service: config.serviceName, level: config.logLevel, ...(destination === undefined ? {} : { destination }) });

/**
 * SIGINT/SIGTERM run `stop` once; another signal more than 2 s later exits at once. `stop` gets
 * SHUTDOWN_TIMEOUT before the process exits anyway (code 1).
 */
export function onSignals(stop: () => Promise<void>, timeoutMs: number, log: Logger): void {
  let stoppingSince = 0;
  const handler = (signal: string): void => {
    if (stoppingSince > 0) {
      // Ctrl-C reaches both npm and us, and npm forwards it: the same keypress arrives twice.
      if (Date.now() - stoppingSince < 2_000) return;
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(EXIT.failure);
    }
    stoppingSince = Date.now();
    log.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      log.error({ timeout_ms: timeoutMs }, 'shutdown timed out');
      process.exit(EXIT.failure);
    }, timeoutMs);
    timer.unref();
    stop().then(
      () => process.exit(EXIT.ok),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(EXIT.failure);
      },
    );
  };
  process.on('SIGINT', () => handler('SIGINT'));
  process.on('SIGTERM', () => handler('SIGTERM'));
}
