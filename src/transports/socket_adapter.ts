/**
 * The one socket adapter every WebSocket wire protocol runs on.
 *
 * A protocol is a pure {@linkcode WireCodec}; this adapter owns the socket:
 *
 * - **Size limits before parsing**: a message over `maxMessageBytes` (UTF-8
 *   bytes of a text frame, bytes of a binary one) is rejected unparsed.
 * - **Start timeout**: a socket that has not started a call within
 *   `startTimeoutMs` is closed (1008), so idle sockets cannot pile up.
 * - **Pacing**: outbound audio leaves in real time, `leadMs` ahead
 *   ({@linkcode pumpOutput}); marks follow each reply (or are reported
 *   `played` by the playback clock when the protocol has none).
 * - **Backpressure**: nothing is sent while the socket holds more than
 *   `maxBufferedBytes` unsent; error replies and pongs are then dropped and
 *   counted, and a socket that stays over the cap for `drainTimeoutMs` is
 *   closed (1008 "client is not reading"). Error replies are rate-limited
 *   either way.
 * - **Logging**: problems go to `onProblem`, rate-limited per socket,
 *   truncated and with control characters escaped, so no client can flood
 *   or forge the log.
 * - **Clean close**: the call ends when the socket closes; the socket gets a
 *   close frame with a reason when the call ends, and `1001 "server shutting
 *   down"` when `signal` aborts. A socket the adapter closed is released
 *   after `closeGraceMs` even if the client never completes the close
 *   handshake (a client that does not read cannot): the call ends and the
 *   returned promise resolves. Deno has no API to abort a server WebSocket's
 *   TCP connection, so its file descriptor stays until the client answers
 *   or disconnects (or the process exits).
 *
 * The server hands the adapter a pre-wired call ({@linkcode PreparedCall}):
 * its bus already knows the call's rates and mode. The adapter subscribes to
 * the bus first and only then calls `begin()`, which starts the handler, so
 * no event is emitted before anyone listens.
 *
 * @module
 */

import { errorText } from "../_internal/errors.ts";
import type { FrameBus } from "../bus/frame_bus.ts";
import { CallRejectedError } from "./call_rejected.ts";
import type { CallStart, Decoded, WireCodec, WireMessage } from "./codec.ts";
import { pumpOutput } from "./output_pump.ts";
import { log } from "../_internal/log.ts";

/** A call the server has set up for a socket, not yet running. */
export interface PreparedCall {
  /** The call's bus (rates, mode, limits already set). */
  bus: FrameBus;
  /**
   * Starts the handler. The adapter calls it once its listeners are on the
   * bus. Omit it when the bus needs no start (tests, custom servers).
   */
  begin?: () => void;
  /**
   * The id the server gave the call, when it differs from the one the
   * client asked for or must be told (sent in the protocol's `started`).
   */
  callId?: string;
  /** The call's access token, for protocols that tell the client. */
  token?: string;
}

/** Options of {@linkcode serveSocket}. */
export interface SocketAdapterOptions {
  /** An open (or opening) WebSocket from `Deno.upgradeWebSocket`. */
  socket: WebSocket;
  /** The protocol, one fresh codec per socket. */
  codec: WireCodec;
  /**
   * Called once, on the protocol's start: returns the prepared call, or
   * throws to refuse it (a {@linkcode CallRejectedError} carries FastRTC's
   * failure code to the client where the protocol can say it).
   */
  startCall: (call: CallStart) => PreparedCall | Promise<PreparedCall>;
  /** Largest accepted message in bytes (default 1 MiB). */
  maxMessageBytes?: number;
  /** Close a socket that starts no call within this many ms (default 10000). */
  startTimeoutMs?: number;
  /** Lead of outbound audio over real time in ms (default 80). */
  leadMs?: number;
  /** Most unsent bytes the socket may hold before sends wait (default 1 MiB). */
  maxBufferedBytes?: number;
  /** Close a socket that stays over `maxBufferedBytes` this long (default 10000 ms). */
  drainTimeoutMs?: number;
  /**
   * After the adapter closes the socket, wait this long for the client's
   * close frame before ending the call anyway (default 2000 ms).
   */
  closeGraceMs?: number;
  /**
   * Aborting it closes the socket with `1001 "server shutting down"` (the
   * server's shutdown); the call then ends like a hang-up.
   */
  signal?: AbortSignal;
  /** Most error replies sent per second (default 5, bursts of 20). */
  errorRepliesPerSecond?: number;
  /**
   * Receives protocol problems and handler errors, at most 10 per 10 s per
   * socket (then one line counting the rest). Default: `console.warn` with
   * a `[parley] <protocol>:` prefix.
   */
  onProblem?: (message: string) => void;
}

/** Counters of one socket. */
export interface SocketStats {
  /** Messages received. */
  messagesIn: number;
  /** Audio chunks handed to the call. */
  audioIn: number;
  /** Audio frames sent. */
  audioOut: number;
  /** Marks sent. */
  marksOut: number;
  /** Flushes (`clear`) sent. */
  clears: number;
  /** Messages rejected (too big, malformed, out of order, unknown). */
  rejected: number;
  /** Replies (errors, pongs) not sent: rate limit or a full socket. */
  repliesDropped: number;
  /** Problems not logged because of the log rate limit. */
  problemsSuppressed: number;
  /** Why the socket was closed by the adapter, if it was. */
  closedBy?:
    | "start_timeout"
    | "not_reading"
    | "call_rejected"
    | "shutdown";
  /**
   * True when the client completed the close handshake (or closed first);
   * false when the adapter gave up waiting after `closeGraceMs`.
   */
  closedCleanly?: boolean;
}

const encoder = new TextEncoder();

/** UTF-8 size of a text frame, computed only when the length is ambiguous. */
function messageBytes(data: WireMessage, max: number): number {
  if (typeof data !== "string") return data.byteLength;
  // UTF-8 needs 1-3 bytes per UTF-16 unit (4 per surrogate pair).
  if (data.length > max || data.length * 3 <= max) return data.length;
  return encoder.encode(data).byteLength;
}

/**
 * Makes text safe for one log line: bounded, and control characters
 * (ANSI escapes, newlines) written as `\uXXXX`, so a client cannot forge
 * or colour log lines.
 *
 * @example
 * ```ts
 * import { sanitizeLogText } from "@parley/parley/transports";
 * sanitizeLogText("bad\n[parley] call x ended"); // "bad\\u000a[parley] call x ended"
 * ```
 *
 * @param text Untrusted text.
 * @param max Longest kept prefix (default 300 characters).
 * @returns One safe line.
 */
export function sanitizeLogText(text: string, max = 300): string {
  const cut = text.length > max
    ? `${text.slice(0, max)}… (${text.length} chars)`
    : text;
  return cut.replace(
    // deno-lint-ignore no-control-regex
    /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** A token bucket: `take()` is true while tokens are left. */
class Bucket {
  #tokens: number;
  #last = performance.now();
  constructor(readonly rate: number, readonly burst: number) {
    this.#tokens = burst;
  }
  take(): boolean {
    const now = performance.now();
    this.#tokens = Math.min(
      this.burst,
      this.#tokens + (now - this.#last) * this.rate / 1000,
    );
    this.#last = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

/**
 * Serves one socket with a codec until the socket closes or the call ends.
 * Resolves with the socket's counters once both the socket and the call are
 * done.
 *
 * @example Serve Twilio Media Streams with a bus of your own
 * ```ts
 * import { createTwilioCodec, FrameBus, serveSocket } from "@parley/parley/transports";
 * Deno.serve((req) => {
 *   const { socket, response } = Deno.upgradeWebSocket(req);
 *   serveSocket({
 *     socket,
 *     codec: createTwilioCodec(),
 *     startCall: (call) => ({
 *       bus: new FrameBus({
 *         callId: call.callId,
 *         transportInputRate: 8000,
 *         transportOutputRate: 8000,
 *         handlerInputRate: 16000,
 *       }),
 *     }),
 *   });
 *   return response;
 * });
 * ```
 *
 * @param options The socket, the codec and the call factory.
 * @returns The counters.
 */
export function serveSocket(
  options: SocketAdapterOptions,
): Promise<SocketStats> {
  const { socket, codec } = options;
  socket.binaryType = "arraybuffer";
  const maxBytes = options.maxMessageBytes ?? 1 << 20;
  const maxBuffered = options.maxBufferedBytes ?? 1 << 20;
  const drainTimeoutMs = options.drainTimeoutMs ?? 10_000;
  const replies = new Bucket(options.errorRepliesPerSecond ?? 5, 20);
  const logs = new Bucket(1, 10);
  const sink = options.onProblem ??
    ((m: string) => log.warn(`[parley] ${codec.protocol}: ${m}`));
  const stats: SocketStats = {
    messagesIn: 0,
    audioIn: 0,
    audioOut: 0,
    marksOut: 0,
    clears: 0,
    rejected: 0,
    repliesDropped: 0,
    problemsSuppressed: 0,
  };
  let bus: FrameBus | null = null;
  let starting = false;
  let socketClosed = false;
  let pump: Promise<void> | null = null;
  let overSince = -1;

  const problem = (message: string) => {
    if (!logs.take()) {
      stats.problemsSuppressed++;
      return;
    }
    const extra = stats.problemsSuppressed
      ? ` (${stats.problemsSuppressed} earlier problems not logged)`
      : "";
    stats.problemsSuppressed = 0;
    sink(sanitizeLogText(message) + extra);
  };
  const closeGraceMs = options.closeGraceMs ?? 2000;
  let graceTimer: ReturnType<typeof setTimeout> | undefined;
  // Set by the promise below: ends the call and resolves, once.
  let finish = (_clean: boolean) => {};
  const close = (code: number, reason: string) => {
    if (socket.readyState !== WebSocket.OPEN) return;
    socket.close(code, reason);
    graceTimer ??= setTimeout(() => finish(false), closeGraceMs);
  };
  const onShutdown = () => {
    stats.closedBy ??= "shutdown";
    close(1001, "server shutting down");
  };
  /** False when the socket is full: the message was not sent. */
  const canSend = (): boolean => {
    if (socket.readyState !== WebSocket.OPEN) return false;
    if (socket.bufferedAmount <= maxBuffered) {
      overSince = -1;
      return true;
    }
    const now = performance.now();
    if (overSince < 0) overSince = now;
    else if (now - overSince > drainTimeoutMs) {
      stats.closedBy = "not_reading";
      problem(
        `closing the socket: the client has not read ${socket.bufferedAmount} ` +
          `queued bytes for ${drainTimeoutMs} ms`,
      );
      close(1008, "client is not reading");
    }
    return false;
  };
  const sendNow = (message: WireMessage | null | undefined): boolean => {
    if (message === null || message === undefined) return false;
    if (!canSend()) return false;
    socket.send(message);
    return true;
  };
  const sendReply = (message: WireMessage | null | undefined) => {
    if (message === null || message === undefined) return;
    if (!replies.take() || !sendNow(message)) stats.repliesDropped++;
  };

  const startTimer = setTimeout(() => {
    if (bus || starting || socketClosed) return;
    stats.closedBy = "start_timeout";
    problem(
      `closing the socket: no start message within ${
        options.startTimeoutMs ?? 10_000
      } ms`,
    );
    close(1008, "no start message");
  }, options.startTimeoutMs ?? 10_000);

  const attach = (b: FrameBus) => {
    b.on("interrupt", () => {
      if (sendNow(codec.encodeClear())) stats.clears++;
    });
    b.on("close", () => close(1000, "call ended"));
    if (codec.encodeClientMessage) {
      const enc = codec.encodeClientMessage.bind(codec);
      b.on("log", (e) => sendNow(enc({ type: "log", data: e.data })));
      b.on("message", (e) => sendNow(enc(e.message)));
    } else {
      b.on("message", (e) => {
        if (e.message.type === "error") {
          problem(`handler error: ${e.message.message ?? e.message.data}`);
        }
      });
    }
    const hasMarks = codec.encodeMark("probe") !== null;
    pump = pumpOutput({
      bus: b,
      leadMs: options.leadMs,
      sendAudio: (samples) => {
        if (sendNow(codec.encodeAudio(samples))) stats.audioOut++;
      },
      sendMark: hasMarks
        ? (name) => {
          if (sendNow(codec.encodeMark(name))) stats.marksOut++;
        }
        : undefined,
    });
  };

  const start = async (call: CallStart) => {
    if (bus || starting) {
      stats.rejected++;
      return problem("second start ignored");
    }
    starting = true;
    let prepared: PreparedCall;
    try {
      prepared = await options.startCall(call);
    } catch (e) {
      starting = false;
      stats.closedBy = "call_rejected";
      if (e instanceof CallRejectedError) {
        problem(`call rejected: ${e.meta.error}`);
        sendNow(codec.encodeRejected?.(e.meta));
      } else {
        const text = errorText(e);
        problem(`call rejected: ${text}`);
        sendNow(
          codec.encodeClientMessage?.({
            type: "error",
            message: `The call could not start: ${text}`,
          }),
        );
      }
      close(1008, "call rejected");
      return;
    }
    clearTimeout(startTimer);
    const b = prepared.bus;
    if (socketClosed) {
      b.close("caller hung up");
      return;
    }
    bus = b;
    if (call.outputRate === undefined) {
      codec.setOutputRate?.(b.transportOutputRate);
    }
    sendNow(
      codec.encodeStarted?.({
        inputRate: b.transportInputRate,
        outputRate: b.transportOutputRate,
        callId: prepared.callId,
        token: prepared.token,
      }),
    );
    attach(b);
    prepared.begin?.();
  };

  const handle = async (d: Decoded) => {
    switch (d.kind) {
      case "start":
        return await start(d.call);
      case "audio":
        if (!bus) {
          stats.rejected++;
          return problem("audio before the call started ignored");
        }
        stats.audioIn++;
        bus.sendInput([bus.transportInputRate, d.samples]);
        return;
      case "dtmf":
        bus?.emit({ type: "dtmf", digit: d.digit });
        return;
      case "played":
        bus?.emit({ type: "played", name: d.name });
        return;
      case "stop":
        bus?.close(d.reason);
        close(1000, "stopped");
        return;
      case "reply":
        return sendReply(d.message);
      case "error":
        stats.rejected++;
        problem(d.reason);
        return sendReply(d.reply);
    }
  };

  const onMessage = async (data: WireMessage) => {
    stats.messagesIn++;
    const size = messageBytes(data, maxBytes);
    if (size > maxBytes) {
      stats.rejected++;
      const reason = `message of ${size} bytes exceeds the ${maxBytes}-byte ` +
        `limit; send audio in smaller chunks (20-100 ms)`;
      problem(reason);
      return sendReply(
        codec.encodeClientMessage?.({ type: "error", message: reason }),
      );
    }
    for (const d of codec.decode(data)) await handle(d);
  };

  if (options.signal?.aborted) queueMicrotask(onShutdown);
  else options.signal?.addEventListener("abort", onShutdown, { once: true });

  return new Promise<SocketStats>((resolve) => {
    // Messages are handled one at a time, in order, even across the await
    // in start(): media right after start must reach the started call.
    let chain = Promise.resolve();
    let finished = false;
    finish = (clean: boolean) => {
      if (finished) return;
      finished = true;
      socketClosed = true;
      stats.closedCleanly = clean;
      clearTimeout(startTimer);
      clearTimeout(graceTimer);
      options.signal?.removeEventListener("abort", onShutdown);
      socket.onmessage = null;
      chain.finally(async () => {
        bus?.close(
          stats.closedBy === "shutdown"
            ? "server shutting down"
            : stats.closedBy === "not_reading"
            ? "client is not reading"
            : "caller hung up",
        );
        if (pump) await pump.catch(() => {});
        resolve(stats);
      });
    };
    socket.onmessage = (ev: MessageEvent) => {
      if (finished) return;
      const data = typeof ev.data === "string"
        ? ev.data
        : ev.data instanceof ArrayBuffer
        ? new Uint8Array(ev.data)
        : new Uint8Array(0);
      chain = chain.then(() => onMessage(data)).catch((e) => {
        // Whatever a client sends, it must not take the server down.
        stats.rejected++;
        problem(
          `message could not be handled: ${errorText(e)}`,
        );
      });
    };
    socket.onclose = () => finish(true);
    socket.onerror = () => {};
  });
}
