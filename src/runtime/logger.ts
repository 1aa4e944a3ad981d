import { pino, type Logger as PinoLogger } from 'pino';
import { redactText } from './redact.ts';

export type Logger = PinoLogger;

/**
 * pino JSON to stdout. Credentials never reach the log: known secret fields are censored,
 * and every line, as written, has URL passwords and secret query parameters stripped,
 * whichever field, binding or error message carried them.
 */
export function createLogger(options: { service: string; level: string; destination?: NodeJS.WritableStream }): Logger {
  return pino(
    {
      level: options.level,
      base: { service: options.service },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: ['password', '*.password', 'pass', '*.pass', 'token', '*.token', 'authorization', '*.authorization', 'req.headers.authorization', 'sasl', '*.sasl'],
        censor: '***',
      },
      formatters: { level: (label) => ({ level: label }) },
      hooks: { streamWrite: redactText },
    },
    options.destination as pino.DestinationStream | undefined,
  );
}
