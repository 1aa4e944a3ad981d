// temporary helper for documentation examples; deleted afterwards
import amqp from 'amqplib';
const [cmd, ...args] = process.argv.slice(2);
const conn = await amqp.connect('amqp://guest:guest@127.0.0.1:5672');
const ch = await conn.createConfirmChannel();
if (cmd === 'capture') {
  await ch.assertQueue('docs.events.capture', { durable: false });
  await ch.bindQueue('docs.events.capture', 'docs.worker.events', '#');
} else if (cmd === 'publish') {
  ch.publish('docs.ingest.exchange', 'meter.reading.ingested', Buffer.from(args[0]), { persistent: true, contentType: 'application/json' });
  await ch.waitForConfirms();
} else if (cmd === 'get') {
  const q = args[0]; const n = Number(args[1] ?? 1);
  for (let i = 0; i < n; i++) { const m = await ch.get(q, { noAck: true }); if (!m) break; console.log(JSON.stringify({ routingKey: m.fields.routingKey, properties: m.properties, body: m.content.toString() }, null, 1)); }
} else if (cmd === 'cleanup') {
  for (const q of ['docs.ingest.queue', 'docs.ingest.dlq', 'docs.events.capture']) console.log(q, await ch.deleteQueue(q));
  for (const e of ['docs.ingest.exchange', 'docs.worker.events']) { await ch.deleteExchange(e); console.log('deleted', e); }
}
await ch.close(); await conn.close();
