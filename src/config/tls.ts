import { accessSync, constants, statSync } from 'node:fs';
import type { EnvReader } from './env.ts';

/** PEM files for a TLS client: the CA that signs the server's certificate, and an optional client certificate with its key. */
export interface TlsFiles {
  readonly ca: string | undefined;
  readonly cert: string | undefined;
  readonly key: string | undefined;
}

/** Why a path cannot be read, or null when it can. */
export function unreadable(path: string): string | null {
  try {
    accessSync(path, constants.R_OK);
    return statSync(path).isFile() ? null : 'not a file';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? 'unreadable';
  }
}

/**
 * `<PREFIX>_TLS_CA`, `_TLS_CERT`, `_TLS_KEY`: paths checked at start (a missing file fails
 * the start, not the first reconnect hours later). Undefined when none is set.
 */
export function tlsFiles(r: EnvReader, prefix: string): TlsFiles | undefined {
  const file = (suffix: string): string | undefined => {
    const name = `${prefix}_TLS_${suffix}`;
    const path = r.optionalString(name);
    const why = path === undefined ? null : unreadable(path);
    if (why !== null) r.problem(`${name}: cannot read "${path}" (${why})`);
    return path;
  };
  const files = { ca: file('CA'), cert: file('CERT'), key: file('KEY') };
  if ((files.cert === undefined) !== (files.key === undefined)) {
    r.problem(`${prefix}_TLS_CERT and ${prefix}_TLS_KEY: set both (a client certificate and its private key) or neither`);
  }
  return files.ca === undefined && files.cert === undefined && files.key === undefined ? undefined : files;
}

export const SSLMODES = ['disable', 'prefer', 'require', 'verify-ca', 'verify-full', 'no-verify'] as const;

const DB_SSL_PARAMS = [
  { param: 'sslrootcert', names: ['DB_SSLROOTCERT', 'PGSSLROOTCERT'] },
  { param: 'sslcert', names: ['DB_SSLCERT', 'PGSSLCERT'] },
  { param: 'sslkey', names: ['DB_SSLKEY', 'PGSSLKEY'] },
] as const;

/**
 * The database URL with DB_SSLMODE / DB_SSLROOTCERT / DB_SSLCERT / DB_SSLKEY added as
 * query parameters (node-postgres reads `sslmode`, `sslrootcert`, `sslcert`, `sslkey` from
 * the URL). Parameters the URL sets itself win. Every certificate file is checked.
 */
export function withDatabaseTls(r: EnvReader, url: string, urlVariable: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return url; // reported by the URL check
  }
  const mode = r.raw('DB_SSLMODE', 'PGSSLMODE');
  if (mode !== undefined && !(SSLMODES as readonly string[]).includes(mode.value)) {
    r.problem(`${mode.name}: must be one of ${SSLMODES.join(', ')}, got "${mode.value}"`);
  } else if (mode !== undefined && !u.searchParams.has('sslmode')) {
    u.searchParams.set('sslmode', mode.value);
  }
  const urlMode = u.searchParams.get('sslmode');
  if (urlMode !== null && !(SSLMODES as readonly string[]).includes(urlMode)) {
    r.problem(`${urlVariable}: sslmode must be one of ${SSLMODES.join(', ')}, got "${urlMode}"`);
  }
  for (const { param, names } of DB_SSL_PARAMS) {
    const v = r.raw(...names);
    if (v !== undefined && !u.searchParams.has(param)) u.searchParams.set(param, v.value);
    const path = u.searchParams.get(param);
    const why = path === null ? null : unreadable(path);
    if (why !== null) r.problem(`${v !== undefined && v.value === path ? v.name : `${urlVariable} ${param}`}: cannot read "${path}" (${why})`);
  }
  return mode === undefined && DB_SSL_PARAMS.every((p) => r.raw(...p.names) === undefined) ? url : u.toString();
}

export interface NatsServers {
  /** host:port or scheme://host:port, credentials removed. */
  readonly servers: string[];
  readonly auth: { readonly user: string; readonly pass: string } | { readonly token: string } | undefined;
  /** A `tls://` URL: the connection must be TLS. */
  readonly tlsRequired: boolean;
}

/**
 * NATS_URL: comma-separated `nats://` or `tls://` URLs (or bare host:port). The NATS client
 * ignores credentials and scheme inside server URLs, so they are taken out here and passed
 * as options: `user:password@` or a token as `token@`, the same for every server.
 */
export function parseNatsServers(r: EnvReader, raw: string): NatsServers {
  const servers: string[] = [];
  const auths = new Set<string>();
  let auth: NatsServers['auth'];
  let tlsRequired = false;
  raw.split(',').map((s) => s.trim()).filter((s) => s !== '').forEach((entry, i) => {
    let u: URL;
    try {
      u = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(entry) ? entry : `nats://${entry}`);
    } catch {
      r.problem(`NATS_URL: server ${i + 1} is not a valid URL or host:port`);
      return;
    }
    const scheme = u.protocol.replace(/:$/, '');
    if (scheme !== 'nats' && scheme !== 'tls') {
      r.problem(`NATS_URL: server ${i + 1} must be a nats:// or tls:// URL, got protocol "${u.protocol}"`);
      return;
    }
    if (scheme === 'tls') tlsRequired = true;
    if (u.username !== '' || u.password !== '') {
      const user = decodeURIComponent(u.username);
      const pass = decodeURIComponent(u.password);
      auth = u.password === '' ? { token: user } : { user, pass };
      auths.add(JSON.stringify(auth));
    }
    servers.push(`${scheme}://${u.host}`);
  });
  if (auths.size > 1) r.problem('NATS_URL: the servers carry different credentials; the client logs in to every server with the same ones');
  if (servers.length === 0) r.problem('NATS_URL: at least one server is needed');
  return { servers, auth, tlsRequired };
}
