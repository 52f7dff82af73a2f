/**
 * Call control across isolates and machines.
 *
 * Under `deno serve --parallel` (one isolate per core), on Deno Deploy, or
 * with several instances behind a balancer, a call's webhook, its media
 * socket and the browser's `/input_hook` and `/outputs` requests can land
 * on different isolates or machines. Everything that addresses a call by id
 * — `setInput`, its `AdditionalOutputs`, hang-up, the global
 * `concurrencyLimit` — goes through a {@linkcode ControlChannel}. Audio
 * never does: it stays on the instance that holds the media socket.
 *
 * Three channels:
 *
 * | channel | reaches | live-call registry and limit |
 * | --- | --- | --- |
 * | {@linkcode InProcessChannel} (default) | this isolate | exact, local |
 * | {@linkcode BroadcastControlChannel} | isolates of one process (`deno serve --parallel`), Deno Deploy isolates of one deployment | each isolate announces its calls; a limit check counts the announcements (a race of a few ms can let one extra call in) |
 * | {@linkcode RedisControlChannel} | every machine using one Redis | exact: one atomic script per call start, entries expire if an instance dies |
 *
 * @module
 */

import { errorText } from "../_internal/errors.ts";
import { lazyImport } from "../_internal/lazy_import.ts";
import { env } from "../_internal/permissions.ts";

/** A message between instances about one call. */
export type ControlMessage =
  | {
    /** Extra inputs for the call's handler (`setInput`, `/input_hook`). */
    type: "input";
    /** The call. */
    callId: string;
    /** The inputs. */
    args: unknown[];
  }
  | {
    /** `AdditionalOutputs` the call's handler produced. */
    type: "outputs";
    /** The call. */
    callId: string;
    /** The outputs' values. */
    args: unknown[];
  }
  | {
    /** End the call (on the instance that holds it). */
    type: "hangup";
    /** The call. */
    callId: string;
    /** Why, for logs. */
    reason: string;
  }
  | {
    /** The call ended: `/outputs` readers elsewhere finish. */
    type: "ended";
    /** The call. */
    callId: string;
  };

/** A channel between the instances that serve one bot. */
export interface ControlChannel {
  /** True when other instances can exist (not the in-process channel). */
  readonly distributed: boolean;
  /**
   * Sends a message to every other instance.
   *
   * @param message The message.
   */
  publish(message: ControlMessage): Promise<void>;
  /**
   * Receives the messages other instances publish.
   *
   * @param handler Called for each message.
   * @returns A function that stops it.
   */
  subscribe(handler: (message: ControlMessage) => void): () => void;
  /**
   * Registers a starting call if fewer than `limit` calls are live across
   * all instances (no limit: `null`). False means: refuse the call.
   *
   * @param callId The new call.
   * @param limit The global limit, or null.
   * @param tokenHash The hex sha256 of the call's access token, kept with
   *   the entry so another instance can check `/input_hook` and `/outputs`.
   */
  acquire(
    callId: string,
    limit: number | null,
    tokenHash?: string,
  ): Promise<boolean>;
  /**
   * The token hash registered with a live call, or null when it is not live.
   *
   * @param callId The call.
   */
  tokenHashOf(callId: string): Promise<string | null>;
  /**
   * Removes an ended call from the registry.
   *
   * @param callId The call.
   */
  release(callId: string): Promise<void>;
  /**
   * Whether a call is live on any instance.
   *
   * @param callId The call.
   */
  isLive(callId: string): Promise<boolean>;
  /** Stops the channel (timers, connections). */
  close(): Promise<void>;
}

/**
 * The default: one isolate, nothing crosses it.
 *
 * @example
 * ```ts
 * import { InProcessChannel } from "@parley/parley/server";
 * const channel = new InProcessChannel();
 * console.log(await channel.acquire("call-1", 1)); // true
 * console.log(await channel.acquire("call-2", 1)); // false
 * ```
 */
export class InProcessChannel implements ControlChannel {
  /** Always false: no other instance is reached. */
  readonly distributed = false;
  #calls = new Map<string, string>();

  /** Nothing to send to: no other instance. */
  publish(_message: ControlMessage): Promise<void> {
    return Promise.resolve();
  }

  /** Nothing ever arrives. */
  subscribe(_handler: (message: ControlMessage) => void): () => void {
    return () => {};
  }

  /**
   * Registers the call when the local count allows it.
   *
   * @param callId The call.
   * @param limit The limit, or null.
   * @param tokenHash The token's hash, kept with the entry.
   * @returns Whether the call may start.
   */
  acquire(
    callId: string,
    limit: number | null,
    tokenHash = "",
  ): Promise<boolean> {
    if (limit !== null && this.#calls.size >= limit) {
      return Promise.resolve(false);
    }
    this.#calls.set(callId, tokenHash);
    return Promise.resolve(true);
  }

  /**
   * The token hash of a registered call.
   *
   * @param callId The call.
   * @returns The hash, or null.
   */
  tokenHashOf(callId: string): Promise<string | null> {
    return Promise.resolve(this.#calls.get(callId) ?? null);
  }

  /**
   * Forgets the call.
   *
   * @param callId The call.
   */
  release(callId: string): Promise<void> {
    this.#calls.delete(callId);
    return Promise.resolve();
  }

  /**
   * Whether the call is registered here.
   *
   * @param callId The call.
   * @returns True when live.
   */
  isLive(callId: string): Promise<boolean> {
    return Promise.resolve(this.#calls.has(callId));
  }

  /** Nothing to stop. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Options of {@linkcode BroadcastControlChannel}. */
export interface BroadcastControlChannelOptions {
  /** Channel name shared by the instances (default "parley-control"). */
  name?: string;
  /** How often each isolate re-announces its calls, in ms (default 2000). */
  announceMs?: number;
}

/**
 * Isolates of one process (`deno serve --parallel`) or of one Deno Deploy
 * deployment, over the web-standard `BroadcastChannel`.
 *
 * @example
 * ```ts
 * import { BroadcastControlChannel } from "@parley/parley/server";
 * const control = new BroadcastControlChannel();
 * await control.close();
 * ```
 */
export class BroadcastControlChannel implements ControlChannel {
  /** Always true. */
  readonly distributed = true;
  #id = crypto.randomUUID();
  #channel: BroadcastChannel;
  #mine = new Map<string, string>();
  #others = new Map<string, { calls: Map<string, string>; at: number }>();
  #handlers = new Set<(m: ControlMessage) => void>();
  #timer: ReturnType<typeof setInterval>;
  #announceMs: number;

  /**
   * Joins the channel.
   *
   * @param options Name and announcement period.
   */
  constructor(options: BroadcastControlChannelOptions = {}) {
    this.#announceMs = options.announceMs ?? 2000;
    this.#channel = new BroadcastChannel(options.name ?? "parley-control");
    this.#channel.onmessage = (e: MessageEvent) => this.#receive(e.data);
    this.#timer = setInterval(() => this.#announce(), this.#announceMs);
    Deno.unrefTimer(this.#timer);
    this.#announce();
  }

  #receive(data: unknown): void {
    if (typeof data !== "object" || data === null) return;
    const d = data as {
      from?: string;
      announce?: [string, string][];
      message?: ControlMessage;
    };
    if (d.from === this.#id || typeof d.from !== "string") return;
    if (Array.isArray(d.announce)) {
      this.#others.set(d.from, { calls: new Map(d.announce), at: Date.now() });
      return;
    }
    if (d.message) { for (const h of this.#handlers) h(d.message); }
  }

  #announce(): void {
    this.#channel.postMessage({ from: this.#id, announce: [...this.#mine] });
  }

  #liveElsewhere(): Map<string, string> {
    const fresh = Date.now() - 3 * this.#announceMs;
    const all = new Map<string, string>();
    for (const [id, o] of this.#others) {
      if (o.at < fresh) {
        this.#others.delete(id);
        continue;
      }
      for (const [c, h] of o.calls) all.set(c, h);
    }
    return all;
  }

  /**
   * Posts to the other isolates.
   *
   * @param message The message.
   */
  publish(message: ControlMessage): Promise<void> {
    this.#channel.postMessage({ from: this.#id, message });
    return Promise.resolve();
  }

  /**
   * Receives the other isolates' messages.
   *
   * @param handler Called per message.
   * @returns Unsubscribe.
   */
  subscribe(handler: (message: ControlMessage) => void): () => void {
    this.#handlers.add(handler);
    return () => this.#handlers.delete(handler);
  }

  /**
   * Counts this isolate's calls and the others' last announcements.
   *
   * @param callId The call.
   * @param limit The limit, or null.
   * @param tokenHash The token's hash, kept with the entry.
   * @returns Whether the call may start.
   */
  acquire(
    callId: string,
    limit: number | null,
    tokenHash = "",
  ): Promise<boolean> {
    const live = this.#liveElsewhere().size + this.#mine.size;
    if (limit !== null && live >= limit) return Promise.resolve(false);
    this.#mine.set(callId, tokenHash);
    this.#announce();
    return Promise.resolve(true);
  }

  /**
   * The token hash a live call was announced with.
   *
   * @param callId The call.
   * @returns The hash, or null.
   */
  tokenHashOf(callId: string): Promise<string | null> {
    return Promise.resolve(
      this.#mine.get(callId) ?? this.#liveElsewhere().get(callId) ?? null,
    );
  }

  /**
   * Forgets the call and tells the others.
   *
   * @param callId The call.
   */
  release(callId: string): Promise<void> {
    this.#mine.delete(callId);
    this.#announce();
    return Promise.resolve();
  }

  /**
   * Whether any isolate announced the call.
   *
   * @param callId The call.
   * @returns True when live.
   */
  isLive(callId: string): Promise<boolean> {
    return Promise.resolve(
      this.#mine.has(callId) || this.#liveElsewhere().has(callId),
    );
  }

  /** Leaves the channel. */
  close(): Promise<void> {
    clearInterval(this.#timer);
    this.#mine.clear();
    this.#announce();
    this.#channel.close();
    return Promise.resolve();
  }
}

/** Options of {@linkcode RedisControlChannel}. */
export interface RedisControlChannelOptions {
  /** `redis://host:port` (default: the `REDIS_URL` env or redis://127.0.0.1:6379). */
  url?: string;
  /** Key and channel prefix, one per bot (default "parley"). */
  prefix?: string;
  /**
   * Seconds a live-call entry lasts without a heartbeat (default 30): the
   * calls of an instance that dies free their slots after this long.
   */
  callTtlSeconds?: number;
}

type RedisClient = {
  connect(): Promise<unknown>;
  duplicate(): RedisClient;
  publish(channel: string, message: string): Promise<number>;
  subscribe(
    channel: string,
    listener: (message: string) => void,
  ): Promise<void>;
  eval(
    script: string,
    options: { keys: string[]; arguments: string[] },
  ): Promise<unknown>;
  zRem(key: string, member: string): Promise<number>;
  zScore(key: string, member: string): Promise<number | null>;
  quit(): Promise<unknown>;
  on(event: "error", listener: (e: unknown) => void): unknown;
};

const loadRedis = lazyImport<
  {
    createClient(options: {
      url: string;
      socket?: {
        reconnectStrategy?: (retries: number, cause: Error) => number | Error;
        connectTimeout?: number;
      };
    }): RedisClient;
  }
>("npm:@redis/client@6.3.1", "the Redis control channel");

// KEYS[1] = live-call set; ARGV = now (ms), expiry (ms), limit (-1: none), id.
const ACQUIRE = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local limit = tonumber(ARGV[3])
if limit >= 0 and redis.call('ZCARD', KEYS[1]) >= limit then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
return 1`;

/**
 * Separate machines (or processes) sharing one Redis: pub/sub for messages,
 * a sorted set of live calls (with expiry) for the global limit. Uses the
 * official `@redis/client`, loaded on first use.
 *
 * @example
 * ```ts ignore
 * import { RedisControlChannel } from "@parley/parley/server";
 * const control = await RedisControlChannel.connect({ url: "redis://127.0.0.1:6379" });
 * ```
 */
export class RedisControlChannel implements ControlChannel {
  /** Always true. */
  readonly distributed = true;
  #pub: RedisClient;
  #sub: RedisClient;
  #prefix: string;
  #ttlMs: number;
  #id = crypto.randomUUID();
  #handlers = new Set<(m: ControlMessage) => void>();
  #mine = new Set<string>();
  #timer: ReturnType<typeof setInterval>;

  private constructor(
    pub: RedisClient,
    sub: RedisClient,
    options: RedisControlChannelOptions,
  ) {
    this.#pub = pub;
    this.#sub = sub;
    this.#prefix = options.prefix ?? "parley";
    this.#ttlMs = (options.callTtlSeconds ?? 30) * 1000;
    this.#timer = setInterval(() => this.#heartbeat(), this.#ttlMs / 3);
    Deno.unrefTimer(this.#timer);
  }

  /**
   * Connects (two connections: one publishes and runs commands, one
   * subscribes).
   *
   * @param options URL, prefix, entry lifetime.
   * @returns The connected channel.
   */
  static async connect(
    options: RedisControlChannelOptions = {},
  ): Promise<RedisControlChannel> {
    const url = options.url ?? env("REDIS_URL") ?? "redis://127.0.0.1:6379";
    const { createClient } = await loadRedis();
    // Until the first connection succeeds a failure is final (a wrong URL
    // must not retry forever); after it, reconnect with backoff.
    let up = false;
    const socket = {
      connectTimeout: 5000,
      reconnectStrategy: (retries: number, cause: Error) =>
        up ? Math.min(100 * 2 ** retries, 3000) : cause,
    };
    const pub = createClient({ url, socket });
    pub.on("error", () => {});
    try {
      await pub.connect();
      up = true;
    } catch (e) {
      throw new Error(
        `Cannot connect to Redis at ${url}: ${
          errorText(e)
        }; start redis-server ` +
          `or set REDIS_URL (and allow --allow-net to that host)`,
        { cause: e },
      );
    }
    const sub = pub.duplicate();
    sub.on("error", () => {});
    await sub.connect();
    const channel = new RedisControlChannel(pub, sub, options);
    await sub.subscribe(`${channel.#prefix}:control`, (raw) => {
      let d: { from?: string; message?: ControlMessage };
      try {
        d = JSON.parse(raw);
      } catch {
        return;
      }
      if (d.from === channel.#id || !d.message) return;
      for (const h of channel.#handlers) h(d.message);
    });
    return channel;
  }

  get #calls(): string {
    return `${this.#prefix}:calls`;
  }

  get #tokens(): string {
    return `${this.#prefix}:tokens`;
  }

  async #heartbeat(): Promise<void> {
    const expiry = String(Date.now() + this.#ttlMs);
    for (const id of this.#mine) {
      await this.#pub.eval(
        "if redis.call('ZSCORE', KEYS[1], ARGV[2]) then redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2]) end return 1",
        { keys: [this.#calls], arguments: [expiry, id] },
      ).catch(() => {});
    }
  }

  /**
   * Publishes on `<prefix>:control`.
   *
   * @param message The message.
   */
  async publish(message: ControlMessage): Promise<void> {
    await this.#pub.publish(
      `${this.#prefix}:control`,
      JSON.stringify({ from: this.#id, message }),
    );
  }

  /**
   * Receives the other instances' messages.
   *
   * @param handler Called per message.
   * @returns Unsubscribe.
   */
  subscribe(handler: (message: ControlMessage) => void): () => void {
    this.#handlers.add(handler);
    return () => this.#handlers.delete(handler);
  }

  /**
   * One atomic script: drop expired entries, check the count, add the call.
   *
   * @param callId The call.
   * @param limit The limit, or null.
   * @param tokenHash The token's hash, kept with the entry.
   * @returns Whether the call may start.
   */
  async acquire(
    callId: string,
    limit: number | null,
    tokenHash = "",
  ): Promise<boolean> {
    const now = Date.now();
    const ok = await this.#pub.eval(ACQUIRE, {
      keys: [this.#calls],
      arguments: [
        String(now),
        String(now + this.#ttlMs),
        String(limit ?? -1),
        callId,
      ],
    });
    if (Number(ok) !== 1) return false;
    this.#mine.add(callId);
    await this.#pub.eval(
      "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) return 1",
      { keys: [this.#tokens], arguments: [callId, tokenHash] },
    );
    return true;
  }

  /**
   * The token hash of an unexpired call.
   *
   * @param callId The call.
   * @returns The hash, or null.
   */
  async tokenHashOf(callId: string): Promise<string | null> {
    if (!(await this.isLive(callId))) return null;
    const h = await this.#pub.eval(
      "return redis.call('HGET', KEYS[1], ARGV[1])",
      { keys: [this.#tokens], arguments: [callId] },
    );
    return typeof h === "string" ? h : null;
  }

  /**
   * Removes the call's entry.
   *
   * @param callId The call.
   */
  async release(callId: string): Promise<void> {
    this.#mine.delete(callId);
    await this.#pub.zRem(this.#calls, callId);
    await this.#pub.eval("redis.call('HDEL', KEYS[1], ARGV[1]) return 1", {
      keys: [this.#tokens],
      arguments: [callId],
    });
  }

  /**
   * Whether an unexpired entry exists.
   *
   * @param callId The call.
   * @returns True when live.
   */
  async isLive(callId: string): Promise<boolean> {
    const score = await this.#pub.zScore(this.#calls, callId);
    return score !== null && score > Date.now();
  }

  /** Releases this instance's calls and disconnects. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    for (const id of [...this.#mine]) await this.release(id).catch(() => {});
    await this.#sub.quit().catch(() => {});
    await this.#pub.quit().catch(() => {});
  }
}
