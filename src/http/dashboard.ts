import type { FastifyInstance } from 'fastify';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

/** One static asset, read once at registration. */
interface Asset {
  readonly body: Buffer;
  readonly type: string;
}

const FAVICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">`
  + `<rect width="32" height="32" rx="7" fill="#0f172a"/>`
  + `<path d="M18 4 8 18h7l-2 10 11-15h-7z" fill="#facc15"/></svg>`;

/**
 * The live dashboard: GET / plus its assets under /dashboard/. Everything is served by the
 * worker itself (no CDN); the page reads the /v1 read API with relative URLs.
 */
export function registerDashboard(app: FastifyInstance): void {
  const require = createRequire(import.meta.url);
  const local = (name: string) => new URL(`./dashboard/${name}`, import.meta.url);
  const assets: Record<string, Asset> = {
    '/': { body: readFileSync(local('index.html')), type: 'text/html; charset=utf-8' },
    '/dashboard/app.js': { body: readFileSync(local('app.js')), type: 'text/javascript; charset=utf-8' },
    '/dashboard/style.css': { body: readFileSync(local('style.css')), type: 'text/css; charset=utf-8' },
    '/dashboard/uplot.js': {
      body: readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js')),
      type: 'text/javascript; charset=utf-8',
    },
    '/dashboard/uplot.css': {
      body: readFileSync(require.resolve('uplot/dist/uPlot.min.css')),
      type: 'text/css; charset=utf-8',
    },
    '/favicon.ico': { body: Buffer.from(FAVICON), type: 'image/svg+xml' },
    '/favicon.svg': { body: Buffer.from(FAVICON), type: 'image/svg+xml' },
  };
  for (const [path, asset] of Object.entries(assets)) {
    app.get(path, async (_req, reply) => {
      reply.header('content-type', asset.type);
      reply.header('cache-control', 'no-cache');
      reply.header('x-content-type-options', 'nosniff');
      return reply.send(asset.body);
    });
  }
}
