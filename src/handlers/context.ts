/**
 * The per-call context a handler can read from anywhere in its async code:
 * `getCurrentContext()` returns the call id, the transport, Twilio ids for
 * phone calls, and an `AbortSignal` that ends with the reply or the call.
 *
 * @module
 */

import type { AsyncLocalStorage } from "node:async_hooks";
import { callStorage } from "../_internal/call_scope.ts";
import type { ClientMessage } from "../bus/frame_bus.ts";

/**
 * Which transport carries a call. The carriers (`twilio`, `telnyx`, `plivo`,
 * `vonage`, `exotel`, `signalwire`) are phone calls: `phoneMode` is true.
 */
export type TransportKind =
  | "twilio"
  | "telnyx"
  | "plivo"
  | "vonage"
  | "exotel"
  | "signalwire"
  | "websocket"
  | "webrtc"
  | "local";

/** What a handler knows about the call it serves. */
export interface CallContext {
  /** The call's id: Twilio `streamSid`, the websocket id or the WebRTC id. */
  readonly callId: string;
  /** FastRTC's name for {@linkcode CallContext.callId}. */
  readonly webrtcId: string;
  /** The transport. */
  readonly transport: TransportKind;
  /** True for phone calls (Twilio and the other carriers). */
  readonly phoneMode: boolean;
  /**
   * Aborts when the current reply is cut (barge-in), the call ends or its
   * time limit passes. Pass it to `fetch` so LLM/TTS requests stop too.
   */
  readonly signal: AbortSignal;
  /** Twilio: the Media Stream's sid. */
  readonly streamSid?: string;
  /** Twilio: the call's sid. */
  readonly callSid?: string;
  /** Twilio: the account's sid. */
  readonly accountSid?: string;
  /** Twilio: `<Parameter>` values from the TwiML. */
  readonly customParameters?: Readonly<Record<string, string>>;
  /** Sends a message to the client (data channel or websocket text frame). */
  readonly send: (message: ClientMessage) => void;
}

// The store lives in _internal so that layers below this one can read the
// reply's signal (speech's HTTP clients) without importing handlers.
const storage = callStorage as AsyncLocalStorage<CallContext>;

/**
 * Returns the context of the call whose handler code is running.
 * Throws outside a handler (FastRTC raises "No context found" there too).
 *
 * @example
 * ```ts
 * import { getCurrentContext } from "@parley/parley";
 * async function* reply() {
 *   const { callId, signal } = getCurrentContext();
 *   const r = await fetch("https://example.com/llm", { signal });
 *   console.log(callId, r.status);
 * }
 * ```
 *
 * @returns The context.
 */
export function getCurrentContext(): CallContext {
  const ctx = storage.getStore();
  if (!ctx) {
    throw new Error(
      "No call context found: getCurrentContext() works only inside handler " +
        "code (receive, emit, startUp, shutdown or a ReplyOnPause function) " +
        "while a call is running",
    );
  }
  return ctx;
}

/**
 * Runs `fn` with `context` as the current call context.
 *
 * @example
 * ```ts
 * import { getCurrentContext } from "@parley/parley";
 * import { runWithContext } from "./context.ts";
 * const ctx = {
 *   callId: "a", webrtcId: "a", transport: "local" as const, phoneMode: false,
 *   signal: new AbortController().signal, send: () => {},
 * };
 * runWithContext(ctx, () => console.log(getCurrentContext().callId)); // "a"
 * ```
 *
 * @param context The context.
 * @param fn The code to run.
 * @returns What `fn` returns.
 */
export function runWithContext<T>(context: CallContext, fn: () => T): T {
  return storage.run(context, fn);
}

/**
 * Sends a warning to the current call's client as
 * `{"type":"warning","message": message}` (FastRTC's `Warning`).
 *
 * @example
 * ```ts
 * import { Warning } from "@parley/parley";
 * async function* reply() {
 *   Warning("The model is warming up, the first answer may be slow");
 * }
 * ```
 *
 * @param message The text (default "Warning issued.").
 */
export function Warning(message = "Warning issued."): void {
  getCurrentContext().send({ type: "warning", message });
}

/**
 * An error that reaches the client as `{"type":"error","message": …}` when a
 * handler throws it (FastRTC's `WebRTCError`). Any other error thrown by a
 * handler reaches the client the same way, with its message.
 *
 * @example
 * ```ts
 * import { ParleyError } from "@parley/parley";
 * async function* reply() {
 *   throw new ParleyError("The LLM endpoint is not configured: set OPENAI_API_KEY");
 * }
 * ```
 */
export class ParleyError extends Error {
  /**
   * Makes the error.
   *
   * @param message What went wrong and what to do.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ParleyError";
  }
}
