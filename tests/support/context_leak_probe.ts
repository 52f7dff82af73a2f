/**
 * Run in a fresh process by tests/handlers/context_leak_test.ts: a phone
 * call whose handler lazily loads the VAD (onnxruntime-node) and answers
 * once, while an unrelated HTTP server asks `getCurrentContext()` during and
 * after the call. Prints one JSON line: what that server saw.
 */
import {
  type AudioChunk,
  getCurrentContext,
  ReplyOnPause,
  Stream,
} from "../../mod.ts";
import { serveStream } from "./server.ts";
import { readFixture, TwilioTestClient } from "./twilio_client.ts";

const probe = (): string => {
  try {
    return `leaked call ${getCurrentContext().callId}`;
  } catch {
    return "no context";
  }
};
const other = Deno.serve(
  { port: 0, hostname: "127.0.0.1", onListen: () => {} },
  () => new Response(probe()),
);
const ask = async () =>
  await (await fetch(`http://127.0.0.1:${other.addr.port}/`)).text();

let replies = 0;
const handler = new ReplyOnPause(async function* (audio: AudioChunk) {
  replies++;
  yield audio;
}, { inputSampleRate: 16000, outputSampleRate: 16000 });
const server = serveStream(new Stream({ handler, verbose: false }));
const client = await TwilioTestClient.connect(
  `${server.wsUrl}/telephone/handler`,
);
const speech = (await readFixture("turns_8k.ulaw")).subarray(0, 8000 * 2.1);
await client.play(speech, { realtime: true });
await client.play(new Uint8Array(8000).fill(0xff), { realtime: true });
const during = await ask();
await client.close();
await new Promise((r) => setTimeout(r, 100));
const after = await ask();
await server.close();
await other.shutdown();
console.log(JSON.stringify({ replies, during, after }));
