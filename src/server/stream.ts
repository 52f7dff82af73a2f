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
 * | `POST /input_hook` | `{webrtc_id, token, args: […]}` → `setInput` |
 * | `GET /outputs?webrtc_id=ID&token=T` | server-sent events of `AdditionalOutputs` |
 *
 * ## Call ids and tokens
 *
 * A call's id is the one the client asked for (`websocket_id`,
 * `webrtc_id`; Twilio's `streamSid`) when no live call has it; otherwise the
 * server gives the new call a fresh id (`<asked>~<random>`), so a client
 * that takes an id first cannot make the real caller fail. Every call also
 * gets an unguessable **token**. Both reach the client when the call starts:
 * the WebSocket `started` message carries `websocket_id` and `token`, the
 * WebRTC answer `webrtc_id` and `token`; a Twilio call's token is its
 * `parley_token` parameter (or a random one), and server code gets any
 * call's token from {@linkcode Stream.callToken}.
 *
 * `/input_hook` and `/outputs` need the id **and** the token (FastRTC sends
 * the id alone: set `insecureIds: true` for that behaviour). An unknown id
 * and a wrong token get the same 404, so live ids cannot be probed.
 * `/input_hook` takes `content-type: application/json` only (415
 * otherwise), so a page on another site cannot post to it without a CORS
 * preflight. `authorize(request)` and `allowedOrigins` guard the browser
 * routes (`/websocket/offer`, `/webrtc/offer`, `/input_hook`, `/outputs`).
 *
 * ## Limits
 *
 * Request bodies are capped at `maxBodyBytes` (default 1 MiB) before they
 * are buffered or parsed: 413 with the limit in the message. Forwarded
 * headers are believed only with `trustProxy` (or replaced by
 * `twilio.publicUrl`).
 *
 * @module
 */

import { errorText } from "../_internal/errors.ts";
import type { FrameBus } from "../bus/frame_bus.ts";
import { FrameBus as Bus } from "../bus/frame_bus.ts";
import type { TransportKind } from "../handlers/context.ts";
import { AdditionalOutputs } from "../handlers/outputs.ts";
import { AsyncQueue } from "../bus/queue.ts";
import { runHandler } from "../handlers/runner.ts";
import { StreamHandler } from "../handlers/stream_handler.ts";
import { CallRejectedError } from "../transports/call_rejected.ts";
import type { CallStart } from "../transports/codec.ts";
import {
  type PreparedCall,
  serveSocket,
  type SocketStats,
} from "../transports/socket_adapter.ts";
import { createTwilioCodec } from "../transports/twilio.ts";
import { createFastRtcWebSocketCodec } from "../transports/websocket.ts";
import {
  buildBusyTwiml,
  buildConnectTwiml,
  isValidTwilioSignature,
  publicUrl,
} from "./twilio_webhook.ts";
import {
  DEFAULT_MAX_BODY_BYTES,
  readBodyCapped,
  RequestBodyTooLargeError,
  tooLargeResponse,
} from "./body.ts";
import {
  checkTwilioStreamToken,
  createTwilioStreamToken,
  newCallToken,
  sameToken,
  SpentTokens,
  TWILIO_STREAM_TOKEN_PARAMETER,
} from "./call_tokens.ts";
import { OutputsHub } from "./outputs_hub.ts";
import { parleyClientScript, renderIndexPage } from "./ui.ts";
import { type AutoHangUpOptions, createAutoHangUp } from "./auto_hang_up.ts";
import { StreamMetrics, type TurnMetricsSample } from "./metrics.ts";
import type { TurnMetrics } from "../handlers/turn_metrics.ts";
import {
  type ControlChannel,
  type ControlMessage,
  InProcessChannel,
} from "./control_channel.ts";
import { env } from "../_internal/permissions.ts";
import {
  CARRIER_NAMES,
  type CarrierName,
  CarrierRoutes,
  type CarrierRoutesOptions,
} from "./carrier_routes.ts";
import { closeModels, installShutdownSignals } from "./shutdown.ts";
import { configureLogger, log, type LoggerOptions } from "../_internal/log.ts";

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
  /**
   * With an auth token set, `/telephone/incoming` puts a per-call
   * `<Parameter name="parley_token">` in the TwiML and a Media Stream's
   * `start` must bring it back (once): a captured upgrade signature cannot
   * open more streams. Default true when there is an auth token. Set false
   * only if you write the TwiML yourself and cannot add the token
   * (`createTwilioStreamToken` makes it).
   */
  requireStreamToken?: boolean;
}

/**
 * Decides whether a browser-route request may go on (`/websocket/offer`,
 * `/webrtc/offer`, `/input_hook`, `/outputs`): `true` lets it through,
 * `false` answers 403, a `Response` is sent as it is.
 *
 * @example Only signed-in users may call
 * ```ts
 * import { ReplyOnPause, Stream } from "@parley/parley";
 * import type { AuthorizeHook } from "@parley/parley/server";
 * const authorize: AuthorizeHook = (req) =>
 *   req.headers.get("cookie")?.includes("session=") ?? false;
 * const stream = new Stream({
 *   handler: new ReplyOnPause(async function* (audio) { yield audio; }),
 *   authorize,
 *   allowedOrigins: ["https://app.example.com"],
 * });
 * ```
 */
export type AuthorizeHook = (
  request: Request,
) => boolean | Response | Promise<boolean | Response>;

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
    }) => PreparedCall | Promise<PreparedCall>,
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
  /**
   * Serve `GET /metrics` in Prometheus text format: live calls, calls and
   * refusals, turns, a turn-latency histogram, merged turns,
   * interruptions, dropped input, VAD batches (default false).
   */
  metrics?: boolean;
  /**
   * How instances of one bot reach each other's calls (`setInput`,
   * `/input_hook`, `/outputs`, `hangUp`, the global `concurrencyLimit`):
   * in-process (default), `BroadcastControlChannel` (isolates of one
   * process, `deno serve --parallel`, Deno Deploy) or
   * `RedisControlChannel` (machines). Audio never crosses it.
   */
  control?: ControlChannel;
  /**
   * Called once per turn with its metrics (speech onset and end, end-of-turn
   * decision, first reply frame, latency, interrupted/merged, VAD version):
   * the same event clients get as `turn_metrics` and `/metrics` counts.
   */
  onTurn?: (callId: string, metrics: TurnMetrics) => void;
  /**
   * Parley's log level and sink for the whole process (every layer logs
   * through it; default: "info" to the console with a `[parley]` prefix).
   * `verbose: false` moves the call started/ended lines to "debug".
   */
  logger?: LoggerOptions;
  /**
   * Largest request body in bytes on every POST route (webhooks,
   * `/input_hook`, `/webrtc/offer`), checked before buffering (default
   * 1 MiB). Bigger bodies get 413.
   */
  maxBodyBytes?: number;
  /**
   * Believe `Forwarded` / `X-Forwarded-*` headers (default false). Set it
   * when the server runs behind a proxy you control (TLS terminator, load
   * balancer): the TwiML stream URL and the Twilio signature check then use
   * the public scheme and host the proxy reports — the last value, the one
   * the proxy appended. Without it, or instead of it, set
   * `twilio.publicUrl`.
   */
  trustProxy?: boolean;
  /**
   * Let `/input_hook` and `/outputs` accept a call's id without its token,
   * as FastRTC does (default false). Anyone who learns an id can then talk
   * into the call and read its outputs; use it only on a trusted network.
   */
  insecureIds?: boolean;
  /** Most `/outputs` readers of one call at once (default 8; 429 beyond). */
  maxOutputReaders?: number;
  /**
   * Checks browser-route requests (`/websocket/offer`, `/webrtc/offer`,
   * `/input_hook`, `/outputs`) before anything else, e.g. a session cookie
   * or a bearer token. Not used for the carrier routes, which have their
   * signatures.
   */
  authorize?: AuthorizeHook;
  /**
   * Origins (`https://app.example.com`) allowed to use the browser routes.
   * A request whose `Origin` header is not listed gets 403; requests with
   * no `Origin` (non-browser clients, same-origin GETs) pass. Default: any
   * origin.
   */
  allowedOrigins?: string[];
}

/** One live call. */
interface Session {
  id: string;
  transport: TransportKind;
  bus: FrameBus;
  handler: StreamHandler;
  /** The call's access token (for `/input_hook` and `/outputs`). */
  token: string;
  outputs: OutputsHub<AdditionalOutputs>;
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
  /**
   * Stops the server when aborted; live calls end as with
   * {@linkcode Stream.close} (sockets get `1001 "server shutting down"`).
   */
  signal?: AbortSignal;
  /**
   * Shut down on SIGINT/SIGTERM (default true): the first signal drains
   * calls ({@linkcode Stream.close} with `drainMs`), releases every model
   * ({@linkcode closeModels}), runs `onShutdown`, stops the server and exits
   * 0; past `shutdownTimeoutMs` it exits 1 anyway; a second signal exits at
   * once (130 / 143). Pass `false` to handle signals yourself (see
   * {@linkcode closeModels} for the steps).
   */
  handleSignals?: boolean;
  /** How long the first signal lets queued reply audio play (default 1500 ms). */
  drainMs?: number;
  /**
   * Exit this long after the first signal even if shutdown is not done
   * (default 4500 ms; Deno Deploy kills 5 s after SIGINT).
   */
  shutdownTimeoutMs?: number;
  /** Your own cleanup, run after calls ended and before the process exits. */
  onShutdown?: () => void | Promise<void>;
}

/**
 * Totals over a stream's WebSocket connections (see
 * {@linkcode Stream.socketStats}).
 */
export interface StreamSocketStats {
  /** Sockets open now. */
  live: number;
  /** Sockets closed so far. */
  closed: number;
  /** Messages received on closed sockets. */
  messagesIn: number;
  /** Messages rejected (too big, malformed, out of order, unknown). */
  rejected: number;
  /** Replies (errors, pongs) not sent: rate limit or a full socket. */
  repliesDropped: number;
  /** Problems not logged because of the log rate limit. */
  problemsSuppressed: number;
  /** Sockets the server closed, by reason. */
  closedBy: Record<string, number>;
  /** Closed sockets whose client never completed the close handshake. */
  unclean: number;
}

/** Options of {@linkcode Stream.close}. */
export interface CloseOptions {
  /** How long to let queued reply audio play before ending calls (default 0). */
  drainMs?: number;
  /**
   * Longest wait, once calls are told to end, for handlers' `shutdown()`
   * and the clients' close handshakes (default 3000 ms).
   */
  closeTimeoutMs?: number;
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
  #control: ControlChannel;
  /** `/outputs` readers here of calls held by another instance. */
  #remoteReaders = new Map<string, Set<AsyncQueue<AdditionalOutputs>>>();
  /** The counters behind `GET /metrics` (kept whether or not it is served). */
  readonly metrics: StreamMetrics = new StreamMetrics();
  #carriers: CarrierRoutes;
  /** Aborted by close(): every socket gets 1001 "server shutting down". */
  #shutdown = new AbortController();
  /** Live sockets' adapters; each settles once its socket is closed. */
  #sockets = new Set<Promise<SocketStats>>();
  #socketTotals: Omit<StreamSocketStats, "live"> = {
    closed: 0,
    messagesIn: 0,
    rejected: 0,
    repliesDropped: 0,
    problemsSuppressed: 0,
    closedBy: {},
    unclean: 0,
  };
  #maxBodyBytes: number;
  #spentStreamTokens = new SpentTokens();

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
    const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    if (!Number.isInteger(maxBody) || maxBody < 1) {
      throw new RangeError(
        `maxBodyBytes must be a positive whole number of bytes, got ${maxBody}`,
      );
    }
    const readers = options.maxOutputReaders ?? 8;
    if (!Number.isInteger(readers) || readers < 1) {
      throw new RangeError(
        `maxOutputReaders must be a positive whole number, got ${readers}`,
      );
    }
    if (
      options.allowedOrigins !== undefined &&
      (!Array.isArray(options.allowedOrigins) ||
        !options.allowedOrigins.every((o) => typeof o === "string"))
    ) {
      throw new TypeError(
        'allowedOrigins must be a list of origins such as ["https://app.example.com"]',
      );
    }
    if (
      options.authorize !== undefined && typeof options.authorize !== "function"
    ) {
      throw new TypeError(
        "authorize must be a function (request) => boolean | Response",
      );
    }
    this.#options = options;
    this.#maxBodyBytes = maxBody;
    this.#authToken = options.twilio?.authToken ?? envToken();
    if (options.logger) configureLogger(options.logger);
    this.#control = options.control ?? new InProcessChannel();
    this.#control.subscribe((m) => this.#onControl(m));
    this.#autoHangUp = options.autoHangUp === false
      ? undefined
      : createAutoHangUp(
        typeof options.autoHangUp === "object"
          ? options.autoHangUp
          : { when: options.twilio?.goodbye ? "requested" : "always" },
      );
    this.#carriers = new CarrierRoutes({
      trustProxy: options.trustProxy ?? false,
      ...options.carriers,
    });
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
      const browserRoute = (path.endsWith("/websocket/offer") && upgrade) ||
        (request.method === "POST" &&
          (path.endsWith("/webrtc/offer") || path.endsWith("/input_hook"))) ||
        (request.method === "GET" && path.endsWith("/outputs"));
      if (browserRoute) {
        const refused = await this.#guard(request);
        if (refused) return refused;
      }
      // --- carriers: /telephone/<carrier>/incoming and /handler (issue 12)
      const carrier = await this.#carriers.handle(request, {
        startCall: (call, kind) => this.#socketCall(call, kind),
        busy: () =>
          this.#draining || (this.concurrencyLimit !== null &&
            this.#sessions.size >= this.concurrencyLimit),
        maxMessageBytes: this.#options.maxMessageBytes,
        signal: this.#shutdown.signal,
        adopt: (served, what) => this.#adopt(served, what),
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
      if (
        this.#options.metrics && path.endsWith("/metrics") &&
        request.method === "GET"
      ) {
        return new Response(this.metrics.render(this.#sessions.size), {
          headers: { "content-type": "text/plain; version=0.0.4" },
        });
      }
      if (path.endsWith("/outputs") && request.method === "GET") {
        return await this.#outputsSse(url);
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
      if (e instanceof RequestBodyTooLargeError) return tooLargeResponse(e);
      log.error("[parley] request failed:", e);
      return text(500, `Internal error: ${(e as Error).message}`);
    }
  };

  /**
   * Serves a carrier's media socket on a route of your own (FastRTC's
   * `stream.telephone_handler(websocket)`, e.g. the seed's `/media-stream`
   * route for outbound calls): the same signature checks, codec and call
   * handling as `/telephone/handler` (Twilio) or
   * `/telephone/<carrier>/handler`.
   *
   * @example An outbound-call app's own media route
   * ```ts
   * import { ReplyOnPause, Stream } from "@parley/parley";
   * const stream = new Stream({
   *   handler: new ReplyOnPause(async function* (audio) {
   *     yield audio;
   *   }),
   * });
   * Deno.serve((req) =>
   *   new URL(req.url).pathname === "/media-stream"
   *     ? stream.telephoneHandler(req, { carrier: "twilio" })
   *     : stream.fetch(req)
   * );
   * ```
   *
   * @param request The WebSocket upgrade request.
   * @param options Which carrier's protocol (default `"twilio"`).
   * @returns The upgrade response (403 for a bad signature, 426 without an
   *   upgrade).
   */
  async telephoneHandler(
    request: Request,
    options: { carrier?: "twilio" | CarrierName } = {},
  ): Promise<Response> {
    const carrier = options.carrier ?? "twilio";
    if (carrier === "twilio") {
      if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
        return text(426, "The Twilio media socket needs a WebSocket upgrade");
      }
      return this.#telephoneSocket(request);
    }
    if (!CARRIER_NAMES.includes(carrier)) {
      throw new RangeError(
        `Unknown carrier "${carrier}"; use twilio or one of ${
          CARRIER_NAMES.join(", ")
        }`,
      );
    }
    return await this.#carriers.socket(request, carrier, {
      startCall: (call, kind) => this.#socketCall(call, kind),
      busy: () =>
        this.#draining || (this.concurrencyLimit !== null &&
          this.#sessions.size >= this.concurrencyLimit),
      maxMessageBytes: this.#options.maxMessageBytes,
      signal: this.#shutdown.signal,
      adopt: (served, what) => this.#adopt(served, what),
    });
  }

  /**
   * Ends a call, wherever it is held (through the `control` channel when it
   * is not on this instance).
   *
   * @example
   * ```ts
   * import { ReplyOnPause, Stream } from "@parley/parley";
   * const stream = new Stream({
   *   handler: new ReplyOnPause(async function* (a) {
   *     yield a;
   *   }),
   * });
   * await stream.hangUp("MZ123", "operator ended the call");
   * ```
   *
   * @param id The call id.
   * @param reason Why, for logs (default "hung up by the server").
   */
  async hangUp(id: string, reason = "hung up by the server"): Promise<void> {
    const session = this.#sessions.get(id);
    if (session) return session.bus.close(reason);
    await this.#control.publish({ type: "hangup", callId: id, reason });
  }

  #onControl(m: ControlMessage): void {
    const session = this.#sessions.get(m.callId);
    switch (m.type) {
      case "input":
        session?.handler.setArgs(m.args);
        return;
      case "hangup":
        session?.bus.close(m.reason);
        return;
      case "outputs":
        for (const q of this.#remoteReaders.get(m.callId) ?? []) {
          if (q.size < 256) q.put(new AdditionalOutputs(...m.args));
        }
        return;
      case "ended":
        for (const q of this.#remoteReaders.get(m.callId) ?? []) q.close();
        this.#remoteReaders.delete(m.callId);
        return;
    }
  }

  /**
   * The `authorize` hook and the `allowedOrigins` check of a browser route:
   * a response when the request is refused, else null.
   */
  async #guard(request: Request): Promise<Response | null> {
    const origins = this.#options.allowedOrigins;
    const origin = request.headers.get("origin");
    if (origins && origin !== null && !origins.includes(origin)) {
      return text(
        403,
        `Origin ${
          JSON.stringify(origin.slice(0, 200))
        } is not allowed; add it to the allowedOrigins option`,
      );
    }
    const authorize = this.#options.authorize;
    if (!authorize) return null;
    const verdict = await authorize(request);
    if (verdict instanceof Response) return verdict;
    return verdict === true ? null : text(403, "Not authorized");
  }

  /**
   * Delivers extra inputs to a call's handler (`latestArgs`, `waitForArgs`).
   *
   * @param id The call id (`webrtc_id`, `websocket_id` or `streamSid`).
   * @param args The inputs.
   */
  setInput(id: string, ...args: unknown[]): void {
    const session = this.#sessions.get(id);
    if (!session && this.#control.distributed) {
      // Held by another instance (or nowhere): the channel delivers it.
      this.#control.publish({ type: "input", callId: id, args }).catch((e) =>
        log.error(`[parley] setInput(${id}) could not be sent:`, e)
      );
      return;
    }
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
    // Server code's readers are not counted against maxOutputReaders.
    yield* session.outputs.subscribe({ limited: false })!;
  }

  /**
   * The access token of a live call, which `/input_hook` and `/outputs`
   * need next to its id: hand it to a page or a dashboard that should see
   * the call (the built-in page gets it when the call starts).
   *
   * @example
   * ```ts
   * import { ReplyOnPause, Stream } from "@parley/parley";
   * const stream = new Stream({ handler: new ReplyOnPause(async function* (a) { yield a; }) });
   * const token = stream.callToken("some-call-id"); // undefined: no such call
   * ```
   *
   * @param id The call id.
   * @returns The token, or undefined when no live call has that id.
   */
  callToken(id: string): string | undefined {
    return this.#sessions.get(id)?.token;
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
          log.info(
            `Parley listening on ${base}/` +
              (all
                ? ` (every interface; on this machine open http://localhost:${addr.port}/)`
                : ""),
          );
          log.info(
            `  phone webhook: POST https://YOUR_PUBLIC_HOST/telephone/incoming ` +
              `(this server: ${base}; carriers need a public https URL, e.g. a tunnel)`,
          );
        }),
    }, this.fetch);
    // Load the handler's models now, not when the first caller is waiting.
    this.#warmUp();
    options.signal?.addEventListener("abort", () => void this.close(), {
      once: true,
    });
    if (options.handleSignals ?? true) {
      const remove = installShutdownSignals({
        timeoutMs: options.shutdownTimeoutMs ?? 4500,
        shutdown: async (left) => {
          await this.close({
            drainMs: options.drainMs ?? 1500,
            closeTimeoutMs: Math.min(3000, left()),
          });
          await closeModels({ timeoutMs: left() }).catch((e) =>
            log.error(`[parley] ${e.message}`)
          );
          await options.onShutdown?.();
          await server.shutdown();
        },
      });
      server.finished.finally(remove);
    }
    return server;
  }

  /**
   * Stops accepting calls, tells live clients the stream ends, waits up to
   * `drainMs` for queued audio to play, then ends every call: every
   * WebSocket (started or not) gets a close frame `1001 "server shutting
   * down"`, every handler's `shutdown()` runs, WebRTC peers close. Resolves
   * once the clients completed their close handshakes and the handlers
   * finished, or after `closeTimeoutMs`. Models stay loaded (see
   * {@linkcode closeModels}); the stream accepts no new calls afterwards.
   *
   * @example
   * ```ts
   * import { ReplyOnPause, Stream } from "@parley/parley";
   * const stream = new Stream({
   *   handler: new ReplyOnPause(async function* (audio) {
   *     yield audio;
   *   }),
   * });
   * await stream.close({ drainMs: 1000 });
   * ```
   *
   * @param options How long to let calls drain (default 0) and to wait for
   *   them to end (default 3000 ms).
   */
  async close(options: CloseOptions = {}): Promise<void> {
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
    // Sockets first, so their close frame says why; then the other calls.
    this.#shutdown.abort();
    for (const s of sessions) s.bus.close("server shutting down");
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all([
        ...sessions.map((s) => s.done),
        ...this.#sockets,
        this.#options.webrtc?.close(),
      ]),
      new Promise((r) => timer = setTimeout(r, options.closeTimeoutMs ?? 3000)),
    ]);
    clearTimeout(timer);
  }

  /**
   * Totals over this stream's WebSocket connections: how many are open, and
   * for those already closed how many messages came in, were rejected, got
   * no reply, and why the server closed them. For monitoring and for tests
   * that attack the server.
   *
   * @example
   * ```ts
   * import { ReplyOnPause, Stream } from "@parley/parley";
   * const stream = new Stream({
   *   handler: new ReplyOnPause(async function* (audio) {
   *     yield audio;
   *   }),
   * });
   * console.log(stream.socketStats.rejected); // 0
   * ```
   */
  get socketStats(): StreamSocketStats {
    const t = this.#socketTotals;
    return { live: this.#sockets.size, ...t, closedBy: { ...t.closedBy } };
  }

  /** Keeps a socket's adapter until its socket is closed; adds its stats. */
  #adopt(served: Promise<SocketStats>, what: string): void {
    this.#sockets.add(served);
    served.then((s) => {
      const t = this.#socketTotals;
      t.closed++;
      t.messagesIn += s.messagesIn;
      t.rejected += s.rejected;
      t.repliesDropped += s.repliesDropped;
      t.problemsSuppressed += s.problemsSuppressed;
      if (s.closedBy) {
        t.closedBy[s.closedBy] = (t.closedBy[s.closedBy] ?? 0) + 1;
      }
      if (s.closedCleanly === false) t.unclean++;
    }, (e) => log.error(`[parley] ${what} failed:`, e))
      .finally(() => this.#sockets.delete(served));
  }

  // ----------------------------------------------------------------- calls

  #warming: Promise<void> | null = null;

  /** Starts the handler's warmUp() once; a failure lets calls try again. */
  #warmUp(): void {
    this.#warming ??= Promise.resolve().then(() => this.handler.warmUp())
      .catch((e) =>
        log.error(
          `[parley] the handler could not load its models: ${
            errorText(e)
          } (each call will try again)`,
        )
      );
  }

  /**
   * Reserves an id for a new call: the requested one when no live or
   * starting call has it, else `<requested>~<random>`. A client that takes
   * an id first cannot make the real caller fail; each learns its own id
   * (and token) when its call starts.
   */
  #reserveId(requested: string): string {
    let id = requested;
    while (this.#sessions.has(id) || this.#pending.has(id)) {
      id = `${requested.slice(0, 200)}~${newCallToken().slice(0, 12)}`;
    }
    this.#pending.add(id);
    return id;
  }

  /**
   * Prepares a call: checks the limits, makes the handler copy and a bus
   * wired for the stream's `mode`, and registers the session. The handler
   * starts when the transport calls `begin()`, after it has subscribed to
   * the bus, so nothing the handler emits is missed. `id` comes from
   * {@linkcode Stream.#reserveId}.
   */
  async #startCall(
    id: string,
    transport: TransportKind,
    rates: { input: number; output: number },
    phone?: {
      streamSid?: string;
      callSid?: string;
      accountSid?: string;
      customParameters?: Record<string, string>;
    },
    token: string = newCallToken(),
  ): Promise<PreparedCall> {
    const refuse = (meta: { error: string; [key: string]: unknown }) => {
      this.metrics.callRefused(meta.error);
      return new CallRejectedError(meta);
    };
    this.#pending.delete(id);
    if (this.#draining) throw refuse({ error: "server_shutting_down" });
    // Ids end up in log lines (call started/ended, handler errors): one
    // with a newline or an ANSI escape could forge or colour them.
    // deno-lint-ignore no-control-regex
    if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(id)) {
      throw refuse({
        error: "invalid_id",
        message: "The call id must not contain control characters; use " +
          "letters, digits and punctuation",
      });
    }
    if (this.#sessions.has(id)) {
      throw refuse({ error: "connection_already_exists" });
    }
    if (this.#control.distributed) {
      // One registry for every instance: the limit is global, and the
      // token's hash lets another instance check /input_hook and /outputs.
      const ok = await this.#control.acquire(
        id,
        this.concurrencyLimit,
        await tokenHash(token),
      );
      if (!ok) {
        throw refuse({
          error: "concurrency_limit_reached",
          limit: this.concurrencyLimit,
        });
      }
    } else if (
      this.concurrencyLimit !== null &&
      this.#sessions.size >= this.concurrencyLimit
    ) {
      throw refuse({
        error: "concurrency_limit_reached",
        limit: this.concurrencyLimit,
      });
    }
    const handler = this.handler.copy();
    const bus = new Bus({
      callId: id,
      transportInputRate: rates.input,
      transportOutputRate: rates.output,
      // A handler that takes frames at the transport's rate (ReplyOnPause)
      // gets phone audio as it comes: no per-frame resampling.
      handlerInputRate: handler.receivesTransportRate
        ? rates.input
        : handler.inputSampleRate,
      mode: this.mode,
    });
    // Nobody may be reading (phone calls rarely are): the hub keeps the
    // newest 256 for the first reader, so a long call cannot grow without
    // bound, and fans out to every reader after that.
    const outputs = new OutputsHub<AdditionalOutputs>({
      maxReaders: this.#options.maxOutputReaders ?? 8,
    });
    const verbose = this.#options.verbose ?? true;
    const session: Session = {
      id,
      transport,
      bus,
      handler,
      token,
      outputs,
      done: Promise.resolve(),
    };
    this.#sessions.set(id, session);
    let begun = false;
    let hangUpRequested = false;
    const begin = () => {
      if (begun) return;
      begun = true;
      // verbose (default true) logs calls at "info"; false moves them to
      // "debug", so the logger's level decides.
      (verbose ? log.info : log.debug)(
        `[parley] call ${id} started (${transport})`,
      );
      this.metrics.callStarted(transport);
      bus.on("interrupt", () => this.metrics.interruption());
      bus.on("message", (e) => {
        const m = e.message as {
          type: string;
          data?: unknown;
          metrics?: unknown;
        };
        if (m.type === "log" && m.data === "turn_metrics" && m.metrics) {
          this.metrics.turn(m.metrics as TurnMetricsSample);
          try {
            this.#options.onTurn?.(id, m.metrics as TurnMetrics);
          } catch (e) {
            log.error(`[parley] call ${id}: onTurn threw:`, e);
          }
        }
      });
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
          outputs.publish(o);
          if (this.#control.distributed) {
            this.#control.publish({
              type: "outputs",
              callId: id,
              args: [...o.args],
            }).catch(() => {});
          }
        },
      }).catch((e) => {
        log.error(`[parley] call ${id}: runner failed:`, e);
      }).finally(() => {
        clearTimeout(session.timer);
        this.metrics.droppedInput(bus.stats.droppedInputChunks);
        outputs.close();
        this.#endControl(id);
        this.#sessions.delete(id);
        (verbose ? log.info : log.debug)(
          `[parley] call ${id} ended: ${bus.closeReason ?? "done"}`,
        );
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
            log.warn(
              `[parley] call ${id}: hang-up ${r.action}: ${r.reason}`,
            );
          } else if (verbose && r.action !== "skipped") {
            log.info(`[parley] call ${id}: ${r.reason}`);
          }
        });
      });
    };
    // A call whose transport goes away before begin() still ends cleanly.
    bus.on("close", () => {
      if (!begun) {
        outputs.close();
        this.#sessions.delete(id);
        this.#endControl(id);
      }
    });
    return { bus, begin, callId: id, token };
  }

  /** Whether a call held by another instance may be reached with `token`. */
  async #remoteAuthorized(id: unknown, token: unknown): Promise<boolean> {
    if (!this.#control.distributed || typeof id !== "string") return false;
    if (this.#options.insecureIds) return await this.#control.isLive(id);
    const stored = await this.#control.tokenHashOf(id);
    const given = typeof token === "string" ? await tokenHash(token) : "";
    return sameToken(given, stored ?? DUMMY_TOKEN) && stored !== null;
  }

  #remoteOutputsSse(id: string): Response {
    let readers = this.#remoteReaders.get(id);
    if (!readers) this.#remoteReaders.set(id, readers = new Set());
    if (readers.size >= 16) {
      return Response.json(
        { status: "failed", meta: { error: "too_many_readers", limit: 16 } },
        { status: 429 },
      );
    }
    const queue = new AsyncQueue<AdditionalOutputs>();
    readers.add(queue);
    return sseOf(queue, () => {
      queue.close();
      readers.delete(queue);
      if (readers.size === 0) this.#remoteReaders.delete(id);
    });
  }

  /** Frees the call's slot in the registry and tells remote readers. */
  #endControl(id: string): void {
    this.#control.release(id).catch(() => {});
    if (this.#control.distributed) {
      this.#control.publish({ type: "ended", callId: id }).catch(() => {});
    }
  }

  /** The prepared call for a socket protocol's start. */
  async #socketCall(
    call: CallStart,
    transport: TransportKind,
  ): Promise<PreparedCall> {
    let token: string | undefined;
    if (transport === "twilio") token = this.#checkStreamToken(call);
    const id = this.#reserveId(call.callId);
    try {
      return await this.#startCall(
        id,
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
        token,
      );
    } finally {
      this.#pending.delete(id);
    }
  }

  /**
   * With an auth token (and `requireStreamToken` not false), a Twilio
   * `start` must carry the `parley_token` the TwiML issued for its CallSid,
   * not spent before. Returns the token (it becomes the call's access
   * token) or undefined when none is needed and none came; throws a
   * {@linkcode CallRejectedError} otherwise.
   */
  #checkStreamToken(call: CallStart): string | undefined {
    const given = call.customParameters[TWILIO_STREAM_TOKEN_PARAMETER];
    const required = this.#authToken &&
      (this.#options.twilio?.requireStreamToken ?? true);
    if (!required) return undefined;
    const check = checkTwilioStreamToken({
      authToken: this.#authToken!,
      callSid: call.carrierCallId ?? "",
      token: given,
    });
    if (!check.ok) {
      this.metrics.callRefused("invalid_stream_token");
      throw new CallRejectedError({
        error: "invalid_stream_token",
        message: `${check.reason}; the stream must come from the TwiML ` +
          `/telephone/incoming answered (or add the parameter made by ` +
          `createTwilioStreamToken)`,
      });
    }
    if (!this.#spentStreamTokens.spend(given, check.expiresAt)) {
      this.metrics.callRefused("invalid_stream_token");
      throw new CallRejectedError({
        error: "invalid_stream_token",
        message: `${TWILIO_STREAM_TOKEN_PARAMETER} was already used by ` +
          `another stream`,
      });
    }
    return given;
  }

  #websocket(request: Request): Response {
    const { socket, response } = Deno.upgradeWebSocket(request);
    this.#adopt(
      serveSocket({
        socket,
        codec: createFastRtcWebSocketCodec(),
        maxMessageBytes: this.#options.maxMessageBytes,
        signal: this.#shutdown.signal,
        startCall: (call) => this.#socketCall(call, "websocket"),
      }),
      "websocket",
    );
    return response;
  }

  /** Where the public URL of a carrier request comes from. */
  get #urlOptions(): { publicUrl?: string; trustProxy?: boolean } {
    return {
      publicUrl: this.#options.twilio?.publicUrl,
      trustProxy: this.#options.trustProxy ?? false,
    };
  }

  #telephoneSocket(request: Request): Response {
    if (this.#authToken) {
      const url = publicUrl(request, this.#urlOptions);
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
    this.#adopt(
      serveSocket({
        socket,
        codec: createTwilioCodec(),
        maxMessageBytes: this.#options.maxMessageBytes,
        signal: this.#shutdown.signal,
        startCall: (call) => this.#socketCall(call, "twilio"),
      }),
      "twilio stream",
    );
    return response;
  }

  async #incomingCall(request: Request): Promise<Response> {
    const twilioOpts = this.#options.twilio ?? {};
    const url = publicUrl(request, this.#urlOptions);
    const signature = request.headers.get("x-twilio-signature");
    if (this.#authToken && !signature) {
      // Refused before a byte of the body is read.
      await request.body?.cancel().catch(() => {});
      return text(403, "Invalid X-Twilio-Signature");
    }
    let params: Record<string, string> = {};
    const type = request.headers.get("content-type") ?? "";
    // Capped: no more than maxBodyBytes is buffered before the signature
    // (which covers the body) can be checked.
    const body = await readBodyCapped(request, this.#maxBodyBytes);
    if (type.includes("application/x-www-form-urlencoded")) {
      params = Object.fromEntries(
        new URLSearchParams(new TextDecoder().decode(body)),
      );
    }
    if (this.#authToken) {
      const ok = isValidTwilioSignature({
        authToken: this.#authToken,
        signature,
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
        parameters: this.#authToken &&
            (twilioOpts.requireStreamToken ?? true)
          ? {
            [TWILIO_STREAM_TOKEN_PARAMETER]: createTwilioStreamToken({
              authToken: this.#authToken,
              callSid: params.CallSid ?? "",
            }),
          }
          : undefined,
      });
    return new Response(xml, {
      headers: { "content-type": "application/xml" },
    });
  }

  /** Reads a capped JSON object body; null (and a 400 to send) if invalid. */
  async #jsonBody(
    request: Request,
    message: string,
  ): Promise<Record<string, unknown> | Response> {
    const bytes = await readBodyCapped(request, this.#maxBodyBytes);
    try {
      const body = JSON.parse(new TextDecoder().decode(bytes));
      if (typeof body !== "object" || body === null || Array.isArray(body)) {
        throw new Error("not an object");
      }
      return body;
    } catch {
      return Response.json({
        status: "failed",
        meta: { error: "invalid_json", message },
      }, { status: 400 });
    }
  }

  /**
   * The live call a browser request names by `webrtc_id` and `token` (the
   * token is not needed with `insecureIds`). Undefined for an unknown id
   * and for a wrong token alike.
   */
  #authorizedSession(id: unknown, token: unknown): Session | undefined {
    if (typeof id !== "string") return undefined;
    const session = this.#sessions.get(id);
    // Compare a token either way, so both cases take the same time.
    const ok = sameToken(token, session?.token ?? DUMMY_TOKEN);
    if (!session) return undefined;
    return ok || this.#options.insecureIds ? session : undefined;
  }

  async #webrtcOffer(request: Request): Promise<Response> {
    const webrtc = this.#options.webrtc;
    if (!webrtc) {
      await request.body?.cancel().catch(() => {});
      return Response.json({
        status: "failed",
        meta: { error: "webrtc_not_enabled" },
      });
    }
    const body = await this.#jsonBody(
      request,
      "POST a JSON object with sdp, type and webrtc_id",
    );
    if (body instanceof Response) return body;
    const requested = body.webrtc_id;
    const validId = typeof requested === "string" && requested.length > 0 &&
      requested.length <= 256;
    if (validId && body.type !== "offer") {
      // A trickled candidate: for a live call, only with its token.
      const session = this.#sessions.get(requested);
      if (session && !this.#authorizedSession(requested, body.token)) {
        return Response.json({
          status: "failed",
          meta: { error: "unknown_connection" },
        });
      }
    }
    // An offer gets its own id (the requested one when it is free).
    const id = validId && body.type === "offer"
      ? this.#reserveId(requested)
      : undefined;
    try {
      const answer = await webrtc.handle(
        id ? { ...body, webrtc_id: id } : body,
        ({ webrtcId, sampleRate }) =>
          this.#startCall(webrtcId, "webrtc", {
            input: sampleRate ?? 48000,
            output: sampleRate ?? 48000,
          }),
      );
      const session = id ? this.#sessions.get(id) : undefined;
      if (session && answer.type === "answer") {
        return Response.json({
          ...answer,
          webrtc_id: id,
          token: session.token,
        });
      }
      return Response.json(answer);
    } catch (e) {
      if (e instanceof CallRejectedError) {
        return Response.json({ status: "failed", meta: e.meta });
      }
      return Response.json({
        status: "failed",
        meta: { error: (e as Error).message ?? String(e) },
      });
    } finally {
      if (id) this.#pending.delete(id);
    }
  }

  async #inputHook(request: Request): Promise<Response> {
    const type = request.headers.get("content-type") ?? "";
    if (!/^application\/json\s*(;|$)/i.test(type)) {
      await request.body?.cancel().catch(() => {});
      return Response.json({
        status: "failed",
        meta: {
          error: "unsupported_media_type",
          message: "POST with content-type: application/json",
        },
      }, { status: 415 });
    }
    const body = await this.#jsonBody(
      request,
      "POST a JSON object with webrtc_id, token and args",
    );
    if (body instanceof Response) return body;
    const { webrtc_id: id, token, args, ...rest } = body;
    const session = this.#authorizedSession(id, token);
    if (!session) {
      // Held by another instance? The registry knows its token's hash.
      if (await this.#remoteAuthorized(id, token)) {
        this.setInput(id as string, ...(Array.isArray(args) ? args : [rest]));
        return Response.json({ status: "success" });
      }
      return unknownConnection();
    }
    this.setInput(session.id, ...(Array.isArray(args) ? args : [rest]));
    return Response.json({ status: "success" });
  }

  async #outputsSse(url: URL): Promise<Response> {
    const id = url.searchParams.get("webrtc_id");
    const token = url.searchParams.get("token");
    const session = this.#authorizedSession(id, token);
    if (!session) {
      if (await this.#remoteAuthorized(id, token)) {
        return this.#remoteOutputsSse(id as string);
      }
      return unknownConnection();
    }
    const reader = session.outputs.subscribe();
    if (!reader) {
      return Response.json({
        status: "failed",
        meta: {
          error: "too_many_readers",
          message: `This call already has ${
            this.#options.maxOutputReaders ?? 8
          } outputs readers; close one first`,
        },
      }, { status: 429 });
    }
    const encoder = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const item = await reader.next();
          controller.enqueue(
            encoder.encode(
              `event: output\ndata: ${JSON.stringify(item.args)}\n\n`,
            ),
          );
        } catch {
          reader.close();
          try {
            controller.close();
          } catch {
            // cancelled meanwhile
          }
        }
      },
      cancel() {
        // The reader went away: its place is free at once.
        reader.close();
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

/** Server-sent events of `outputs` published by the instance holding a call. */
function sseOf(
  queue: AsyncQueue<AdditionalOutputs>,
  onCancel: () => void,
): Response {
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const item = await queue.get();
        controller.enqueue(
          encoder.encode(
            `event: output\ndata: ${JSON.stringify(item.args)}\n\n`,
          ),
        );
      } catch {
        controller.close();
      }
    },
    cancel() {
      onCancel();
    },
  });
  return new Response(body, {
    headers: {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
    },
  });
}

/** Hex sha256 of a call token (what the control channel stores). */
async function tokenHash(token: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(token),
  );
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0"))
    .join("");
}

/** Compared against when no call matches, so both paths cost the same. */
const DUMMY_TOKEN = "x".repeat(43);

/** The one answer for an unknown call and for a wrong token. */
function unknownConnection(): Response {
  return Response.json(
    { status: "failed", meta: { error: "unknown_connection" } },
    { status: 404 },
  );
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
