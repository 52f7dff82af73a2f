/**
 * A small unbounded async FIFO queue: `put` never blocks, `get` awaits the
 * next item. The building block of the frame bus and of `waitForItem`.
 *
 * @module
 */

/** Error thrown by {@linkcode AsyncQueue.get} once the queue is closed and empty. */
export class QueueClosedError extends Error {
  /**
   * Makes the error.
   *
   * @example
   * ```ts
   * import { QueueClosedError } from "@parley/parley/transports";
   * const e = new QueueClosedError();
   * ```
   */
  constructor(message = "The queue is closed") {
    super(message);
    this.name = "QueueClosedError";
  }
}

/**
 * Unbounded FIFO with an awaitable `get`. Items put before `close()` are still
 * delivered; after that `get` rejects with {@linkcode QueueClosedError}.
 *
 * @example
 * ```ts
 * import { AsyncQueue } from "@parley/parley/transports";
 * const q = new AsyncQueue<string>();
 * q.put("hello");
 * console.log(await q.get()); // "hello"
 * ```
 */
export class AsyncQueue<T> {
  #items: T[] = [];
  #head = 0;
  #waiters: {
    resolve: (v: T) => void;
    reject: (e: unknown) => void;
  }[] = [];
  #closed = false;

  /** Number of items waiting in the queue. */
  get size(): number {
    return this.#items.length - this.#head;
  }

  /** Whether `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Adds an item, handing it straight to a waiting `get` if there is one.
   * Returns false (and drops nothing already queued) when the queue is closed.
   *
   * @param item The item.
   * @returns Whether the item was accepted.
   */
  put(item: T): boolean {
    if (this.#closed) return false;
    const waiter = this.#waiters.shift();
    if (waiter) waiter.resolve(item);
    else this.#items.push(item);
    return true;
  }

  /**
   * Takes the next item, waiting for one if the queue is empty.
   *
   * @param signal Aborts the wait (rejects with the signal's reason).
   * @returns The item.
   */
  get(signal?: AbortSignal): Promise<T> {
    if (this.size > 0) return Promise.resolve(this.#shift());
    if (this.#closed) return Promise.reject(new QueueClosedError());
    signal?.throwIfAborted();
    return new Promise<T>((resolve, reject) => {
      const waiter = {
        resolve: (v: T) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(v);
        },
        reject: (e: unknown) => {
          signal?.removeEventListener("abort", onAbort);
          reject(e);
        },
      };
      const onAbort = () => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(signal!.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  /**
   * Takes the next item if there is one, without waiting.
   *
   * @returns The item, or undefined when the queue is empty.
   */
  tryGet(): T | undefined {
    return this.size > 0 ? this.#shift() : undefined;
  }

  /**
   * Removes every queued item and returns them (oldest first).
   *
   * @returns The removed items.
   */
  drain(): T[] {
    const out = this.#items.slice(this.#head);
    this.#items = [];
    this.#head = 0;
    return out;
  }

  /** Closes the queue: pending and future `get` calls reject once it is empty. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.size === 0) {
      for (const w of this.#waiters.splice(0)) {
        w.reject(new QueueClosedError());
      }
    }
  }

  /** Iterates items until the queue is closed and empty. */
  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    while (true) {
      try {
        yield await this.get();
      } catch (e) {
        if (e instanceof QueueClosedError) return;
        throw e;
      }
    }
  }

  #shift(): T {
    const item = this.#items[this.#head];
    this.#items[this.#head] = undefined as T;
    this.#head++;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    if (this.#closed && this.size === 0) {
      for (const w of this.#waiters.splice(0)) {
        w.reject(new QueueClosedError());
      }
    }
    return item;
  }
}

/**
 * Waits up to `timeoutMs` for the next item of `queue`; returns undefined on
 * time-out or when the queue is closed. FastRTC's `wait_for_item`: handy in
 * `emit()` so a handler never blocks forever.
 *
 * @example
 * ```ts
 * import { waitForItem } from "@parley/parley";
 * import { AsyncQueue } from "@parley/parley/transports";
 * const q = new AsyncQueue<number>();
 * setTimeout(() => q.put(1), 10);
 * console.log(await waitForItem(q, 500)); // 1
 * console.log(await waitForItem(q, 10)); // undefined
 * ```
 *
 * @param queue The queue to read.
 * @param timeoutMs How long to wait, in milliseconds (default 100).
 * @returns The item or undefined.
 */
export async function waitForItem<T>(
  queue: AsyncQueue<T>,
  timeoutMs = 100,
): Promise<T | undefined> {
  const now = queue.tryGet();
  if (now !== undefined) return now;
  if (queue.closed) return undefined;
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  try {
    return await queue.get(ac.signal);
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}
