// Stream wires auto hang-up: CloseStream({hangUp}) ends the phone call over
// the carrier REST API (a loopback fake that records requests); a caller who
// hung up (Twilio stop) gets no REST call.
import assert from "node:assert/strict";
import {
  type AudioChunk,
  CloseStream,
  Stream,
  StreamHandler,
} from "../../mod.ts";
import { TwilioCallControl } from "../../src/server/mod.ts";
import { serveFakeRest } from "../support/fake_rest.ts";
import { serveStream, until } from "../support/server.ts";
import { TwilioTestClient } from "../support/twilio_client.ts";

class Bye extends StreamHandler {
  #done = false;
  constructor() {
    super({ inputSampleRate: 8000, outputSampleRate: 8000 });
  }
  receive(_f: AudioChunk) {}
  emit() {
    if (this.#done) return null;
    this.#done = true;
    return new CloseStream("bye", { hangUp: true });
  }
  copy() {
    return new Bye();
  }
}
class Quiet extends StreamHandler {
  constructor() {
    super({ inputSampleRate: 8000, outputSampleRate: 8000 });
  }
  receive(_f: AudioChunk) {}
  emit() {
    return null;
  }
  copy() {
    return new Quiet();
  }
}
const SID = "AC" + "a".repeat(32);
for (
  const [name, handler, expect] of [["closestream", new Bye(), 1], [
    "caller stop",
    new Quiet(),
    0,
  ]] as const
) {
  Deno.test(`stream auto hang-up: ${name}`, async () => {
    const fake = serveFakeRest((r) => ({ json: { sid: r.path } }));
    const stream = new Stream({
      handler,
      verbose: false,
      twilio: { authToken: undefined },
      autoHangUp: {
        controls: {
          twilio: new TwilioCallControl({
            accountSid: SID,
            authToken: "t",
            baseUrl: fake.url,
          }),
        },
      },
    });
    const server = serveStream(stream);
    try {
      const client = await TwilioTestClient.connect(
        `${server.wsUrl}/telephone/handler`,
        { callSid: "CA" + "9".repeat(32) },
      );
      if (expect === 0) {
        await until(() => stream.activeCalls === 1);
        client.send({ event: "stop", streamSid: client.streamSid });
      }
      await until(() => stream.activeCalls === 0, 5000, "call end");
      if (expect) {
        await until(() => fake.requests.length === 1, 5000, "hang-up");
      } else await new Promise((r) => setTimeout(r, 800));
      assert.equal(fake.requests.length, expect);
      if (expect) {
        assert.equal(
          fake.requests[0].path,
          `/2010-04-01/Accounts/${SID}/Calls/CA${"9".repeat(32)}.json`,
        );
        assert.deepEqual(fake.requests[0].form, { Status: "completed" });
      }
      await client.close();
    } finally {
      await server.close();
      await fake.close();
    }
  });
}
