import { pino, type Logger as PinoLogger } from 'pino';
import { redactText } from './redact.ts';

export type Logger = PinoLogger;

/**
 * pino JSON to stdout. Credentials never reach the log: known secret fields are censored
 * and every string logged as `err`/`msg` has URL passwords stripped.
 */
export function createLogger(options: { service: string; level: string; destination?: NodeJS.WritableStream }): Logger {
  return pino(
    {
      level: options.level,
      base: { service: options.service },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: ['password', '*.password', 'token', '*.token', 'authorization', '*.authorization', 'req.headers.authorization'],
        censor: '***',
      },
      formatters: { level: (label) => ({ level: label }) },
      serializers: {
        err: (err: unknown) => {
          if (typeof err === 'string') return redactText(err);
          const e = pino.stdSerializers.err(err as Error);
          return { ...e, message: redactText(e.message), stack: e.stack === undefined ? undefined : redactText(e.stack) };
        },
      },
      hooks: {
        logMethod(args, method) {
          for (let i = 0; i < args.length; i++) if (typeof args[i] === 'string') args[i] = redactText(args[i] as string);
          method.apply(this, args as Parameters<typeof method>);
        },
      },
    },
    options.destination as pino.DestinationStream | undefined,
  );
}
