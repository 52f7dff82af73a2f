/**
 * Routes of the five carriers beyond Twilio: each answers its voice webhook
 * at `GET|POST /telephone/<carrier>/incoming` with its answer document and
 * serves its media socket at `WS /telephone/<carrier>/handler`, on the shared
 * socket adapter with the carrier's wire codec.
 *
 * | carrier | answer document | webhook check | socket check | credentials (option / env) |
 * | --- | --- | --- | --- | --- |
 * | `telnyx` | TeXML `<Connect><Stream bidirectionalMode="rtp">` | Ed25519 `telnyx-signature-ed25519` over `timestamp\|body` | stream token in `start.custom_parameters` | `publicKey` / `TELNYX_PUBLIC_KEY` |
 * | `plivo` | Plivo XML `<Stream bidirectional="true">` | `X-Plivo-Signature-V3` (HMAC-SHA256, nonce) | stream token in `extra_headers` | `authToken` / `PLIVO_AUTH_TOKEN` |
 * | `vonage` | NCCO `connect` → `websocket` (JSON) | `Authorization: Bearer` HS256 JWT with `payload_hash` | stream token in the endpoint `headers` | `signatureSecret` / `VONAGE_SIGNATURE_SECRET` |
 * | `exotel` | `{"url":"wss://…"}` for the Voicebot applet's dynamic URL | HTTP Basic (same credentials) | HTTP Basic on the upgrade | `apiKey`+`apiToken` / `EXOTEL_API_KEY`+`EXOTEL_API_TOKEN` |
 * | `signalwire` | cXML `<Connect><Stream>` | `X-SignalWire-Signature` (Twilio's HMAC-SHA1 scheme) | `Authorization: Bearer` stream token (`authBearerToken`) | `signingKey` / `SIGNALWIRE_SIGNING_KEY` |
 *
 * With no credential configured a carrier's routes check nothing (like
 * Twilio's without `TWILIO_AUTH_TOKEN`). With one, a webhook request without
 * a valid signature gets 403 before its body is parsed beyond what the check
 * needs (the raw bytes, or the form fields the carrier signs), bodies are
 * read with a 64 KiB cap (413 past it), and the socket must prove it came
 * from that answer:
 *
 * - Telnyx, Plivo and Vonage do not sign their WebSocket connections, so the
 *   answer document carries a **stream token** as a custom parameter
 *   (`parleyToken`), which the carrier hands back in the stream's start
 *   message. It is an HMAC (keyed with the carrier's secret, or for Telnyx,
 *   whose credential is a public key, with `streamTokenSecret` /
 *   `PARLEY_STREAM_SECRET`, else a random per-process key), expires after
 *   `streamTokenTtlSec` (default 300 s), is accepted once per process, and
 *   is removed from `customParameters` before the handler sees them. A start
 *   without a valid one is refused and the socket closed (1008).
 * - SignalWire sends `<Stream authBearerToken>` as `Authorization: Bearer` on
 *   the upgrade: the stream token goes there and is checked before upgrading.
 * - Exotel sends the stream URL's credentials as Basic auth on the upgrade;
 *   the dynamic-URL answer writes them into the URL, so the webhook demands
 *   the same credentials (configure it as `https://KEY:TOKEN@host/…`), or
 *   else anyone could read them from it.
 *
 * Handlers of every carrier's calls see `phoneMode = true`, the carrier as
 * `transport`, the carrier's stream and call ids as `streamSid`/`callSid`,
 * and the answer document's custom parameters.
 *
 * @example A phone bot for Plivo and Vonage calls, signatures checked
 * ```ts
 * import { ReplyOnPause, Stream } from "@parley/parley";
 * const stream = new Stream({
 *   handler: new ReplyOnPause(async function* (audio) {
 *     yield audio;
 *   }),
 *   carriers: {
 *     plivo: { authToken: Deno.env.get("PLIVO_AUTH_TOKEN") },
 *     vonage: { signatureSecret: Deno.env.get("VONAGE_SIGNATURE_SECRET") },
 *     publicUrl: "https://bot.example.com",
 *   },
 * });
 * stream.serve({ port: 8000 });
 * // Plivo answer URL:  https://bot.example.com/telephone/plivo/incoming
 * // Vonage answer URL: https://bot.example.com/telephone/vonage/incoming
 * ```
 *
 * @module
 */

import { CallRejectedError } from "../transports/call_rejected.ts";
import type { CallStart, WireCodec } from "../transports/codec.ts";
import {
  buildExotelStreamUrl,
  checkExotelBasicAuth,
  createExotelCodec,
} from "../transports/exotel.ts";
import {
  buildPlivoXml,
  createPlivoCodec,
  verifyPlivoSignatureV3,
} from "../transports/plivo.ts";
import {
  buildSignalWireCxml,
  createSignalWireCodec,
  type SignalWireCodecName,
  verifySignalWireSignature,
} from "../transports/signalwire.ts";
import {
  type PreparedCall,
  serveSocket,
  type SocketStats,
} from "../transports/socket_adapter.ts";
import {
  buildTelnyxTexml,
  createTelnyxCodec,
  type TelnyxEncoding,
  verifyTelnyxSignature,
} from "../transports/telnyx.ts";
import {
  buildVonageNcco,
  createVonageCodec,
  verifyVonageSignedWebhook,
} from "../transports/vonage.ts";
import { publicUrl } from "./twilio_webhook.ts";
import { env as readEnv } from "../_internal/permissions.ts";
import { log } from "../_internal/log.ts";

/**
 * The carriers served under `/telephone/<carrier>/`.
 *
 * @example
 * ```ts
 * import type { CarrierName } from "@parley/parley/server";
 * const carrier: CarrierName = "telnyx";
 * ```
 */
export type CarrierName =
  | "telnyx"
  | "plivo"
  | "vonage"
  | "exotel"
  | "signalwire";

/**
 * The carriers, in route order.
 *
 * @example
 * ```ts
 * import { CARRIER_NAMES } from "@parley/parley/server";
 * for (const name of CARRIER_NAMES) console.log(`/telephone/${name}/incoming`);
 * ```
 */
export const CARRIER_NAMES: readonly CarrierName[] = Object.freeze([
  "telnyx",
  "plivo",
  "vonage",
  "exotel",
  "signalwire",
]);

/** What an answer webhook said, for {@linkcode CarrierRoutesOptions.parameters}. */
export interface IncomingCallInfo {
  /** The carrier calling. */
  carrier: CarrierName;
  /** The webhook's fields (form, JSON body or query), strings only. */
  params: Record<string, string>;
  /** The request (its body already read). */
  request: Request;
}

/** Telnyx settings of the carrier routes. */
export interface TelnyxRouteOptions {
  /**
   * Ed25519 public key (Portal → Keys & Credentials → Public Key) that
   * webhook signatures are checked with (default: `TELNYX_PUBLIC_KEY`).
   */
  publicKey?: string;
  /** Encoding of the audio sent back (default `"PCMU"`). */
  bidirectionalCodec?: TelnyxEncoding;
  /** Rate of the audio sent back (default 8000; L16 up to 48000). */
  bidirectionalSamplingRate?: number;
}

/** Plivo settings of the carrier routes. */
export interface PlivoRouteOptions {
  /** Auth Token for `X-Plivo-Signature-V3` (default: `PLIVO_AUTH_TOKEN`). */
  authToken?: string;
  /** Stream audio format (default `audio/x-mulaw;rate=8000`). */
  contentType?:
    | "audio/x-mulaw;rate=8000"
    | "audio/x-l16;rate=8000"
    | "audio/x-l16;rate=16000";
}

/** Vonage settings of the carrier routes. */
export interface VonageRouteOptions {
  /** Signature secret of signed webhooks (default: `VONAGE_SIGNATURE_SECRET`). */
  signatureSecret?: string;
  /** Stream audio format (default `audio/l16;rate=16000`). */
  contentType?:
    | "audio/l16;rate=8000"
    | "audio/l16;rate=16000"
    | "audio/l16;rate=24000";
}

/** Exotel settings of the carrier routes. */
export interface ExotelRouteOptions {
  /** Basic-auth user of the stream URL (default: `EXOTEL_API_KEY`). */
  apiKey?: string;
  /** Basic-auth password of the stream URL (default: `EXOTEL_API_TOKEN`). */
  apiToken?: string;
  /** Rate Exotel streams at: 8000 (default), 16000 or 24000. */
  sampleRate?: 8000 | 16000 | 24000;
}

/** SignalWire settings of the carrier routes. */
export interface SignalWireRouteOptions {
  /** Signing Key for `X-SignalWire-Signature` (default: `SIGNALWIRE_SIGNING_KEY`). */
  signingKey?: string;
  /** Stream codec (default `PCMU@8000h`). */
  codec?: SignalWireCodecName;
}

/** Options of the carrier routes (`StreamOptions.carriers`). */
export interface CarrierRoutesOptions {
  /** Telnyx settings, or `false` to serve no Telnyx routes. */
  telnyx?: TelnyxRouteOptions | false;
  /** Plivo settings, or `false`. */
  plivo?: PlivoRouteOptions | false;
  /** Vonage settings, or `false`. */
  vonage?: VonageRouteOptions | false;
  /** Exotel settings, or `false`. */
  exotel?: ExotelRouteOptions | false;
  /** SignalWire settings, or `false`. */
  signalwire?: SignalWireRouteOptions | false;
  /** Public base URL the carriers call (e.g. `https://bot.example.com`), for proxies. */
  publicUrl?: string;
  /**
   * Believe `Forwarded` / `X-Forwarded-*` headers from a proxy you run
   * (default false; `Stream` passes its own `trustProxy`). See `publicUrl`.
   */
  trustProxy?: boolean;
  /**
   * Custom parameters to put in every answer document (they reach the
   * handler as `customParameters`), e.g. a tenant id looked up from the
   * called number. Plivo allows letters and digits only; Exotel 3 values.
   */
  parameters?: (
    call: IncomingCallInfo,
  ) => Record<string, string> | Promise<Record<string, string>>;
  /**
   * Key of Telnyx stream tokens (default: `PARLEY_STREAM_SECRET`, else a
   * random per-process key; set it when webhooks and sockets may land on
   * different processes).
   */
  streamTokenSecret?: string;
  /** How long a stream token stays valid, in seconds (default 300). */
  streamTokenTtlSec?: number;
  /** Largest webhook body in bytes (default 65536; larger gets 413). */
  maxBodyBytes?: number;
  /** What callers hear when the stream is full (concurrency limit or draining). */
  busyMessage?: string;
  /** Receives each carrier socket's counters when it is done. */
  onSocketStats?: (carrier: CarrierName, stats: SocketStats) => void;
}

/** What the server gives the carrier routes. */
export interface CarrierServerHooks {
  /** Prepares a started call (limits, bus, handler) or throws to refuse it. */
  startCall: (
    call: CallStart,
    carrier: CarrierName,
  ) => PreparedCall | Promise<PreparedCall>;
  /** Aborts on server shutdown: the adapter closes the socket with 1001. */
  signal?: AbortSignal;
  /** Receives each served socket's promise (shutdown waits for it, totals). */
  adopt?: (served: Promise<SocketStats>, what: string) => void;
  /** True when a new call would be refused (limit reached, draining). */
  busy: () => boolean;
  /** Largest socket message in bytes. */
  maxMessageBytes?: number;
}

/**
 * The custom parameter that carries the stream token (removed from
 * `customParameters` before the handler sees them).
 *
 * @example
 * ```ts
 * import { STREAM_TOKEN_PARAMETER } from "@parley/parley/server";
 * console.log(STREAM_TOKEN_PARAMETER); // "parleyToken"
 * ```
 */
export const STREAM_TOKEN_PARAMETER = "parleyToken";

const ROUTE =
  /\/telephone\/(telnyx|plivo|vonage|exotel|signalwire)\/(incoming|handler)$/;

/**
 * The carrier routes of a `Stream`: give it every request; it answers the
 * ones under `/telephone/<carrier>/` and returns null for the rest.
 *
 * @example Serve the carrier routes next to your own
 * ```ts
 * import { CarrierRoutes } from "@parley/parley/server";
 * import { FrameBus } from "@parley/parley/transports";
 * const routes = new CarrierRoutes({ plivo: { authToken: "token" } });
 * Deno.serve(async (request) =>
 *   await routes.handle(request, {
 *     busy: () => false,
 *     startCall: (call) => ({
 *       bus: new FrameBus({
 *         callId: call.callId,
 *         transportInputRate: call.inputRate ?? 8000,
 *         transportOutputRate: call.outputRate ?? 8000,
 *         handlerInputRate: 16000,
 *       }),
 *     }),
 *   }) ?? new Response("not found", { status: 404 })
 * );
 * ```
 */
export class CarrierRoutes {
  #options: CarrierRoutesOptions;
  #secrets = new Map<CarrierName, string>();
  #tokenKeys = new Map<CarrierName, Promise<CryptoKey>>();
  #used = new Map<string, number>();

  /**
   * Reads the credentials (options first, then the environment where the
   * process may read it).
   *
   * @param options Per-carrier settings.
   */
  constructor(options: CarrierRoutesOptions = {}) {
    this.#options = options;
    const pick = (c: CarrierName, value: string | undefined, env: string) => {
      const secret = value ?? readEnv(env);
      if (secret) this.#secrets.set(c, secret);
    };
    const o = options;
    if (o.telnyx !== false) {
      pick("telnyx", o.telnyx?.publicKey, "TELNYX_PUBLIC_KEY");
    }
    if (o.plivo !== false) {
      pick("plivo", o.plivo?.authToken, "PLIVO_AUTH_TOKEN");
    }
    if (o.vonage !== false) {
      pick("vonage", o.vonage?.signatureSecret, "VONAGE_SIGNATURE_SECRET");
    }
    if (o.signalwire !== false) {
      pick("signalwire", o.signalwire?.signingKey, "SIGNALWIRE_SIGNING_KEY");
    }
    if (o.exotel !== false) {
      const key = o.exotel?.apiKey ?? readEnv("EXOTEL_API_KEY");
      const token = o.exotel?.apiToken ?? readEnv("EXOTEL_API_TOKEN");
      if (key && token) this.#secrets.set("exotel", `${key}:${token}`);
      else if (key || token) {
        throw new TypeError(
          "Exotel Basic auth needs both apiKey and apiToken (or " +
            "EXOTEL_API_KEY and EXOTEL_API_TOKEN); only one is set",
        );
      }
    }
    const ttl = options.streamTokenTtlSec ?? 300;
    if (!(ttl > 0)) {
      throw new RangeError(
        `streamTokenTtlSec must be a positive number of seconds, got ${ttl}`,
      );
    }
  }

  /**
   * Whether a carrier's requests are checked (a credential is configured).
   *
   * @example
   * ```ts
   * import { CarrierRoutes } from "@parley/parley/server";
   * new CarrierRoutes({ vonage: { signatureSecret: "s" } }).isVerified("vonage"); // true
   * ```
   *
   * @param carrier The carrier.
   * @returns True when webhooks and sockets must prove they are the carrier's.
   */
  isVerified(carrier: CarrierName): boolean {
    return this.#secrets.has(carrier);
  }

  /**
   * Answers a request under `/telephone/<carrier>/`, or returns null.
   *
   * @example
   * ```ts
   * import { CarrierRoutes } from "@parley/parley/server";
   * const routes = new CarrierRoutes();
   * const r = await routes.handle(new Request("http://localhost/other"), {
   *   busy: () => false,
   *   startCall: () => { throw new Error("unused"); },
   * });
   * // r === null
   * ```
   *
   * @param request The request.
   * @param hooks How to start calls and whether the stream is full.
   * @returns The response, or null when the path is not a carrier route.
   */
  async handle(
    request: Request,
    hooks: CarrierServerHooks,
  ): Promise<Response | null> {
    const path = new URL(request.url).pathname.replace(/\/+$/, "");
    const m = ROUTE.exec(path);
    if (!m) return null;
    const carrier = m[1] as CarrierName;
    if (this.#options[carrier] === false) return null;
    const upgrade =
      request.headers.get("upgrade")?.toLowerCase() === "websocket";
    if (m[2] === "handler") {
      if (!upgrade) {
        return text(
          426,
          `/telephone/${carrier}/handler needs a WebSocket upgrade`,
        );
      }
      return await this.#socket(request, carrier, hooks);
    }
    if (request.method !== "POST" && request.method !== "GET") {
      return text(
        405,
        `${request.method} is not answered; the ${carrier} webhook is GET or POST`,
      );
    }
    return await this.#incoming(request, carrier, hooks, path);
  }

  // ------------------------------------------------------------ webhook

  async #incoming(
    request: Request,
    carrier: CarrierName,
    hooks: CarrierServerHooks,
    path: string,
  ): Promise<Response> {
    const url = publicUrl(request, {
      publicUrl: this.#options.publicUrl,
      trustProxy: this.#options.trustProxy,
    });
    const secret = this.#secrets.get(carrier);
    // Exotel's check is a header: refuse before reading anything.
    if (carrier === "exotel" && secret && !basicOk(request, secret)) {
      return text(
        403,
        "Exotel webhook refused: Basic credentials missing or wrong; put " +
          "KEY:TOKEN@ in the dynamic URL",
      );
    }
    const max = this.#options.maxBodyBytes ?? 65536;
    const body = request.method === "POST"
      ? await readCapped(request, max)
      : new Uint8Array(0);
    if (body === null) {
      return text(413, `Webhook body over ${max} bytes refused`);
    }
    const type = request.headers.get("content-type") ?? "";
    const isForm = type.includes("application/x-www-form-urlencoded");
    const form = () => isForm ? formFields(new TextDecoder().decode(body)) : {};
    if (secret && carrier !== "exotel") {
      const refused = await this.#verifyWebhook(
        carrier,
        secret,
        request,
        url,
        body,
        form,
      );
      if (refused) return text(403, refused);
    }
    // Verified (or unchecked): now parse what the answer needs.
    const params: Record<string, string> = {};
    for (const [k, v] of url.searchParams) params[k] = v;
    if (isForm) Object.assign(params, form());
    else if (type.includes("json") && body.length) {
      try {
        const json = JSON.parse(new TextDecoder().decode(body));
        if (json && typeof json === "object" && !Array.isArray(json)) {
          for (const [k, v] of Object.entries(json)) {
            if (typeof v === "string" && k !== "__proto__") params[k] = v;
          }
        }
      } catch {
        return text(400, "Webhook body is not valid JSON");
      }
    }
    const base = path.replace(
      new RegExp(`/telephone/${carrier}/incoming$`),
      "",
    );
    const scheme = url.protocol === "http:" ? "ws" : "wss";
    const streamUrl =
      `${scheme}://${url.host}${base}/telephone/${carrier}/handler`;
    const busyText = this.#options.busyMessage ??
      "All lines are busy. Please call back later.";
    if (hooks.busy()) return busyAnswer(carrier, busyText);
    const custom = {
      ...(await this.#options.parameters?.({ carrier, params, request })),
    };
    const token = secret && carrier !== "exotel"
      ? await this.#mintToken(carrier)
      : undefined;
    if (token && carrier !== "signalwire") {
      custom[STREAM_TOKEN_PARAMETER] = token;
    }
    return this.#answer(carrier, streamUrl, custom, params, token);
  }

  async #verifyWebhook(
    carrier: CarrierName,
    secret: string,
    request: Request,
    url: URL,
    body: Uint8Array,
    form: () => Record<string, string>,
  ): Promise<string | null> {
    const h = request.headers;
    switch (carrier) {
      case "telnyx": {
        const r = await verifyTelnyxSignature({
          publicKey: secret,
          signature: h.get("telnyx-signature-ed25519"),
          timestamp: h.get("telnyx-timestamp"),
          body,
        });
        return r.valid ? null : `Telnyx webhook refused: ${r.reason}`;
      }
      case "plivo": {
        const signature = h.get("x-plivo-signature-v3") ??
          h.get("x-plivo-signature-ma-v3");
        const ok = await verifyPlivoSignatureV3({
          authToken: secret,
          url: url.href,
          method: request.method,
          params: request.method === "POST" ? form() : {},
          nonce: h.get("x-plivo-signature-v3-nonce"),
          signature,
        });
        return ok ? null : "Plivo webhook refused: X-Plivo-Signature-V3 " +
          "missing or wrong (is the Auth Token the account's?)";
      }
      case "vonage": {
        const authorization = h.get("authorization");
        let r = await verifyVonageSignedWebhook({
          secret,
          authorization,
          body: request.method === "POST" ? body : undefined,
        });
        // A GET carries no body; when its token hashes a payload, it is the
        // query as compact JSON (Vonage's signed-webhook article).
        if (
          r.valid && request.method === "GET" &&
          typeof r.claims.payload_hash === "string"
        ) {
          r = await verifyVonageSignedWebhook({
            secret,
            authorization,
            body: JSON.stringify(Object.fromEntries(url.searchParams)),
          });
        }
        return r.valid ? null : `Vonage webhook refused: ${r.reason}`;
      }
      case "signalwire": {
        const ok = await verifySignalWireSignature({
          signingKey: secret,
          signature: h.get("x-signalwire-signature") ??
            h.get("x-twilio-signature"),
          url: url.href,
          params: form(),
        });
        return ok ? null : "SignalWire webhook refused: " +
          "X-SignalWire-Signature missing or wrong (is it the Signing Key?)";
      }
      default:
        return null;
    }
  }

  #answer(
    carrier: CarrierName,
    streamUrl: string,
    custom: Record<string, string>,
    params: Record<string, string>,
    token: string | undefined,
  ): Response {
    const xml = (doc: string) =>
      new Response(doc, { headers: { "content-type": "application/xml" } });
    switch (carrier) {
      case "telnyx": {
        const o = this.#options.telnyx || {};
        return xml(buildTelnyxTexml({
          streamUrl,
          bidirectionalCodec: o.bidirectionalCodec,
          bidirectionalSamplingRate: o.bidirectionalSamplingRate,
          parameters: custom,
        }));
      }
      case "plivo":
        return xml(buildPlivoXml({
          streamUrl,
          contentType: (this.#options.plivo || {}).contentType,
          extraHeaders: Object.keys(custom).length ? custom : undefined,
        }));
      case "vonage": {
        const headers: Record<string, string> = { ...custom };
        if (params.uuid && /^[\w.:-]{1,128}$/.test(params.uuid)) {
          headers.uuid = params.uuid;
        }
        return Response.json(buildVonageNcco({
          websocketUri: streamUrl,
          contentType: (this.#options.vonage || {}).contentType,
          headers: Object.keys(headers).length ? headers : undefined,
        }));
      }
      case "exotel": {
        const secret = this.#secrets.get("exotel");
        const i = secret?.indexOf(":") ?? -1;
        return Response.json({
          url: buildExotelStreamUrl({
            url: streamUrl,
            sampleRate: (this.#options.exotel || {}).sampleRate,
            parameters: custom,
            username: secret?.slice(0, i),
            password: secret?.slice(i + 1),
          }),
        });
      }
      case "signalwire":
        return xml(buildSignalWireCxml({
          streamUrl,
          codec: (this.#options.signalwire || {}).codec,
          parameters: custom,
          authBearerToken: token,
        }));
    }
  }

  // ------------------------------------------------------------- socket

  /**
   * Serves one carrier media socket on any path (for custom routes such as
   * the seed's `/media-stream`): the same checks and codec as
   * `/telephone/<carrier>/handler`.
   *
   * @example
   * ```ts ignore
   * const response = await routes.socket(request, "telnyx", hooks);
   * ```
   *
   * @param request A WebSocket upgrade request.
   * @param carrier The carrier.
   * @param hooks How to start calls.
   * @returns The upgrade response (or 403/426).
   */
  async socket(
    request: Request,
    carrier: CarrierName,
    hooks: CarrierServerHooks,
  ): Promise<Response> {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return text(426, `the ${carrier} media socket needs a WebSocket upgrade`);
    }
    return await this.#socket(request, carrier, hooks);
  }

  async #socket(
    request: Request,
    carrier: CarrierName,
    hooks: CarrierServerHooks,
  ): Promise<Response> {
    const secret = this.#secrets.get(carrier);
    if (carrier === "exotel" && secret && !basicOk(request, secret)) {
      return text(
        403,
        "Exotel stream refused: Basic credentials missing or wrong",
      );
    }
    if (carrier === "signalwire" && secret) {
      const m = /^Bearer\s+(\S+)$/.exec(
        request.headers.get("authorization")?.trim() ?? "",
      );
      const ok = m !== null && await this.#checkToken("signalwire", m[1]);
      if (!ok) {
        return text(
          403,
          "SignalWire stream refused: the Authorization Bearer token is " +
            "missing, wrong or used; connect with the cXML this server answered",
        );
      }
    }
    const needsToken = secret !== undefined &&
      (carrier === "telnyx" || carrier === "plivo" || carrier === "vonage");
    const { socket, response } = Deno.upgradeWebSocket(request);
    const served = serveSocket({
      socket,
      codec: this.#codec(carrier),
      maxMessageBytes: hooks.maxMessageBytes,
      signal: hooks.signal,
      startCall: async (call) => {
        const token = call.customParameters[STREAM_TOKEN_PARAMETER];
        if (needsToken && !(await this.#checkToken(carrier, token))) {
          throw new CallRejectedError({
            error: "invalid_stream_token",
            message: `the ${carrier} start carries no valid ` +
              `${STREAM_TOKEN_PARAMETER}; connect with the answer document ` +
              `this server sent (tokens expire and work once)`,
          });
        }
        const params = { ...call.customParameters };
        delete params[STREAM_TOKEN_PARAMETER];
        return hooks.startCall({ ...call, customParameters: params }, carrier);
      },
    });
    served.then(
      (stats) => this.#options.onSocketStats?.(carrier, stats),
      (e) => log.error(`[parley] ${carrier} stream failed:`, e),
    );
    hooks.adopt?.(served, `${carrier} stream`);
    return response;
  }

  #codec(carrier: CarrierName): WireCodec {
    switch (carrier) {
      case "telnyx": {
        const o = this.#options.telnyx || {};
        return createTelnyxCodec({
          outboundEncoding: o.bidirectionalCodec,
          outboundSampleRate: o.bidirectionalSamplingRate,
        });
      }
      case "plivo":
        return createPlivoCodec();
      case "vonage":
        return createVonageCodec();
      case "exotel":
        return createExotelCodec();
      case "signalwire":
        return createSignalWireCodec();
    }
  }

  // ------------------------------------------------------ stream tokens

  /** The HMAC key of a carrier's stream tokens. */
  #tokenKey(carrier: CarrierName): Promise<CryptoKey> {
    let key = this.#tokenKeys.get(carrier);
    if (!key) {
      // Telnyx's credential is a public key: tokens need a secret of ours.
      const material = carrier === "telnyx"
        ? this.#options.streamTokenSecret ?? readEnv("PARLEY_STREAM_SECRET") ??
          processSecret
        : `parley stream token|${this.#secrets.get(carrier)}`;
      key = crypto.subtle.importKey(
        "raw",
        new TextEncoder().encode(material),
        { name: "HMAC", hash: "SHA-256" },
        false,
        ["sign"],
      );
      this.#tokenKeys.set(carrier, key);
    }
    return key;
  }

  async #tokenMac(carrier: CarrierName, body: string): Promise<string> {
    const mac = await crypto.subtle.sign(
      "HMAC",
      await this.#tokenKey(carrier),
      new TextEncoder().encode(`${carrier}|${body}`),
    );
    return hex(new Uint8Array(mac).subarray(0, 16));
  }

  /** A token: 10 digits of expiry, 16 hex of nonce, 32 hex of MAC. */
  async #mintToken(carrier: CarrierName): Promise<string> {
    const ttl = this.#options.streamTokenTtlSec ?? 300;
    const exp = String(Math.floor(Date.now() / 1000 + ttl)).padStart(10, "0");
    const nonce = hex(crypto.getRandomValues(new Uint8Array(8)));
    return `${exp}${nonce}${await this.#tokenMac(carrier, exp + nonce)}`;
  }

  /** True for an unexpired token of this carrier not used before. */
  async #checkToken(carrier: CarrierName, token: unknown): Promise<boolean> {
    if (typeof token !== "string" || !/^[0-9]{10}[0-9a-f]{48}$/.test(token)) {
      return false;
    }
    const now = Date.now() / 1000;
    const exp = Number(token.slice(0, 10));
    if (exp < now) return false;
    const mac = await this.#tokenMac(carrier, token.slice(0, 26));
    if (!timingSafeEqualText(mac, token.slice(26))) return false;
    const id = `${carrier}|${token}`;
    if (this.#used.has(id)) return false;
    for (const [k, e] of this.#used) if (e < now) this.#used.delete(k);
    if (this.#used.size >= 100_000) return false;
    this.#used.set(id, exp);
    return true;
  }
}

/** Random key of this process's Telnyx stream tokens (see the module doc). */
const processSecret = hex(crypto.getRandomValues(new Uint8Array(32)));

function busyAnswer(carrier: CarrierName, message: string): Response {
  const say = escapeText(message);
  const xml = (doc: string) =>
    new Response(
      `<?xml version="1.0" encoding="UTF-8"?><Response>${doc}</Response>`,
      {
        headers: { "content-type": "application/xml" },
      },
    );
  switch (carrier) {
    case "telnyx":
    case "signalwire":
      return xml(`<Say>${say}</Say><Hangup/>`);
    case "plivo":
      return xml(`<Speak>${say}</Speak><Hangup/>`);
    case "vonage":
      return Response.json([{ action: "talk", text: message }]);
    case "exotel":
      return Response.json(
        { error: "busy", message },
        { status: 503, headers: { "retry-after": "5" } },
      );
  }
}

function basicOk(request: Request, secret: string): boolean {
  const i = secret.indexOf(":");
  return checkExotelBasicAuth({
    authorization: request.headers.get("authorization"),
    username: secret.slice(0, i),
    password: secret.slice(i + 1),
  }).valid;
}

/** Reads a body up to `max` bytes; null when it is larger. */
async function readCapped(
  request: Request,
  max: number,
): Promise<Uint8Array | null> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > max) {
    await request.body?.cancel().catch(() => {});
    return null;
  }
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) (out.set(c, o), o += c.byteLength);
  return out;
}

function formFields(body: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(body)) {
    if (k !== "__proto__") out[k] = v;
  }
  return out;
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function timingSafeEqualText(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < a.length; i++) {
    diff |= a.charCodeAt(i) ^ (b.charCodeAt(i) || 0);
  }
  return diff === 0;
}

function escapeText(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function text(status: number, message: string): Response {
  return new Response(message, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}
