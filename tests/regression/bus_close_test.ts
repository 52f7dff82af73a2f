import assert from "node:assert/strict";
import { FrameBus } from "../../src/transports/mod.ts";
Deno.test("FrameBus: a close listener that calls close() again sees one close event", () => {
  const bus = new FrameBus({
    callId: "r",
    transportInputRate: 8000,
    transportOutputRate: 8000,
    handlerInputRate: 8000,
  });
  const seen: string[] = [];
  bus.on("close", (e) => {
    seen.push(e.reason);
    bus.close("inner");
  });
  bus.close("outer");
  assert.deepEqual(seen, ["outer"]);
  assert.equal(bus.closeReason, "outer");
});
