import { ENTITIES, type Entity } from './entities.ts';

/** Company ids: case-insensitive, stored lowercased in the schema name `tenant_<id>`. */
export const COMPANY_ID = /^[A-Za-z0-9_]{1,48}$/;

export interface ChatSubject {
  readonly mode: 'upsert' | 'history';
  readonly entity: Entity;
  /** As in the subject (validated, not lowercased). */
  readonly companyId: string;
}

/** `v1.<entity>.upsert.<company>` or `v1.history.<entity>.<company>`, else null. */
export function parseChatSubject(subject: string): ChatSubject | null {
  const t = subject.split('.');
  if (t.length !== 4 || t[0] !== 'v1') return null;
  const [mode, entity] = t[1] === 'history' ? (['history', t[2]] as const) : t[2] === 'upsert' ? (['upsert', t[1]] as const) : [null, null];
  if (mode === null || !(ENTITIES as readonly string[]).includes(entity!)) return null;
  return { mode, entity: entity as Entity, companyId: t[3]! };
}

/** The company's schema. The one place a company id becomes an identifier: anything the subject check refuses is refused here too. */
export function tenantSchema(companyId: string): string {
  if (!COMPANY_ID.test(companyId)) throw new Error(`invalid company id ${JSON.stringify(companyId)}: must match ${COMPANY_ID.source}`);
  return `tenant_${companyId.toLowerCase()}`;
}

/** The subject filter of a deployment: every company, or only COMPANY_ID's. */
export const chatFilter = (companyId: string | undefined): string => (companyId === undefined ? 'v1.>' : `v1.*.*.${companyId}`);
