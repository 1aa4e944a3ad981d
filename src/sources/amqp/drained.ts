import type { EventEmitter } from 'node:events';

/**
 * Resolves on 'drain', or when the channel closes: a publish that waited on a full socket
 * when the connection died must not wait forever (the next publish, or waitForConfirms, then
 * fails and the caller retries on the new connection).
 */
export function drained(ch: EventEmitter): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      ch.off('drain', done);
      ch.off('close', done);
      resolve();
    };
    ch.on('drain', done);
    ch.on('close', done);
  });
}
