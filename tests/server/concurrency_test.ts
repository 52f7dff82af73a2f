import assert from "node:assert/strict";
import {
  type AudioChunk,
  getCurrentContext,
  ReplyOnPause,
  Stream,
} from "../../mod.ts";
import { serveStream } from "../support/server.ts";
import { readFixture, TwilioTestClient } from "../support/twilio_client.ts";

Deno.test("concurrency: 8 simultaneous phone calls each get every turn answered, with their own audio", async () => {
  const CALLS = 8;
  const perCall = new Map<string, number[]>();
  const handler = new ReplyOnPause(async function* (audio: AudioChunk) {
    const { callId } = getCurrentContext();
    const list = perCall.get(callId) ?? [];
    list.push(audio[1].length / audio[0]);
    perCall.set(callId, list);
    yield audio;
  }, { inputSampleRate: 8000, outputSampleRate: 8000 });
  const stream = new Stream({ handler, verbose: false });
  const server = serveStream(stream);
  try {
    const speech = await readFixture("turns_8k.ulaw");
    const audio = new Uint8Array(speech.length + 8000 * 1.5).fill(0xff);
    audio.set(speech);
    const clients = await Promise.all(
      Array.from(
        { length: CALLS },
        () => TwilioTestClient.connect(`${server.wsUrl}/telephone/handler`),
      ),
    );
    // Staggered starts, as real calls arrive.
    await Promise.all(clients.map(async (c, i) => {
      await new Promise((r) => setTimeout(r, i * 37));
      await c.play(audio, { realtime: true });
    }));
    for (const c of clients) {
      const turns = perCall.get(c.streamSid) ?? [];
      assert.equal(turns.length, 2, `call ${c.streamSid}: turns ${turns}`);
      assert.ok(
        c.media.length > 100,
        `call ${c.streamSid} got ${c.media.length} frames back`,
      );
      assert.ok(c.messages.every((m) => m.streamSid === c.streamSid));
    }
    await Promise.all(clients.map((c) => c.close()));
  } finally {
    await server.close();
  }
});
