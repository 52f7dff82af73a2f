import assert from "node:assert/strict";
import {
  type AudioChunk,
  CloseStream,
  type EmitType,
  StreamHandler,
} from "../../mod.ts";
import { FrameBus } from "../../src/transports/mod.ts";
import { pumpOutput } from "../../src/transports/output_pump.ts";
import { runHandler } from "../../src/server/mod.ts";

class H extends StreamHandler {
  n = 0;
  constructor() {
    super({ inputSampleRate: 8000, outputSampleRate: 8000 });
  }
  receive(_f: AudioChunk) {}
  emit(): EmitType {
    this.n++;
    if (this.n <= 10) return [8000, new Int16Array(160).fill(500)];
    if (this.n === 11) return new CloseStream("bye");
    return null;
  }
  copy() {
    return new H();
  }
}

Deno.test("CloseStream: every frame before it is sent before the call closes", async () => {
  const bus = new FrameBus({
    callId: "e",
    transportInputRate: 8000,
    transportOutputRate: 8000,
    handlerInputRate: 8000,
  });
  let sent = 0;
  const pump = pumpOutput({ bus, sendAudio: () => sent++ });
  await runHandler({ bus, handler: new H(), transport: "local" });
  await pump;
  assert.equal(sent, 10);
});
