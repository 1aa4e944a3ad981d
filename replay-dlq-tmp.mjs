// replay-dlq.mjs QUEUE EXCHANGE ROUTING_KEY [MAX]: moves dead letters back to the ingest exchange.
import amqp from 'amqplib';
const [queue, exchange, routingKey, max = '100'] = process.argv.slice(2);
const conn = await amqp.connect(process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672');
const ch = await conn.createConfirmChannel();
let n = 0;
for (let m; n < Number(max) && (m = await ch.get(queue)); n++) {
  // Same body and properties: x-attempts and x-first-failed-at carry over to the next failure.
  ch.publish(exchange, routingKey, m.content, m.properties);
  await ch.waitForConfirms(); // the copy is safe before the dead letter is removed
  ch.ack(m);
}
console.log(`replayed ${n} message(s) from ${queue} to ${exchange} (${routingKey})`);
await ch.close();
await conn.close();
