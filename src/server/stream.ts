/**
 * `Stream`: serves a handler over FastRTC's routes with a web-standard
 * `fetch(request)`, so it runs under `Deno.serve`, `deno serve`, Deno Deploy
 * or mounted in Hono.
 *
 * | route | what |
 * | --- | --- |
 * | `GET /` | the built-in page |
 * | `GET /client.js` | the browser client module the page uses |
 * | `WS /websocket/offer` | FastRTC's browser WebSocket protocol |
 * | `POST /telephone/incoming` | Twilio voice webhook → TwiML |
 * | `WS /telephone/handler` | Twilio Media Streams |
 * | `GET\|POST /telephone/<carrier>/incoming` | answer document of Telnyx, Plivo, Vonage, Exotel, SignalWire |
 * | `WS /telephone/<carrier>/handler` | that carrier's media socket (see `carrier_routes.ts`) |
 * | `POST /webrtc/offer` | WebRTC offer / trickle ICE (when a WebRTC transport is set) |
 * | `POST /input_hook` | `{webrtc_id, args: […]}` → `setInput` |
 * | `GET /outputs?webrtc_id=ID` | server-sent events of `AdditionalOutputs` |
 *
 * @module
 */

import { errorText } from "../_internal/errors.ts";
import type { FrameBus } from "../bus/frame_bus.ts";
import { FrameBus as Bus } from "../bus/frame_bus.ts";
import { AsyncQueue } from "../bus/queue.ts";
import type { TransportKind } from "../handlers/context.ts";
import type { AdditionalOutputs } from "../handlers/outputs.ts";
import { runHandler } from "../handlers/runner.ts";
import { StreamHandler } from "../handlers/stream_handler.ts";
import { CallRejectedError } from "../transports/call_rejected.ts";
import type { CallStart } from "../transports/codec.ts";
import {
  type PreparedCall,
  serveSocket,
} from "../transports/socket_adapter.ts";
import { createTwilioCodec } from "../transports/twilio.ts";
import { createFastRtcWebSocketCodec } from "../transports/websocket.ts";
import {
  buildBusyTwiml,
  buildConnectTwiml,
  isValidTwilioSignature,
  publicUrl,
} from "./twilio_webhook.ts";
import { parleyClientScript, renderIndexPage } from "./ui.ts";
import { type AutoHangUpOptions, createAutoHangUp } from "./auto_hang_up.ts";
import { env } from "../_internal/permissions.ts";
import { CarrierRoutes, type CarrierRoutesOptions } from "./carrier_routes.ts";

/** Twilio settings of a {@linkcode Stream}. */
export interface TwilioOptions {
  /**
   * Auth token used to validate `X-Twilio-Signature` on the webhook and the
   * WebSocket upgrade (default: the `TWILIO_AUTH_TOKEN` environment
   * variable). With no token, requests are not validated.
   */
  authToken?: string;
  /** Public base URL Twilio calls (e.g. `https://bot.example.com`), for proxies. */
  publicUrl?: string;
  /** Text to `<Say>` before connecting (none by default). */
  say?: string;
  /** Text to `<Say>` after the stream ends. */
  goodbye?: string;
  /** What callers hear when `concurrencyLimit` is reached. */
  busyMessage?: string;
}

/** Title and subtitle of the built-in page (FastRTC's `ui_args`). */
export interface UiArgs {
  /** Page title. */
  title?: string;
  /** Line under the title. */
  subtitle?: string;
}

/**
 * A WebRTC transport the stream can serve at `POST /webrtc/offer`. Provided
 * by `src/transports/webrtc.ts`; kept as an interface so the server does not
 * load werift unless it is used.
 */
export interface WebRtcEndpoint {
  /**
   * Handles one `/webrtc/offer` body and returns FastRTC's JSON answer.
   *
   * @param body The parsed JSON body.
   * @param startCall Prepares the call once a connection is accepted; the
   *   endpoint subscribes to its bus, then calls `begin()`.
   */
  handle(
    body: Record<string, unknown>,
    startCall: (info: {
      webrtcId: string;
      /** Rate of the audio both ways (48000 for Opus, 8000 for PCMU). */
      sampleRate?: number;
    }) => PreparedCall,
  ): Promise<Record<string, unknown>>;
  /** Closes every peer connection. */
  close(): Promise<void>;
  /** ICE configuration to give browsers (e.g. TURN servers), if any. */
  readonly rtcConfiguration?: object;
}

/** Options of {@linkcode Stream}. */
export interface StreamOptions {
  /** The handler; copied once per call. */
  handler: StreamHandler;
  /** Only `"audio"` is supported. */
  modality?: "audio";
  /**
   * `"send-receive"` (default): audio both ways. `"receive"`: the client
   * only listens (caller audio is not given to the handler). `"send"`: the
   * client only talks (handler audio is not sent; extra outputs are).
   */
  mode?: "send-receive" | "receive" | "send";
  /** Most simultaneous calls (default: no limit; FastRTC's default is 1). */
  concurrencyLimit?: number | null;
  /** Seconds a call may last (default: no limit). */
  timeLimit?: number | null;
  /** Largest WebSocket message in bytes (default 1 MiB). */
  maxMessageBytes?: number;
  /** Longest `startUp`/`receive` may take in ms (default 30000). */
  handlerTimeoutMs?: number;
  /** Twilio settings. */
  twilio?: TwilioOptions;
  /** Telnyx, Plivo, Vonage, Exotel and SignalWire routes and credentials. */
  carriers?: CarrierRoutesOptions;
  /** The WebRTC endpoint, if WebRTC is wanted. */
  webrtc?: WebRtcEndpoint;
  /** Built-in page title and subtitle. */
  uiArgs?: UiArgs;
  /** Log calls starting and ending (default true). */
  verbose?: boolean;
  /**
   * End phone calls over the carrier's REST API when they end on Parley's
   * side and its credentials are set (default true; `false`: never).
   */
  autoHangUp?: boolean | AutoHangUpOptions;
}

/** One live call. */
interface Session {
  id: string;
  transport: TransportKind;
  bus: FrameBus;
  handler: StreamHandler;
  outputs: AsyncQueue<AdditionalOutputs>;
  done: Promise<void>;
  timer?: ReturnType<typeof setTimeout>;
}

/** Options of {@linkcode Stream.serve}. */
export interface ServeOptions {
  /** Port (default: `PORT` env or 8000). */
  port?: number;
  /** Hostname (default: `HOST` env or "0.0.0.0", every interface). */
  hostname?: string;
  /** Called once listening. */
  onListen?: (addr: Deno.NetAddr) => void;
  /** Stops the server when aborted. */
  signal?: AbortSignal;
  /** Drain calls on SIGINT/SIGTERM (default true). */
  handleSignals?: boolean;
}

/**
 * Serves a handler to browsers and phones.
 *
 * @example The echo bot
 * ```ts
 * import { ReplyOnPause, Stream } from "@parley/parley";
 * const stream = new Stream({
 *   handler: new ReplyOnPause(async function* (audio) {
 *     yield audio;
 *   }),
 *   modality: "audio",
 *   mode: "send-receive",
 * });
 * stream.serve({ port: 8000 });
 * ```
 */
export class Stream {
  /** The handler every call gets a copy of. */
  readonly handler: StreamHandler;
  /** Which way audio flows. */
  readonly mode: "send-receive" | "receive" | "send";
  /** Most simultaneous calls, or null for no limit. */
  readonly concurrencyLimit: number | null;
  /** Seconds a call may last, or null for no limit. */
  readonly timeLimit: number | null;
  #options: StreamOptions;
  #sessions = new Map<string, Session>();
  #pending = new Set<string>();
  #draining = false;
  #prefixes = new Set<string>();
  #authToken: string | undefined;
  #autoHangUp: ReturnType<typeof createAutoHangUp> | undefined;
  #carriers: CarrierRoutes;

  /**
   * Checks the options and prepares the routes.
   *
   * @param options The handler and limits.
   */
  constructor(options: StreamOptions) {
    if (!(options.handler instanceof StreamHandler)) {
      throw new TypeError(
        "Stream needs a StreamHandler (for example new ReplyOnPause(fn)); " +
          "wrap a plain function in ReplyOnPause",
      );
    }
    if (options.modality !== undefined && options.modality !== "audio") {
      throw new RangeError(
        `modality "${options.modality}" is not supported; Parley serves audio`,
      );
    }
    const mode = options.mode ?? "send-receive";
    if (!["send-receive", "receive", "send"].includes(mode)) {
      throw new RangeError(
        `Unknown mode "${mode}"; use "send-receive", "receive" or "send"`,
      );
    }
    const limit = options.concurrencyLimit ?? null;
    if (limit !== null && (!Number.isInteger(limit) || limit < 1)) {
      throw new RangeError(
        `concurrencyLimit must be a positive whole number or null, got ${limit}`,
      );
    }
    const timeLimit = options.timeLimit ?? null;
    if (timeLimit !== null && !(timeLimit > 0)) {
      throw new RangeError(
        `timeLimit must be a positive number of seconds or null, got ${timeLimit}`,
      );
    }
    this.handler = options.handler;
    this.mode = mode;
    this.concurrencyLimit = limit;
    this.timeLimit = timeLimit;
    this.#options = options;
    this.#authToken = options.twilio?.authToken ?? envToken();
    this.#autoHangUp = options.autoHangUp === false
      ? undefined
      : createAutoHangUp(
        typeof options.autoHangUp === "object"
          ? options.autoHangUp
          : { when: options.twilio?.goodbye ? "requested" : "always" },
      );
    this.#carriers = new CarrierRoutes(options.carriers);
  }

  /** Number of live calls. */
  get activeCalls(): number {
    return this.#sessions.size;
  }

  /** Ids of live calls. */
  get callIds(): string[] {
    return [...this.#sessions.keys()];
  }

  /**
   * Handles one HTTP request (WebSocket upgrades included).
   *
   * @param request The request.
   * @returns The response.
   */
  fetch = async (request: Request): Promise<Response> => {
    // Under `deno serve` / Deno Deploy there is no serve() call: the first
    // request (usually the carrier's webhook) starts loading the models.
    this.#warmUp();
    const url = new URL(request.url);
    const path = url.pathname.replace(/\/+$/, "") || "/";
    const upgrade =
      request.headers.get("upgrade")?.toLowerCase() === "websocket";
    try {
      // --- carriers: /telephone/<carrier>/incoming and /handler (issue 12)
      const carrier = await this.#carriers.handle(request, {
        startCall: (call, kind) => this.#socketCall(call, kind),
        busy: () =>
          this.#draining || (this.concurrencyLimit !== null &&
            this.#sessions.size >= this.concurrencyLimit),
        maxMessageBytes: this.#options.maxMessageBytes,
      });
      if (carrier) return carrier;
      // --- end carriers
      if (path.endsWith("/websocket/offer") && upgrade) {
        return this.#websocket(request);
      }
      if (path.endsWith("/telephone/handler") && upgrade) {
        return this.#telephoneSocket(request);
      }
      if (path.endsWith("/telephone/incoming") && request.method === "POST") {
        return await this.#incomingCall(request);
      }
      if (path.endsWith("/webrtc/offer") && request.method === "POST") {
        return await this.#webrtcOffer(request);
      }
      if (path.endsWith("/input_hook") && request.method === "POST") {
        return await this.#inputHook(request);
      }
      if (path.endsWith("/outputs") && request.method === "GET") {
        return this.#outputsSse(url);
      }
      if (
        (path === "/" || this.#prefixes.has(path) ||
          path.endsWith("/index.html")) &&
        request.method === "GET"
      ) {
        return new Response(
          renderIndexPage({
            title: this.#options.uiArgs?.title,
            subtitle: this.#options.uiArgs?.subtitle,
            webrtc: Boolean(this.#options.webrtc),
            outputSampleRate: this.handler.outputSampleRate,
            rtcConfiguration: this.#options.webrtc?.rtcConfiguration,
          }),
          { headers: { "content-type": "text/html; charset=utf-8" } },
        );
      }
      if (path.endsWith("/client.js") && request.method === "GET") {
        return new Response(parleyClientScript(), {
          headers: {
            "content-type": "text/javascript; charset=utf-8",
            "cache-control": "no-cache",
          },
        });
      }
      if (
        path.endsWith("/websocket/offer") || path.endsWith("/telephone/handler")
      ) {
        return text(426, "This endpoint needs a WebSocket upgrade");
      }
      return text(404, `No route for ${request.method} ${url.pathname}`);
    } catch (e) {
      console.error("[parley] request failed:", e);
      return text(500, `Internal error: ${(e as Error).message}`);
    }
  };

  /**
   * Delivers extra inputs to a call's handler (`latestArgs`, `waitForArgs`).
   *
   * @param id The call id (`webrtc_id`, `websocket_id` or `streamSid`).
   * @param args The inputs.
   */
  setInput(id: string, ...args: unknown[]): void {
    const session = this.#sessions.get(id);
    if (!session) {
      throw new RangeError(
        `No live call with id "${id}"; setInput needs the id the client ` +
          `started the call with`,
      );
    }
    session.handler.setArgs(args);
  }

  /**
   * Starts a reply on a call without waiting for a pause (FastRTC's
   * `trigger_response`), optionally setting extra inputs first. Works with
   * handlers that have `triggerResponse()` (`ReplyOnPause` and subclasses).
   *
   * @param id The call id.
   * @param args Extra inputs to set first (none: keep the current ones).
   * @returns FastRTC's status object.
   */
  triggerResponse(
    id: string,
    ...args: unknown[]
  ): { status: "success" } | { status: "failed"; meta: { error: string } } {
    const session = this.#sessions.get(id);
    if (!session) {
      return { status: "failed", meta: { error: "unknown_connection" } };
    }
    const handler = session.handler as StreamHandler & {
      triggerResponse?: () => void;
    };
    if (typeof handler.triggerResponse !== "function") {
      return { status: "failed", meta: { error: "not_a_reply_on_pause" } };
    }
    if (args.length) handler.setArgs(args);
    handler.triggerResponse();
    return { status: "success" };
  }

  /**
   * Iterates a call's `AdditionalOutputs` until the call ends.
   *
   * @param id The call id.
   * @returns An async iterator.
   */
  async *outputStream(id: string): AsyncGenerator<AdditionalOutputs> {
    const session = this.#sessions.get(id);
    if (!session) {
      throw new RangeError(`No live call with id "${id}"`);
    }
    yield* session.outputs;
  }

  /**
   * Mounts the routes on a Hono-style app under `path`.
   *
   * @example
   * ```ts
   * import { Hono } from "npm:hono";
   * import { ReplyOnPause, Stream } from "@parley/parley";
   * const app = new Hono();
   * const stream = new Stream({ handler: new ReplyOnPause(async function* (a) { yield a; }) });
   * stream.mount(app, "/voice");
   * Deno.serve(app.fetch);
   * ```
   *
   * @param app Any app with `all(path, handler)`.
   * @param path Prefix (default "").
   */
  mount(
    app: {
      all: (
        path: string,
        handler: (c: { req: { raw: Request } }) => Promise<Response>,
      ) => unknown;
    },
    path = "",
  ): void {
    const prefix = path.replace(/\/$/, "");
    if (prefix) this.#prefixes.add(prefix);
    app.all(`${prefix}/*`, (c) => this.fetch(c.req.raw));
    app.all(prefix || "/", (c) => this.fetch(c.req.raw));
  }

  /**
   * Starts `Deno.serve` with this stream and the built-in page. SIGINT and
   * SIGTERM drain live calls (Deno Deploy kills 5 s after SIGINT).
   *
   * @param options Port, hostname, hooks.
   * @returns The server.
   */
  serve(options: ServeOptions = {}): Deno.HttpServer<Deno.NetAddr> {
    const portText = env("PORT");
    const port = options.port ?? (portText ? Number(portText) : 8000);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new RangeError(
        `Invalid port ${portText ?? port}; set PORT to a whole number from ` +
          `0 to 65535`,
      );
    }
    const server = Deno.serve({
      port,
      hostname: options.hostname ?? env("HOST") ?? "0.0.0.0",
      signal: options.signal,
      onListen: options.onListen ??
        ((addr) => {
          const all = addr.hostname === "0.0.0.0" || addr.hostname === "::";
          const shown = addr.hostname.includes(":")
            ? `[${addr.hostname}]`
            : addr.hostname;
          const base = `http://${shown}:${addr.port}`;
          console.log(
            `Parley listening on ${base}/` +
              (all
                ? ` (every interface; on this machine open http://localhost:${addr.port}/)`
                : ""),
          );
          console.log(`  phone webhook: POST ${base}/telephone/incoming`);
        }),
    }, this.fetch);
    // Load the handler's models now, not when the first caller is waiting.
    this.#warmUp();
    if (options.handleSignals ?? true) {
      const stop = () => {
        console.log("[parley] draining calls before exit");
        this.close({ drainMs: 4000 })
          .catch((e) => console.error("[parley] draining failed:", e))
          .finally(() => server.shutdown());
      };
      const sigs: Deno.Signal[] = ["SIGINT", "SIGTERM"];
      for (const s of sigs) Deno.addSignalListener(s, stop);
      server.finished.finally(() => {
        for (const s of sigs) Deno.removeSignalListener(s, stop);
      });
    }
    return server;
  }

  /**
   * Stops accepting calls, tells live clients the stream ends, waits up to
   * `drainMs` for queued audio to play, then ends every call.
   *
   * @param options How long to let calls drain (default 0).
   */
  async close(options: { drainMs?: number } = {}): Promise<void> {
    this.#draining = true;
    const sessions = [...this.#sessions.values()];
    for (const s of sessions) {
      s.bus.emit({
        type: "message",
        message: { type: "end_stream", data: "Server shutting down" },
      });
    }
    if (options.drainMs) {
      await Promise.all(sessions.map((s) => s.bus.playedOut(options.drainMs)));
    }
    for (const s of sessions) s.bus.close("server shutting down");
    await Promise.all(sessions.map((s) => s.done));
    await this.#options.webrtc?.close();
  }

  // ----------------------------------------------------------------- calls

  #warming: Promise<void> | null = null;

  /** Starts the handler's warmUp() once; a failure lets calls try again. */
  #warmUp(): void {
    this.#warming ??= Promise.resolve().then(() => this.handler.warmUp())
      .catch((e) =>
        console.error(
          `[parley] the handler could not load its models: ${
            errorText(e)
          } (each call will try again)`,
        )
      );
  }

  /**
   * Prepares a call: checks the limits, makes the handler copy and a bus
   * wired for the stream's `mode`, and registers the session. The handler
   * starts when the transport calls `begin()`, after it has subscribed to
   * the bus, so nothing the handler emits is missed.
   */
  #startCall(
    id: string,
    transport: TransportKind,
    rates: { input: number; output: number },
    phone?: {
      streamSid?: string;
      callSid?: string;
      accountSid?: string;
      customParameters?: Record<string, string>;
    },
  ): PreparedCall {
    if (this.#draining) {
      throw new CallRejectedError({ error: "server_shutting_down" });
    }
    if (this.#sessions.has(id) || this.#pending.has(id)) {
      throw new CallRejectedError({ error: "connection_already_exists" });
    }
    if (
      this.concurrencyLimit !== null &&
      this.#sessions.size >= this.concurrencyLimit
    ) {
      throw new CallRejectedError({
        error: "concurrency_limit_reached",
        limit: this.concurrencyLimit,
      });
    }
    const handler = this.handler.copy();
    const bus = new Bus({
      callId: id,
      transportInputRate: rates.input,
      transportOutputRate: rates.output,
      handlerInputRate: handler.inputSampleRate,
      mode: this.mode,
    });
    const outputs = new AsyncQueue<AdditionalOutputs>();
    const verbose = this.#options.verbose ?? true;
    const session: Session = {
      id,
      transport,
      bus,
      handler,
      outputs,
      done: Promise.resolve(),
    };
    this.#sessions.set(id, session);
    let begun = false;
    let hangUpRequested = false;
    const begin = () => {
      if (begun) return;
      begun = true;
      if (verbose) console.log(`[parley] call ${id} started (${transport})`);
      if (this.timeLimit !== null) {
        session.timer = setTimeout(() => {
          bus.emit({
            type: "message",
            message: {
              type: "warning",
              message: `Time limit of ${this.timeLimit} s reached`,
            },
          });
          bus.emit({
            type: "message",
            message: { type: "end_stream", data: "Time limit reached" },
          });
          bus.close("time limit reached");
        }, this.timeLimit * 1000);
      }
      session.done = runHandler({
        bus,
        handler,
        transport,
        phone,
        handlerTimeoutMs: this.#options.handlerTimeoutMs,
        onCloseStream: (item) => {
          hangUpRequested ||= item.hangUp;
        },
        onAdditionalOutputs: (o) => {
          // Nobody may be reading (phone calls rarely are): keep the
          // newest 256 so a long call cannot grow without bound.
          if (outputs.size >= 256) outputs.tryGet();
          outputs.put(o);
        },
      }).catch((e) => {
        console.error(`[parley] call ${id}: runner failed:`, e);
      }).finally(() => {
        clearTimeout(session.timer);
        outputs.close();
        this.#sessions.delete(id);
        if (verbose) {
          console.log(
            `[parley] call ${id} ended: ${bus.closeReason ?? "done"}`,
          );
        }
        this.#autoHangUp?.({
          carrier: transport,
          carrierCallId: phone?.callSid,
          hangUpRequested,
          endedByCarrier: bus.closeReason?.startsWith("caller hung up"),
        }).then((r) => {
          if (
            r.action === "failed" ||
            (hangUpRequested && r.action === "skipped")
          ) {
            console.warn(
              `[parley] call ${id}: hang-up ${r.action}: ${r.reason}`,
            );
          } else if (verbose && r.action !== "skipped") {
            console.log(`[parley] call ${id}: ${r.reason}`);
          }
        });
      });
    };
    // A call whose transport goes away before begin() still ends cleanly.
    bus.on("close", () => {
      if (!begun) {
        outputs.close();
        this.#sessions.delete(id);
      }
    });
    return { bus, begin };
  }

  /** The prepared call for a socket protocol's start. */
  #socketCall(
    call: CallStart,
    transport: TransportKind,
  ): PreparedCall {
    return this.#startCall(
      call.callId,
      transport,
      {
        input: call.inputRate ?? this.handler.inputSampleRate,
        output: call.outputRate ?? this.handler.outputSampleRate,
      },
      transport !== "websocket"
        ? {
          streamSid: call.callId,
          callSid: call.carrierCallId ?? "",
          accountSid: call.accountId ?? "",
          customParameters: call.customParameters,
        }
        : undefined,
    );
  }

  #websocket(request: Request): Response {
    const { socket, response } = Deno.upgradeWebSocket(request);
    serveSocket({
      socket,
      codec: createFastRtcWebSocketCodec(),
      maxMessageBytes: this.#options.maxMessageBytes,
      startCall: (call) => this.#socketCall(call, "websocket"),
    }).catch((e) => console.error("[parley] websocket failed:", e));
    return response;
  }

  #telephoneSocket(request: Request): Response {
    if (this.#authToken) {
      const url = publicUrl(request, this.#options.twilio?.publicUrl);
      url.protocol = url.protocol === "http:"
        ? "ws:"
        : url.protocol === "https:"
        ? "wss:"
        : url.protocol;
      const ok = isValidTwilioSignature({
        authToken: this.#authToken,
        signature: request.headers.get("x-twilio-signature"),
        url: url.href,
      });
      if (!ok) return text(403, "Invalid X-Twilio-Signature");
    }
    const { socket, response } = Deno.upgradeWebSocket(request);
    serveSocket({
      socket,
      codec: createTwilioCodec(),
      maxMessageBytes: this.#options.maxMessageBytes,
      startCall: (call) => this.#socketCall(call, "twilio"),
    }).catch((e) => console.error("[parley] twilio stream failed:", e));
    return response;
  }

  async #incomingCall(request: Request): Promise<Response> {
    const twilioOpts = this.#options.twilio ?? {};
    const url = publicUrl(request, twilioOpts.publicUrl);
    let params: Record<string, string> = {};
    const type = request.headers.get("content-type") ?? "";
    if (type.includes("application/x-www-form-urlencoded")) {
      params = Object.fromEntries(new URLSearchParams(await request.text()));
    }
    if (this.#authToken) {
      const ok = isValidTwilioSignature({
        authToken: this.#authToken,
        signature: request.headers.get("x-twilio-signature"),
        url: url.href,
        params,
      });
      if (!ok) return text(403, "Invalid X-Twilio-Signature");
    }
    const xml = (this.concurrencyLimit !== null &&
        this.#sessions.size >= this.concurrencyLimit) || this.#draining
      ? buildBusyTwiml(
        twilioOpts.busyMessage ?? "All lines are busy. Please call back later.",
      )
      : buildConnectTwiml({
        streamUrl: `${url.protocol === "http:" ? "ws" : "wss"}://${url.host}${
          url.pathname.replace(/\/telephone\/incoming\/?$/, "")
        }/telephone/handler`,
        say: twilioOpts.say,
        goodbye: twilioOpts.goodbye,
      });
    return new Response(xml, {
      headers: { "content-type": "application/xml" },
    });
  }

  async #webrtcOffer(request: Request): Promise<Response> {
    const webrtc = this.#options.webrtc;
    if (!webrtc) {
      return Response.json({
        status: "failed",
        meta: { error: "webrtc_not_enabled" },
      });
    }
    let body: Record<string, unknown>;
    try {
      body = await request.json();
    } catch {
      return Response.json({
        status: "failed",
        meta: { error: "invalid_json" },
      }, {
        status: 400,
      });
    }
    try {
      const answer = await webrtc.handle(
        body,
        ({ webrtcId, sampleRate }) =>
          this.#startCall(webrtcId, "webrtc", {
            input: sampleRate ?? 48000,
            output: sampleRate ?? 48000,
          }),
      );
      return Response.json(answer);
    } catch (e) {
      if (e instanceof CallRejectedError) {
        return Response.json({ status: "failed", meta: e.meta });
      }
      return Response.json({
        status: "failed",
        meta: { error: (e as Error).message ?? String(e) },
      });
    }
  }

  async #inputHook(request: Request): Promise<Response> {
    let body: Record<string, unknown>;
    try {
      body = await request.json();
      if (typeof body !== "object" || body === null || Array.isArray(body)) {
        throw new Error("not an object");
      }
    } catch {
      return Response.json({
        status: "failed",
        meta: {
          error: "invalid_json",
          message: "POST a JSON object with webrtc_id",
        },
      }, { status: 400 });
    }
    const { webrtc_id: id, args, ...rest } = body;
    if (typeof id !== "string" || !this.#sessions.has(id)) {
      return Response.json(
        { status: "failed", meta: { error: "unknown_connection" } },
        { status: 404 },
      );
    }
    this.setInput(id, ...(Array.isArray(args) ? args : [rest]));
    return Response.json({ status: "success" });
  }

  #outputsSse(url: URL): Response {
    const id = url.searchParams.get("webrtc_id") ?? "";
    const session = this.#sessions.get(id);
    if (!session) {
      return Response.json(
        { status: "failed", meta: { error: "unknown_connection" } },
        { status: 404 },
      );
    }
    const encoder = new TextEncoder();
    const outputs = session.outputs;
    let cancelled = false;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const ac = new AbortController();
        const onClose = () => ac.abort();
        session.bus.signal.addEventListener("abort", onClose, { once: true });
        try {
          const item = await outputs.get(ac.signal);
          controller.enqueue(
            encoder.encode(
              `event: output\ndata: ${JSON.stringify(item.args)}\n\n`,
            ),
          );
        } catch {
          if (!cancelled) controller.close();
        } finally {
          session.bus.signal.removeEventListener("abort", onClose);
        }
      },
      cancel() {
        cancelled = true;
      },
    });
    return new Response(body, {
      headers: {
        "content-type": "text/event-stream",
        "cache-control": "no-cache",
      },
    });
  }
}

function text(status: number, message: string): Response {
  return new Response(message, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}

function envToken(): string | undefined {
  return env("TWILIO_AUTH_TOKEN");
}
