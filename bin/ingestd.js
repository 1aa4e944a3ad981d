#!/usr/bin/env -S MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=4194304 MALLOC_TRIM_THRESHOLD_=33554432 node --max-semi-space-size=16 --max-old-space-size=512
// Memory (measured, docs/operations.md#memory): V8 sizes its heap from the limit, which is
// about 4 GB on a large machine, and lets garbage pile up towards it; a 512 MB old generation
// (about 25 MB is live at full speed) and 16 MB semi-spaces keep the heap near 70-80 MB.
// Two malloc arenas instead of one per thread keep native memory from fragmenting; fetch
// responses (at most 2 MiB) and COPY data are reused from the heap rather than mapped fresh
// (docs/operations.md#memory: 40 % fewer page faults in a drain), buffers of 4 MiB and more
// are mapped and returned. Together: a worker flat near 160-235 MB where Node's defaults
// grow past 500 MB in ten minutes.
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
