// GET /metrics (opt-in) in Prometheus text format, fed by real calls.
import assert from "node:assert/strict";
import { type AudioChunk, Stream, StreamHandler } from "../../mod.ts";
import { serveStream, until } from "../support/server.ts";
import { TwilioTestClient } from "../support/twilio_client.ts";

/** Reports two turns the way ReplyOnPause does, then stays on the line. */
class Reporter extends StreamHandler {
  #sent = false;
  constructor() {
    super({ inputSampleRate: 8000, outputSampleRate: 8000 });
  }
  receive(_frame: AudioChunk): void {
    if (this.#sent) return;
    this.#sent = true;
    for (const [turn, latencyMs, merged] of [[1, 450, 0], [2, 900, 2]]) {
      this.sendMessage({
        type: "log",
        data: "turn_metrics",
        metrics: {
          turn,
          vad: "v5",
          speechStartMs: 0,
          speechEndMs: 1000,
          decisionMs: 1400,
          firstReplyMs: 1000 + latencyMs,
          latencyMs,
          interrupted: false,
          merged,
        },
      });
    }
  }
  emit(): null {
    return null;
  }
  copy(): Reporter {
    return new Reporter();
  }
}

Deno.test("metrics: /metrics counts calls, refusals and turn latency; off by default", async () => {
  const turns: [string, number | null][] = [];
  const stream = new Stream({
    handler: new Reporter(),
    metrics: true,
    onTurn: (id, m) => turns.push([id, m.latencyMs]),
    concurrencyLimit: 1,
    verbose: false,
  });
  const server = serveStream(stream);
  try {
    const a = await TwilioTestClient.connect(
      `${server.wsUrl}/telephone/handler`,
    );
    a.sendMulaw(new Uint8Array(160).fill(0x7f));
    await until(() => stream.activeCalls === 1);
    const refused = await TwilioTestClient.connect(
      `${server.wsUrl}/telephone/handler`,
    );
    await until(() => refused.closeCode !== 0, 5000, "refusal");
    let text = "";
    await until(() => false, 1).catch(() => {});
    const deadline = Date.now() + 5000;
    while (!text.includes("parley_turns_total 2") && Date.now() < deadline) {
      text = await (await fetch(`${server.url}/metrics`)).text();
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.match(text, /^parley_live_calls 1$/m);
    assert.match(text, /^parley_calls_total\{transport="twilio"\} 1$/m);
    assert.match(
      text,
      /^parley_calls_refused_total\{reason="concurrency_limit_reached"\} 1$/m,
    );
    assert.match(text, /^parley_turns_total 2$/m);
    assert.match(text, /^parley_turn_latency_seconds_bucket\{le="0\.5"\} 1$/m);
    assert.match(text, /^parley_turn_latency_seconds_bucket\{le="1"\} 2$/m);
    assert.match(text, /^parley_turn_latency_seconds_count 2$/m);
    assert.match(text, /^parley_turn_latency_seconds_sum 1\.35$/m);
    assert.match(text, /^parley_turns_merged_total 2$/m);
    assert.match(text, /^# TYPE parley_turn_latency_seconds histogram$/m);
    assert.deepEqual(turns, [[a.streamSid, 450], [a.streamSid, 900]]);
    await a.close();
  } finally {
    await server.close();
  }
  const off = new Stream({ handler: new Reporter(), verbose: false });
  const res = await off.fetch(new Request("http://x/metrics"));
  assert.equal(res.status, 404);
  await res.body?.cancel();
});
