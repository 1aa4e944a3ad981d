import type { Writable } from 'node:stream';

/**
 * amqplib writes every frame to its socket on its own: one system call per published message
 * and per acknowledgement. In a RabbitMQ drain that publishes an event per reading, those writes
 * took 1.5 s of the worker's ~11 s. This corks the socket at the first write of a turn of the
 * event loop and uncorks it on the next, so the frames written meanwhile go out in one writev.
 * Order and backpressure are the socket's own: `write` still answers false past the high-water
 * mark, and 'drain' follows the uncork.
 */
export function coalesceWrites(socket: Writable): void {
  const write = socket.write.bind(socket);
  let corked = false;
  const uncork = (): void => {
    corked = false;
    socket.uncork();
  };
  socket.write = ((...args: Parameters<Writable['write']>) => {
    if (!corked && !socket.destroyed) {
      corked = true;
      socket.cork();
      setImmediate(uncork);
    }
    return (write as (...a: Parameters<Writable['write']>) => boolean)(...args);
  }) as Writable['write'];
}

/** The socket under an amqplib connection (amqplib keeps it as `connection.stream`; its types do not say so). */
export function socketOf(model: object): Writable | undefined {
  const stream = (model as { connection?: { stream?: unknown } }).connection?.stream;
  return stream !== null && typeof stream === 'object' && typeof (stream as Writable).cork === 'function' ? (stream as Writable) : undefined;
}
