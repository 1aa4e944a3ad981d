import type { AnalyticsRecord } from './records.ts';

/**
 * One analytics sub-domain: the topic it is registered for, the JSON Schema of its payload
 * and a pure mapping from a valid payload to records. Adding one is a file under
 * `handlers/` and a line in `registry.ts`.
 */
export interface SubDomain<P = any> {
  /** The name DOMAINS_ENABLED uses: `sensor`, `device`, `sweep`, `lab`. */
  readonly name: string;
  /** The topic (or queue routing key, subject) it is registered for. */
  readonly topic: string;
  /** JSON Schema of the payload; a payload that fails it is dead-lettered with the path. */
  readonly schema: object;
  /** Valid payload → records; throws a structural IngestError for what a schema cannot say. */
  map(payload: P, time: number): AnalyticsRecord[];
}
