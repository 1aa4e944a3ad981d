import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import type { TlsFiles } from '../config/tls.ts';

/**
 * Node TLS options from PEM files (read when the client is built: replace a certificate,
 * restart the worker). A CA replaces the system CAs for that connection; verification of
 * the server's certificate and name stays on.
 */
export function tlsOptions(files: TlsFiles): ConnectionOptions {
  const read = (path: string | undefined): Buffer | undefined => (path === undefined ? undefined : readFileSync(path));
  const ca = read(files.ca);
  const cert = read(files.cert);
  const key = read(files.key);
  return {
    ...(ca === undefined ? {} : { ca: [ca] }),
    ...(cert === undefined ? {} : { cert }),
    ...(key === undefined ? {} : { key }),
  };
}
