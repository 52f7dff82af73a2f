/**
 * The built-in page served at `/` (or at a mount prefix, with or without a
 * trailing slash) and the reusable browser client served at `/client.js`.
 *
 * The page: a mic button, WebRTC or WebSocket transport, a microphone
 * picker (switches mid-call too), rolling level views of both sides, the
 * connection state, and two logs announced to screen readers:
 *
 * - the conversation: the call's `AdditionalOutputs`, read from
 *   `GET /outputs?webrtc_id=ID` (FastRTC's chatbot pattern). An argument that
 *   is a list of `{role, content}` messages (OpenAI style, the whole history
 *   each turn) is shown as chat bubbles, a single message is appended, a
 *   plain string is a transcript line; other values are not shown. Per-turn
 *   latency ("answered in N ms") comes from the `turn_metrics` log message
 *   (`{"type":"log","data":"turn_metrics","metrics":{turn, latencyMs, …}}`).
 * - events: `started_talking`, `pause_detected`, `response_starting`,
 *   interruptions, errors, and an entry when the call ends.
 *
 * The page finds `client.js` and the call routes from its own URL, so it works
 * under `stream.mount(app, "/voice")` at `/voice` as well as `/voice/`. If its
 * script cannot load or throws, it says so instead of showing a dead button.
 * No framework, no external requests (the favicon is inline); sources are in
 * `src/server/ui/` (edit them, then run `src/server/ui/build.ts`).
 *
 * The client module works in any page:
 *
 * ```js ignore
 * import { ParleyClient } from "https://your-bot.example/client.js";
 * const client = new ParleyClient({ transport: "webrtc", baseUrl: "https://your-bot.example" });
 * client.addEventListener("log", (e) => console.log(e.detail)); // "pause_detected", …
 * await client.start(); // asks for the microphone, connects, plays replies
 * client.stop();
 * ```
 *
 * @module
 */

import { CLIENT_JS, PAGE_CSS, PAGE_HTML, PAGE_JS } from "./ui/assets.ts";

/** Options of {@linkcode renderIndexPage}. */
export interface IndexPageOptions {
  /** Page title (default "Parley"). */
  title?: string;
  /** Line under the title. */
  subtitle?: string;
  /** Whether WebRTC is offered (default false: WebSocket only). */
  webrtc?: boolean;
  /** Rate of the audio the server sends over WebSocket (the handler's `outputSampleRate`, default 24000). */
  outputSampleRate?: number;
  /** ICE configuration for the browser's `RTCPeerConnection` (e.g. TURN). */
  rtcConfiguration?: object;
  /**
   * URL path under which `client.js`, `/outputs` and the call routes are
   * served, e.g. `"/voice"`. Default: the page's own path without a trailing
   * `/` or `/index.html` — right for `Stream`, which serves the page at `/`,
   * at its mount prefix and at `…/index.html`. Set it when you serve the page
   * yourself at another path (say `/help/voice.html`).
   */
  basePath?: string;
}

/**
 * Renders the built-in page.
 *
 * @example
 * ```ts
 * import { renderIndexPage } from "@parley/parley/server";
 * const html = renderIndexPage({ title: "Echo bot", webrtc: true });
 * ```
 *
 * @param options Title, subtitle, transports.
 * @returns HTML.
 */
export function renderIndexPage(options: IndexPageOptions = {}): string {
  const webrtc = Boolean(options.webrtc);
  const config = {
    webrtc,
    outputSampleRate: options.outputSampleRate ?? 24000,
    rtcConfiguration: options.rtcConfiguration,
    basePath: options.basePath?.replace(/\/+$/, ""),
  };
  const values: Record<string, string> = {
    title: escapeHtml(options.title ?? "Parley"),
    subtitle: escapeHtml(
      options.subtitle ?? "Press the button, talk, then pause",
    ),
    css: PAGE_CSS,
    script: PAGE_JS,
    config: escapeHtml(JSON.stringify(config)),
    webrtcAttrs: webrtc ? " checked" : " disabled",
    websocketAttrs: webrtc ? "" : " checked",
  };
  // One pass: inserted text is never scanned for placeholders again.
  return PAGE_HTML.replace(
    /\{\{\s*(\w+)\s*\}\}|\/\*(css|script)\*\//g,
    (m, key?: string, block?: string) => values[key ?? block ?? ""] ?? m,
  );
}

/**
 * The browser client module (JavaScript) that `Stream` serves at
 * `/client.js`: `ParleyClient` (an `EventTarget` with `start()`, `stop()`,
 * `setInputDevice(deviceId)`, `inputLevel`, `outputLevel`, `closeReason` and
 * `state`/`log`/`message`/`interrupt`/`error`/`warning` events) and
 * `connect(options)`.
 *
 * @example Serve it from your own app
 * ```ts
 * import { parleyClientScript } from "@parley/parley/server";
 * Deno.serve(() =>
 *   new Response(parleyClientScript(), {
 *     headers: { "content-type": "text/javascript; charset=utf-8" },
 *   })
 * );
 * ```
 *
 * @returns The module source.
 */
export function parleyClientScript(): string {
  return CLIENT_JS;
}

/**
 * Escapes text for HTML.
 *
 * @example
 * ```ts
 * import { escapeHtml } from "./ui.ts";
 * escapeHtml("<b>"); // "&lt;b&gt;"
 * ```
 *
 * @param text Any text.
 * @returns Escaped text.
 */
export function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) =>
      ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[
        c
      ]!,
  );
}
