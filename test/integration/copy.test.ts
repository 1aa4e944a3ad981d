import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { copyText } from '../../src/sinks/postgres/copy.ts';
import { createTestDatabase } from '../helpers/db.ts';

let db: Awaited<ReturnType<typeof createTestDatabase>>;
before(async () => {
  db = await createTestDatabase();
});
after(async () => {
  await db?.drop();
});

test('a COPY whose session the server ends while it streams rejects; nothing is left unhandled', async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (err: unknown): void => {
    unhandled.push(err);
  };
  process.on('unhandledRejection', onUnhandled);
  const client = new pg.Client({ connectionString: db.url });
  const admin = new pg.Client({ connectionString: db.url });
  await client.connect();
  await admin.connect();
  client.on('error', () => undefined); // the ended connection also reports on the client
  try {
    await client.query('CREATE TABLE t (v text)');
    const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const line = `${'x'.repeat(1023)}\n`.repeat(1024); // 1 MiB
    // Far more than the socket buffers: the writer waits for 'drain' when the session ends.
    const chunks = Array.from({ length: 512 }, () => line);
    setTimeout(() => void admin.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]), 50);
    await assert.rejects(copyText(client as unknown as pg.PoolClient, 't', ['v'], chunks));
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(unhandled, []);
  } finally {
    process.off('unhandledRejection', onUnhandled);
    await client.end().catch(() => undefined);
    await admin.end();
  }
});
