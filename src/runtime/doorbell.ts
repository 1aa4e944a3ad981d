/**
 * Wakes a waiting consumer when work arrives. A ring with nobody waiting is remembered, so
 * no wake-up is lost between checking for work and starting to wait. Waits end early on
 * abort and after `timeoutMs`; every listener is removed when a wait ends.
 */
export class Doorbell {
  #wake: (() => void) | undefined;
  #rung = false;

  ring(): void {
    if (this.#wake === undefined) this.#rung = true;
    else this.#wake();
  }

  wait(signal: AbortSignal, timeoutMs?: number): Promise<void> {
    if (this.#rung || signal.aborted) {
      this.#rung = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = timeoutMs === undefined ? undefined : setTimeout(done, timeoutMs);
      const bell = this;
      function done(): void {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        bell.#wake = undefined;
        resolve();
      }
      this.#wake = done;
      signal.addEventListener('abort', done, { once: true });
    });
  }
}

/** Batches of up to `max` items taken from a buffer as they arrive, until the signal aborts. */
export async function* batchesOf<T>(buffer: () => T[], max: number, bell: Doorbell, signal: AbortSignal): AsyncIterable<T[]> {
  while (!signal.aborted) {
    const items = buffer();
    if (items.length === 0) {
      await bell.wait(signal);
      continue;
    }
    yield items.splice(0, max);
  }
}
