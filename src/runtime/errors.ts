/**
 * One error type for the whole pipeline. The class decides what happens to a message
 * (SPEC §4): structural and poison messages are dead-lettered, data issues are stored as
 * invalid rows, transient failures pause the source and retry the batch.
 */
export const ERROR_CLASSES = ['structural', 'data', 'transient', 'poison'] as const;
export type ErrorClass = (typeof ERROR_CLASSES)[number];

export const ERROR_CODES = {
  INGESTD_ERR_NOT_JSON: 'structural',
  INGESTD_ERR_TOO_LARGE: 'structural',
  INGESTD_ERR_SCHEMA: 'structural',
  INGESTD_ERR_UNKNOWN_ROUTE: 'structural',
  INGESTD_ERR_DB_REJECTED: 'poison',
  INGESTD_ERR_PROCESSING: 'poison',
  INGESTD_ERR_DB_UNAVAILABLE: 'transient',
  INGESTD_ERR_BROKER_UNAVAILABLE: 'transient',
  /** A sink other than PostgreSQL (InfluxDB) is unreachable or failing: pause and retry. */
  INGESTD_ERR_SINK_UNAVAILABLE: 'transient',
  /** A sink refused the data itself (InfluxDB field type conflict): bisect to the message. */
  INGESTD_ERR_SINK_REJECTED: 'poison',
  /**
   * The partition was claimed by another worker since this one claimed it: nothing of the
   * transaction is kept, the work is redone by the partition's owner (not a message's fault).
   */
  INGESTD_ERR_FENCED: 'transient',
} as const satisfies Record<string, ErrorClass>;
export type ErrorCode = keyof typeof ERROR_CODES;

export interface ErrorContext {
  readonly [key: string]: string | number | boolean | undefined;
}

export class IngestError extends Error {
  override readonly name = 'IngestError';
  readonly code: ErrorCode;
  readonly errorClass: ErrorClass;
  readonly context: ErrorContext;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; context?: ErrorContext } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.errorClass = ERROR_CODES[code];
    this.context = options.context ?? {};
  }

  get retryable(): boolean {
    return this.errorClass === 'transient';
  }

  /** Enumerable view so JSON logs keep the fields. */
  toJSON(): Record<string, unknown> {
    return { code: this.code, errorClass: this.errorClass, message: this.message, ...this.context };
  }
}

export const structural = (code: ErrorCode, message: string, context?: ErrorContext): IngestError =>
  new IngestError(code, message, context === undefined ? {} : { context });

export const isIngestError = (err: unknown): err is IngestError => err instanceof IngestError;

/** Message of any thrown value, for logs and headers. */
export const errorMessage = (err: unknown): string => (err instanceof Error ? err.message : String(err));
