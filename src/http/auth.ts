import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply } from 'fastify';

/** What a request may read: every tenant (`*`), or one. */
export type Scope = { readonly all: true } | { readonly all: false; readonly tenant: string };

export const TENANT_ID = /^[A-Za-z0-9_.-]{1,64}$/;

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/**
 * API_TOKENS: `tenant:token` pairs separated by commas (`*:token` reads every tenant).
 * Tokens are compared as SHA-256 digests in constant time.
 */
export class TokenScopes {
  readonly #tokens: Array<{ digest: Buffer; scope: Scope }>;

  constructor(entries: ReadonlyArray<{ tenant: string; token: string }>) {
    this.#tokens = entries.map((e) => ({ digest: digest(e.token), scope: e.tenant === '*' ? { all: true } : { all: false, tenant: e.tenant } }));
  }

  /** No tokens configured: the API is open (every tenant). */
  get open(): boolean {
    return this.#tokens.length === 0;
  }

  /** The scope of an Authorization header, or null when it names no known token. */
  scopeOf(header: string | undefined): Scope | null {
    if (this.open) return { all: true };
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
    if (m === null) return null;
    const d = digest(m[1]!);
    let found: Scope | null = null;
    for (const t of this.#tokens) if (timingSafeEqual(t.digest, d)) found = t.scope;
    return found;
  }
}

/**
 * One fixed bearer token (METRICS_TOKEN, HEALTH_TOKEN), compared as a SHA-256 digest in
 * constant time. Undefined token: every request passes.
 */
export function bearerCheck(token: string | undefined): (header: string | undefined) => boolean {
  if (token === undefined) return () => true;
  const expected = digest(token);
  return (header) => {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
    return m !== null && timingSafeEqual(expected, digest(m[1]!));
  };
}

/** The 401 answer of every guarded endpoint, naming the variable that holds its tokens. */
export const unauthorized = (reply: FastifyReply, variable: string): FastifyReply =>
  reply.code(401).header('www-authenticate', 'Bearer realm="ingestd"').send({ error: `a valid bearer token is required (Authorization: Bearer <token>; see ${variable})` });

/** Parses API_TOKENS; problems name the entry by position, never the token. */
export function parseApiTokens(raw: string | undefined): { entries: Array<{ tenant: string; token: string }>; problems: string[] } {
  const entries: Array<{ tenant: string; token: string }> = [];
  const problems: string[] = [];
  if (raw === undefined || raw.trim() === '') return { entries, problems };
  raw.split(',').map((s) => s.trim()).filter((s) => s !== '').forEach((entry, i) => {
    const colon = entry.indexOf(':');
    const tenant = colon < 0 ? '' : entry.slice(0, colon);
    const token = colon < 0 ? '' : entry.slice(colon + 1);
    if (tenant !== '*' && !TENANT_ID.test(tenant)) problems.push(`API_TOKENS: entry ${i + 1} must be tenant:token (tenant of letters, digits, _ . -, or *)`);
    else if (token.length < 16) problems.push(`API_TOKENS: entry ${i + 1} (tenant ${tenant}): the token must have at least 16 characters`);
    else entries.push({ tenant, token });
  });
  return { entries, problems };
}
