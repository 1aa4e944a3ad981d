#!/usr/bin/env node
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
