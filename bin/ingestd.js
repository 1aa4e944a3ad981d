#!/usr/bin/env -S MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072 MALLOC_TRIM_THRESHOLD_=131072 node --max-semi-space-size=16
// Memory at full speed (measured, docs/operations.md#memory): a young generation of at most
// 16 MB semi-spaces instead of V8's 64 MB, two malloc arenas instead of one per thread, and
// large buffers (fetch responses, COPY data) mapped and returned to the system when freed
// rather than left fragmenting the heap. Together they hold a worker near 250-350 MB where
// the defaults grow past 500 MB over ten minutes.
// The CLI is TypeScript run by Node's built-in type stripping, which needs Node 24.
const [major] = process.versions.node.split('.').map(Number);
if (major < 24) {
  process.stderr.write(
    `ingestd needs Node.js 24 or newer (this is ${process.version}).\n` +
      'Run it through npm (`npx ingestd …`, `npm start`), which uses the Node 24 installed in node_modules.\n',
  );
  process.exit(2);
}
await import('../src/cli/main.ts');
