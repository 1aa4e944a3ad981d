#!/usr/bin/env node
// Container health check for images without curl or wget (node:*-slim has neither):
// GET <path> (default /health) on this container's own HTTP server; exit 0 on 2xx, else 1.
// Usage: node bin/healthcheck.js [/health | /ready]
//
// It reads the variables the worker reads, so it follows the worker wherever it listens:
// health is served on OPS_PORT when set (at OPS_HOST, default API_HOST), else on PORT
// (alias ANALYTICS_WORKER_PORT, default 8080) at API_HOST; HEALTH_TOKEN is sent as a bearer
// token when set. The answer's body is printed, so `docker inspect` shows /ready's reasons.
// Plain JavaScript with no imports: it runs on any Node >= 18 and starts in ~50 ms.
const env = (name) => {
  const v = process.env[name]?.trim();
  return v === undefined || v === '' ? undefined : v;
};

const path = process.argv[2] ?? '/health';
const opsPort = env('OPS_PORT');
const port = opsPort ?? env('PORT') ?? env('ANALYTICS_WORKER_PORT') ?? '8080';
const listen = (opsPort === undefined ? undefined : env('OPS_HOST')) ?? env('API_HOST') ?? '0.0.0.0';
// A wildcard address is reached through loopback; a specific one only at that address.
const host = ['0.0.0.0', '::', '[::]'].includes(listen) ? '127.0.0.1' : listen.includes(':') && !listen.startsWith('[') ? `[${listen}]` : listen;
const token = env('HEALTH_TOKEN');

try {
  const res = await fetch(`http://${host}:${port}${path}`, {
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(4000),
  });
  const body = (await res.text()).slice(0, 2000);
  process.stdout.write(`${path} ${res.status} ${body}\n`);
  process.exit(res.ok ? 0 : 1);
} catch (err) {
  process.stdout.write(`${path} unreachable at ${host}:${port}: ${err instanceof Error ? (err.cause?.code ?? err.message) : String(err)}\n`);
  process.exit(1);
}
