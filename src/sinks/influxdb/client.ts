import { IngestError, errorMessage } from '../../runtime/errors.ts';
import { sleep } from '../../runtime/backoff.ts';
import { redactText } from '../../runtime/redact.ts';
import type { Logger } from '../../runtime/logger.ts';
import { encodePoint, type Point } from './line-protocol.ts';

export interface InfluxSettings {
  /** Base URL, e.g. http://127.0.0.1:8086; user:password in it become basic auth. */
  readonly url: string;
  readonly database: string;
  /** Retention policy of raw points (created as the database's default). */
  readonly rawPolicy: { readonly name: string; readonly duration: string };
  /** Retention policy of aggregate points. */
  readonly aggregatePolicy: { readonly name: string; readonly duration: string };
  /** Points per write request. */
  readonly batchSize: number;
  /** Time limit of one request. */
  readonly timeoutMs: number;
  /** Quick retries of one write before the failure goes to the pipeline (which pauses and keeps retrying). */
  readonly maxRetries: number;
  readonly retryIntervalMs: number;
}

const POLICY_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const DURATION = /^(INF|\d+[hdw])$/;

/** Hooks for metrics. */
export interface InfluxObserver {
  connected?(up: boolean): void;
  written?(policy: 'raw' | 'aggregate', points: number): void;
  dropped?(points: number): void;
}

/** Identifier in InfluxQL: double-quoted, quotes and backslashes escaped. */
const ident = (s: string): string => `"${s.replace(/["\\]/g, '\\$&')}"`;

/**
 * InfluxDB 1.x over its HTTP API: `/query` for the database and retention policies, `/write`
 * for line protocol. Writes are idempotent (a point is keyed by measurement, tags and time),
 * which is what lets a retried batch write the same points again without doubling anything.
 */
export class InfluxClient {
  readonly #s: InfluxSettings;
  readonly #log: Logger;
  readonly #base: string;
  readonly #auth: string | undefined;
  #ready: Promise<void> | undefined;
  connected = false;
  /** Points InfluxDB dropped as older than their retention policy (they are in PostgreSQL). */
  droppedBeyondRetention = 0;

  readonly #observe: InfluxObserver;

  constructor(settings: InfluxSettings, log: Logger, observe: InfluxObserver = {}) {
    this.#s = settings;
    this.#observe = observe;
    this.#log = log;
    const u = new URL(settings.url);
    this.#auth = u.username === '' ? undefined : `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}`;
    u.username = '';
    u.password = '';
    this.#base = u.toString().replace(/\/$/, '');
  }

  /** Creates the database and both retention policies when missing (once; again after a failure). */
  ensure(): Promise<void> {
    this.#ready ??= this.#ensure().catch((err: unknown) => {
      this.#ready = undefined;
      throw err;
    });
    return this.#ready;
  }

  async #ensure(): Promise<void> {
    const { database: db, rawPolicy, aggregatePolicy } = this.#s;
    for (const p of [rawPolicy, aggregatePolicy]) {
      if (!POLICY_NAME.test(p.name) || !DURATION.test(p.duration)) throw new Error(`invalid InfluxDB retention policy ${p.name} ${p.duration}`);
    }
    await this.query(`CREATE DATABASE ${ident(db)}`);
    const shown = await this.query(`SHOW RETENTION POLICIES ON ${ident(db)}`);
    const existing = new Set<string>((shown[0]?.series?.[0]?.values ?? []).map((v) => String(v[0])));
    for (const [p, isDefault] of [[rawPolicy, true], [aggregatePolicy, false]] as const) {
      // An existing policy is the operator's: its duration is left as they set it.
      if (existing.has(p.name)) continue;
      await this.query(`CREATE RETENTION POLICY ${ident(p.name)} ON ${ident(db)} DURATION ${p.duration} REPLICATION 1${isDefault ? ' DEFAULT' : ''}`);
      this.#log.info({ database: db, policy: p.name, duration: p.duration }, 'InfluxDB retention policy created');
    }
  }

  /** Runs InfluxQL; throws on an HTTP failure or a statement error. */
  async query(q: string): Promise<Array<{ series?: Array<{ name?: string; columns: string[]; values: unknown[][] }>; error?: string }>> {
    const res = await this.#fetch('/query', new URLSearchParams({ q }).toString(), 'application/x-www-form-urlencoded');
    const text = await res.text();
    if (!res.ok) throw this.#httpError(res.status, text, 'query');
    const body = JSON.parse(text) as { results?: Array<{ error?: string; series?: Array<{ name?: string; columns: string[]; values: unknown[][] }> }>; error?: string };
    const failed = body.error ?? body.results?.find((r) => r.error !== undefined)?.error;
    if (failed !== undefined) throw new Error(`InfluxDB: ${failed} (in: ${q})`);
    return body.results ?? [];
  }

  /**
   * Writes points to a retention policy in requests of `batchSize` points. Transient
   * failures are retried `maxRetries` times here, then thrown as INGESTD_ERR_SINK_UNAVAILABLE
   * (the pipeline pauses and retries the batch); a refusal of the data (HTTP 400) is
   * INGESTD_ERR_SINK_REJECTED, which bisection narrows down to the message.
   */
  async write(policy: 'raw' | 'aggregate', points: ReadonlyArray<Point>): Promise<void> {
    if (points.length === 0) return;
    await this.ensure().catch((err: unknown) => {
      throw this.#unavailable(err);
    });
    const rp = policy === 'raw' ? this.#s.rawPolicy.name : this.#s.aggregatePolicy.name;
    const path = `/write?${new URLSearchParams({ db: this.#s.database, rp, precision: 'ms' }).toString()}`;
    for (let i = 0; i < points.length; i += this.#s.batchSize) {
      const end = Math.min(points.length, i + this.#s.batchSize);
      let body = '';
      for (let j = i; j < end; j++) body += `${encodePoint(points[j]!)}\n`;
      await this.#writeWithRetries(path, body);
      this.#observe.written?.(policy, end - i);
    }
  }

  async #writeWithRetries(path: string, body: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await this.#fetch(path, body, 'text/plain; charset=utf-8');
        if (res.status === 204 || res.ok) {
          await res.body?.cancel();
          this.#setConnected(true);
          return;
        }
        const text = await res.text();
        // Points older than the retention policy are dropped by InfluxDB by design (a backfill
        // of old months): the rest of the request was written, and PostgreSQL keeps them all.
        const beyond = /^\s*\{"error":"partial write: points beyond retention policy dropped=(\d+)"\}\s*$/.exec(text);
        if (res.status === 400 && beyond !== null) {
          this.#setConnected(true);
          this.droppedBeyondRetention += Number(beyond[1]);
          this.#observe.dropped?.(Number(beyond[1]));
          this.#log.debug({ dropped: Number(beyond[1]) }, 'InfluxDB dropped points older than the retention policy');
          return;
        }
        // 404: the database was dropped under us; ensure() recreates it on the retry.
        if (res.status === 404) this.#ready = undefined;
        if (res.status === 400) throw this.#httpError(res.status, text, 'write');
        throw this.#unavailable(new Error(`HTTP ${res.status}: ${text.slice(0, 300)}`));
      } catch (err) {
        if (err instanceof IngestError && err.code === 'INGESTD_ERR_SINK_REJECTED') throw err;
        this.#setConnected(false);
        const error = err instanceof IngestError ? err : this.#unavailable(err);
        if (attempt >= this.#s.maxRetries) throw error;
        this.#log.warn({ attempt: attempt + 1, err: error.message }, 'InfluxDB write failed; retrying');
        await sleep(this.#s.retryIntervalMs);
        if (this.#ready === undefined) await this.ensure().catch(() => undefined);
      }
    }
  }

  #setConnected(up: boolean): void {
    this.connected = up;
    this.#observe.connected?.(up);
  }

  #fetch(path: string, body: string, contentType: string): Promise<Response> {
    const headers: Record<string, string> = { 'content-type': contentType };
    if (this.#auth !== undefined) headers['authorization'] = this.#auth;
    return fetch(`${this.#base}${path}`, { method: 'POST', headers, body, signal: AbortSignal.timeout(this.#s.timeoutMs) });
  }

  #httpError(status: number, text: string, what: string): IngestError {
    const detail = redactText(text.slice(0, 500)).trim();
    if (status === 400) return new IngestError('INGESTD_ERR_SINK_REJECTED', `InfluxDB refused the ${what}: ${detail}`, { context: { http_status: status } });
    return this.#unavailable(new Error(`HTTP ${status}: ${detail}`));
  }

  #unavailable(err: unknown): IngestError {
    // fetch says only "fetch failed"; the reason (ECONNREFUSED…) is in its cause.
    const cause = (err as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
    const why = cause === undefined ? '' : ` (${String(cause.code ?? cause.message ?? '')})`;
    return new IngestError('INGESTD_ERR_SINK_UNAVAILABLE', `InfluxDB unavailable: ${redactText(errorMessage(err))}${why}`, { cause: err });
  }
}
