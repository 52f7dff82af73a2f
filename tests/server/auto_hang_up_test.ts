// The auto hang-up at call end, CloseStream's hangUp option and the
// runner's onCloseStream hook.
import assert from "node:assert/strict";
import { type AudioChunk, CloseStream, StreamHandler } from "../../mod.ts";
import {
  type CallControl,
  CallControlError,
  createAutoHangUp,
  runHandler,
} from "../../src/server/mod.ts";
import { FrameBus } from "../../src/transports/mod.ts";
import { serveFakeRest } from "../support/fake_rest.ts";

const CALL = "CA" + "c".repeat(32);

function recordingControl(
  answer: () => Promise<boolean>,
): CallControl & { hungUp: string[] } {
  const hungUp: string[] = [];
  return {
    carrier: "twilio",
    hungUp,
    hangUp(id: string) {
      hungUp.push(id);
      return answer();
    },
    transfer: () => Promise.resolve(),
    placeCall: () => Promise.resolve("x"),
  };
}

Deno.test("auto hang-up: skips browser calls, unknown ids and calls the far end ended", async () => {
  const control = recordingControl(() => Promise.resolve(true));
  const autoHangUp = createAutoHangUp({ controls: { twilio: control } });
  assert.deepEqual(await autoHangUp({ carrier: "websocket" }), {
    action: "skipped",
    reason: "not a phone call",
  });
  assert.equal((await autoHangUp({ carrier: "twilio" })).action, "skipped");
  assert.deepEqual(
    await autoHangUp({
      carrier: "twilio",
      carrierCallId: CALL,
      endedByCarrier: true,
    }),
    { action: "skipped", reason: "the far end hung up" },
  );
  assert.deepEqual(control.hungUp, []);
});

Deno.test("auto hang-up: hangs up at call end; reports already-ended and failures without throwing", async () => {
  let answer: () => Promise<boolean> = () => Promise.resolve(true);
  const control = recordingControl(() => answer());
  const autoHangUp = createAutoHangUp({ controls: { twilio: control } });
  assert.equal(
    (await autoHangUp({ carrier: "twilio", carrierCallId: CALL })).action,
    "hung-up",
  );
  answer = () => Promise.resolve(false);
  assert.equal(
    (await autoHangUp({ carrier: "twilio", carrierCallId: CALL })).action,
    "already-ended",
  );
  answer = () =>
    Promise.reject(
      new CallControlError("Twilio hangUp failed with HTTP 500", {
        carrier: "twilio",
        operation: "hangUp",
        status: 500,
      }),
    );
  assert.deepEqual(
    await autoHangUp({ carrier: "twilio", carrierCallId: CALL }),
    { action: "failed", reason: "Twilio hangUp failed with HTTP 500" },
  );
  assert.deepEqual(control.hungUp, [CALL, CALL, CALL]);
});

Deno.test("auto hang-up: when: requested waits for CloseStream({ hangUp: true })", async () => {
  const control = recordingControl(() => Promise.resolve(true));
  const autoHangUp = createAutoHangUp({
    when: "requested",
    controls: { twilio: control },
  });
  assert.equal(
    (await autoHangUp({ carrier: "twilio", carrierCallId: CALL })).action,
    "skipped",
  );
  assert.equal(
    (await autoHangUp({
      carrier: "twilio",
      carrierCallId: CALL,
      hangUpRequested: true,
      // A requested hang-up goes out even if the socket closed first.
      endedByCarrier: true,
    })).action,
    "hung-up",
  );
  assert.deepEqual(control.hungUp, [CALL]);
});

Deno.test("auto hang-up: without credentials it skips and names the variables", async () => {
  const autoHangUp = createAutoHangUp({
    clientOptions: { telnyx: { apiKey: "" } },
  });
  const result = await autoHangUp({
    carrier: "telnyx",
    carrierCallId: "v3:abc",
    hangUpRequested: true,
  });
  assert.equal(result.action, "skipped");
  assert.match(result.reason, /no Telnyx credentials: .*TELNYX_API_KEY/);
});

Deno.test("auto hang-up: from options to a Telnyx hangup request on the wire", async () => {
  const fake = serveFakeRest(() => ({ json: { data: { result: "ok" } } }));
  try {
    const autoHangUp = createAutoHangUp({
      clientOptions: { telnyx: { apiKey: "KEY1", baseUrl: fake.url } },
    });
    const result = await autoHangUp({
      carrier: "telnyx",
      carrierCallId: "v3:abc",
    });
    assert.equal(result.action, "hung-up");
    assert.equal(fake.requests.length, 1);
    assert.equal(fake.requests[0].path, "/v2/calls/v3:abc/actions/hangup");
    assert.equal(fake.requests[0].authorization, "Bearer KEY1");
  } finally {
    await fake.close();
  }
});

Deno.test("CloseStream: hangUp option, object form, default off", () => {
  assert.equal(new CloseStream().hangUp, false);
  assert.equal(new CloseStream().msg, "Stream closed");
  const a = new CloseStream("Goodbye", { hangUp: true });
  assert.equal(a.msg, "Goodbye");
  assert.equal(a.hangUp, true);
  const b = new CloseStream({ msg: "Bye", hangUp: true });
  assert.equal(b.msg, "Bye");
  assert.equal(b.hangUp, true);
  assert.equal(new CloseStream({ hangUp: true }).msg, "Stream closed");
});

class HangUpAtOnce extends StreamHandler {
  #sent = false;
  receive(_frame: AudioChunk): void {}
  emit(): CloseStream | null {
    if (this.#sent) return null;
    this.#sent = true;
    return new CloseStream("Goodbye", { hangUp: true });
  }
  copy(): HangUpAtOnce {
    return new HangUpAtOnce();
  }
}

Deno.test("runner: onCloseStream receives the CloseStream before the call closes", async () => {
  const bus = new FrameBus({
    callId: "x",
    transportInputRate: 8000,
    transportOutputRate: 8000,
    handlerInputRate: 8000,
  });
  const seen: { hangUp: boolean; closedYet: boolean }[] = [];
  await runHandler({
    bus,
    handler: new HangUpAtOnce(),
    transport: "local",
    onCloseStream: (item) =>
      seen.push({ hangUp: item.hangUp, closedYet: bus.closed }),
  });
  assert.deepEqual(seen, [{ hangUp: true, closedYet: false }]);
  assert.match(bus.closeReason ?? "", /handler closed the stream: Goodbye/);
});
