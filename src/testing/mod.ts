/**
 * Test a bot without a phone: carrier-side call clients that play Twilio,
 * Telnyx, Plivo, Vonage, Exotel, SignalWire or a FastRTC WebSocket browser
 * talking to your bot over a real WebSocket, plus a scripted call that
 * measures each turn. Each client is written from the carrier's published
 * protocol (not from Parley's server code): it sends the carrier's start
 * message, caller audio in 20 ms frames, answers marks and checkpoints once
 * the audio before them has played on a phone-like playout clock, honours
 * `clear`, and records every frame, mark, clear and protocol problem.
 *
 * The same machinery is the `call` CLI (`deno task call`, or
 * `deno run -A jsr:@parley/parley/cli`).
 *
 * @example Check that an echo bot answers each of two turns
 * ```ts
 * import {
 *   connectCallClient,
 *   envelopeCorrelation,
 *   runCallScript,
 * } from "@parley/parley/testing";
 *
 * export async function checkEcho(url: string, clip: Int16Array): Promise<void> {
 *   const call = await connectCallClient(url, { carrier: "twilio" });
 *   const report = await runCallScript(call, { clip, turns: 2, gapMs: 3000 });
 *   if (report.problems.length > 0) throw new Error(report.problems[0].message);
 *   for (const turn of report.turns) {
 *     if (turn.latencyMs === null) throw new Error(`turn ${turn.turn}: no reply`);
 *   }
 *   const heard = { rate: call.outputRate, samples: call.timeline() };
 *   const { correlation } = envelopeCorrelation({ rate: call.inputRate, samples: clip }, heard);
 *   if (correlation < 0.8) throw new Error(`the reply does not echo the clip (r = ${correlation})`);
 * }
 * ```
 *
 * @module
 */

export * from "./call_client.ts";
export * from "./call_script.ts";
export * from "./connect.ts";
export * from "./exotel.ts";
export * from "./plivo.ts";
export * from "./signalwire.ts";
export * from "./telnyx.ts";
export * from "./twilio.ts";
export * from "./vonage.ts";
export * from "./websocket.ts";
