/**
 * Fan-out of a call's `AdditionalOutputs` to every reader.
 *
 * - Every reader gets every output published after it subscribed, in order,
 *   in its own queue: two readers no longer split the outputs between them.
 * - Outputs published before anyone ever subscribed wait in a backlog of
 *   the newest `backlog` (default 256); the **first** reader gets them, so
 *   a page that connects its reader a moment after the call started still
 *   sees the early outputs. Later readers start from "now".
 * - A reader's queue holds at most `perReaderQueue` items: a reader that
 *   does not keep up loses its oldest ones (counted in `dropped`), never
 *   anyone else's and never the server's memory.
 * - At most `maxReaders` readers at once; {@linkcode OutputsHub.subscribe}
 *   returns null beyond that. A reader that is closed (the HTTP client went
 *   away) releases its place at once.
 *
 * @module
 */

import { AsyncQueue, QueueClosedError } from "../bus/queue.ts";

/** Options of {@linkcode OutputsHub}. */
export interface OutputsHubOptions {
  /** Newest outputs kept for the first reader (default 256). */
  backlog?: number;
  /** Most outputs queued per reader (default 256). */
  perReaderQueue?: number;
  /** Most readers at once (default 8). */
  maxReaders?: number;
}

/** One subscriber of an {@linkcode OutputsHub}. */
export interface OutputsReader<T> extends AsyncIterable<T> {
  /**
   * The next output; rejects with `QueueClosedError` once the call has
   * ended (or the reader was closed) and nothing is left.
   *
   * @param signal Aborts the wait.
   */
  next(signal?: AbortSignal): Promise<T>;
  /** Leaves the hub (idempotent); the reader's place is free again. */
  close(): void;
  /** Outputs this reader lost because it did not keep up. */
  readonly dropped: number;
}

/**
 * Hands every published item to every current reader.
 *
 * @example
 * ```ts
 * import { OutputsHub } from "./outputs_hub.ts";
 * const hub = new OutputsHub<string>();
 * hub.publish("early"); // kept for the first reader
 * const a = hub.subscribe()!;
 * const b = hub.subscribe()!;
 * hub.publish("hello");
 * console.log(await a.next(), await a.next()); // "early" "hello"
 * console.log(await b.next()); // "hello"
 * a.close();
 * b.close();
 * hub.close();
 * ```
 */
export class OutputsHub<T> {
  #backlog: T[] = [];
  #backlogMax: number;
  #perReader: number;
  #maxReaders: number;
  #readers = new Set<{ queue: AsyncQueue<T>; dropped: number }>();
  #everSubscribed = false;
  #closed = false;

  /**
   * Makes an empty hub.
   *
   * @param options Bounds.
   */
  constructor(options: OutputsHubOptions = {}) {
    this.#backlogMax = options.backlog ?? 256;
    this.#perReader = options.perReaderQueue ?? 256;
    this.#maxReaders = options.maxReaders ?? 8;
  }

  /** Readers subscribed now. */
  get readers(): number {
    return this.#readers.size;
  }

  /** Whether the hub was closed (the call ended). */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Publishes one output to every reader (or to the backlog while nobody
   * has subscribed yet).
   *
   * @param item The output.
   */
  publish(item: T): void {
    if (this.#closed) return;
    if (!this.#everSubscribed) {
      if (this.#backlog.length >= this.#backlogMax) this.#backlog.shift();
      this.#backlog.push(item);
      return;
    }
    for (const r of this.#readers) {
      if (r.queue.size >= this.#perReader) {
        r.queue.tryGet();
        r.dropped++;
      }
      r.queue.put(item);
    }
  }

  /**
   * Subscribes a reader.
   *
   * @param options `limited: false` exempts the reader from `maxReaders`
   *   (server code's own readers; HTTP readers are limited).
   * @returns The reader, or null when `maxReaders` are already reading.
   */
  subscribe(options: { limited?: boolean } = {}): OutputsReader<T> | null {
    if ((options.limited ?? true) && this.#readers.size >= this.#maxReaders) {
      return null;
    }
    const entry = { queue: new AsyncQueue<T>(), dropped: 0 };
    if (!this.#everSubscribed) {
      this.#everSubscribed = true;
      for (const item of this.#backlog.splice(0)) entry.queue.put(item);
    }
    if (this.#closed) entry.queue.close();
    else this.#readers.add(entry);
    const readers = this.#readers;
    const close = () => {
      readers.delete(entry);
      entry.queue.close();
    };
    return {
      next: (signal?: AbortSignal) => entry.queue.get(signal),
      close,
      get dropped() {
        return entry.dropped;
      },
      async *[Symbol.asyncIterator]() {
        try {
          while (true) {
            try {
              yield await entry.queue.get();
            } catch (e) {
              if (e instanceof QueueClosedError) return;
              throw e;
            }
          }
        } finally {
          close();
        }
      },
    };
  }

  /** Ends the hub: readers finish once their queues are empty. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#backlog = [];
    for (const r of this.#readers) r.queue.close();
    this.#readers.clear();
  }
}
