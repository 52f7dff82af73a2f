import assert from "node:assert/strict";
import {
  type AudioChunk,
  type EmitType,
  getCurrentContext,
  ParleyError,
  StreamHandler,
  Warning,
} from "../../mod.ts";
import { startLocalCall } from "../support/local_call.ts";

class Chatty extends StreamHandler {
  seen: string[] = [];
  #sent = false;
  override startUp(): void {
    Warning("warming up");
    this.seen.push(getCurrentContext().callId);
  }
  receive(_f: AudioChunk): void {}
  async emit(): Promise<EmitType> {
    await new Promise((r) => setTimeout(r, 5));
    if (!this.#sent) {
      this.#sent = true;
      throw new ParleyError("LLM key missing: set OPENAI_API_KEY");
    }
    return null;
  }
  copy(): Chatty {
    return new Chatty();
  }
}

Deno.test("context: Warning and ParleyError reach the client in FastRTC's shape; getCurrentContext works in handler code only", async () => {
  assert.throws(() => getCurrentContext(), /No call context found/);
  const err = console.error;
  console.error = () => {};
  try {
    const call = startLocalCall(new Chatty(), { rate: 16000 });
    await new Promise((r) => setTimeout(r, 100));
    await call.end();
    assert.deepEqual(call.messages[0], {
      type: "warning",
      message: "warming up",
    });
    assert.deepEqual(call.messages[1], {
      type: "error",
      message: "ParleyError: LLM key missing: set OPENAI_API_KEY",
    });
    assert.deepEqual((call.handler as Chatty).seen, [call.bus.callId]);
  } finally {
    console.error = err;
  }
});
