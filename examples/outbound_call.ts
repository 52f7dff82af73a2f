/**
 * Outbound calls, the seed's flow: `POST /call` with `{"to": "+1…"}` rings
 * that number from your Twilio number; when it answers, Twilio fetches the
 * bot's own `POST /telephone/incoming`, whose TwiML connects the call to the
 * echo bot's `/telephone/handler` socket. The routes are composed with Hono:
 * `/call` is the app's, everything else is `stream.mount(app)`.
 *
 * ```sh
 * TWILIO_ACCOUNT_SID=AC… TWILIO_AUTH_TOKEN=… TWILIO_PHONE_NUMBER=+1… \
 *   PUBLIC_URL=https://bot.example.com CALL_API_TOKEN=secret \
 *   deno run -A examples/outbound_call.ts
 * curl -X POST https://bot.example.com/call -H 'authorization: Bearer secret' \
 *   -H 'content-type: application/json' -d '{"to": "+14155550100"}'
 * ```
 *
 * `POST /call` spends your money on any number it is given, so it needs a
 * bearer token: `CALL_API_TOKEN`, or a random one printed at start-up.
 *
 * @module
 */
import { Hono } from "npm:hono@4.13.19";
import { type AudioChunk, placeCall, ReplyOnPause, Stream } from "../mod.ts";
import {
  type CallControl,
  CallControlError,
  createCallControl,
  publicUrl,
} from "../src/server/mod.ts";

/** Options of {@linkcode createOutboundApp}. */
export interface OutboundAppOptions {
  /** The bot; its routes are mounted next to `/call`. */
  stream: Stream;
  /** The carrier client (default: Twilio from the environment). */
  control?: CallControl;
  /** Your number on that carrier, the caller id. */
  from: string;
  /** The bearer token `POST /call` requires. */
  apiToken: string;
  /** The bot's public base URL (default: the request's, proxy-aware). */
  publicUrl?: string;
}

/**
 * Builds the app: `POST /call` plus the stream's routes.
 *
 * @param options Stream, carrier client, caller id, token.
 * @returns The Hono app (`app.fetch` serves it).
 */
export function createOutboundApp(options: OutboundAppOptions): Hono {
  const control = options.control ?? createCallControl("twilio");
  const app = new Hono();
  app.post("/call", async (c) => {
    if (c.req.header("authorization") !== `Bearer ${options.apiToken}`) {
      return c.json({ error: "send Authorization: Bearer <token>" }, 401);
    }
    let to: unknown;
    try {
      to = (await c.req.json())?.to;
    } catch {
      to = undefined;
    }
    if (typeof to !== "string") {
      return c.json({ error: 'POST JSON {"to": "+14155550100"}' }, 400);
    }
    // The carrier fetches the answer document from this same server:
    // Twilio at FastRTC's /telephone/incoming, the others at
    // /telephone/<carrier>/incoming.
    const answerUrl = publicUrl(c.req.raw, options.publicUrl);
    answerUrl.pathname = answerUrl.pathname.replace(
      /\/call\/?$/,
      control.carrier === "twilio"
        ? "/telephone/incoming"
        : `/telephone/${control.carrier}/incoming`,
    );
    answerUrl.search = "";
    try {
      const callId = await placeCall({
        carrier: control.carrier,
        control,
        to,
        from: options.from,
        answerUrl: answerUrl.href,
      });
      return c.json({ callId, answerUrl: answerUrl.href });
    } catch (e) {
      if (e instanceof TypeError) return c.json({ error: e.message }, 400);
      if (e instanceof CallControlError) {
        return c.json({ error: e.message }, 502);
      }
      throw e;
    }
  });
  options.stream.mount(app);
  return app;
}

if (import.meta.main) {
  const from = Deno.env.get("TWILIO_PHONE_NUMBER");
  if (!from) {
    throw new Error("Set TWILIO_PHONE_NUMBER to your Twilio number (+1…)");
  }
  let apiToken = Deno.env.get("CALL_API_TOKEN");
  if (!apiToken) {
    apiToken = crypto.randomUUID();
    console.log(`POST /call needs: Authorization: Bearer ${apiToken}`);
  }
  const stream = new Stream({
    handler: new ReplyOnPause(async function* (audio: AudioChunk) {
      yield audio;
    }, { inputSampleRate: 8000, outputSampleRate: 8000 }),
    twilio: { say: "Hello from the Parley echo bot." },
  });
  const app = createOutboundApp({
    stream,
    from,
    apiToken,
    publicUrl: Deno.env.get("PUBLIC_URL"),
  });
  Deno.serve({ port: Number(Deno.env.get("PORT") ?? 8000) }, app.fetch);
}
