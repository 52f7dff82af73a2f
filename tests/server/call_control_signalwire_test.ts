// SignalWire call control against a loopback server speaking the LaML
// (Compatibility) REST shape.
import assert from "node:assert/strict";
import {
  buildSignalWireDialCxml,
  CallControlError,
  SignalWireCallControl,
} from "../../src/server/mod.ts";
import {
  basic,
  type FakeReply,
  type RecordedRequest,
  serveFakeRest,
} from "../support/fake_rest.ts";

const PROJECT = "b3877c40-da60-4998-90ad-b792e98472af";
const TOKEN = "PTsignalwire";
const CALL = "76ac3c36-56da-4a3e-a0d6-b5f8df6da9ad";
const CALLS = `/api/laml/2010-04-01/Accounts/${PROJECT}/Calls`;

function route(
  fail?: { status: number; code: number; message: string },
): (r: RecordedRequest) => FakeReply {
  return (r) => {
    if (fail) return { status: fail.status, json: fail };
    if (r.path === `${CALLS}.json`) {
      return { status: 201, json: { sid: CALL, status: "queued" } };
    }
    if (r.path === `${CALLS}/${CALL}.json`) return { json: { sid: CALL } };
    return { status: 404, json: { code: 20404, message: "Not Found" } };
  };
}

async function withSignalWire(
  r: (r: RecordedRequest) => FakeReply,
  fn: (c: SignalWireCallControl, requests: RecordedRequest[]) => Promise<void>,
): Promise<void> {
  const fake = serveFakeRest(r);
  try {
    await fn(
      new SignalWireCallControl({
        projectId: PROJECT,
        token: TOKEN,
        baseUrl: fake.url,
        transferUrl: "https://bot.example.com/telephone/signalwire/transfer",
      }),
      fake.requests,
    );
  } finally {
    await fake.close();
  }
}

Deno.test("signalwire: placeCall posts the Twilio-shaped form to Calls.json", async () => {
  await withSignalWire(route(), async (sw, requests) => {
    const sid = await sw.placeCall({
      to: "+14155550100",
      from: "+14155550199",
      answerUrl: "https://bot.example.com/telephone/signalwire/incoming",
      timeoutSeconds: 20,
    });
    assert.equal(sid, CALL);
    const [r] = requests;
    assert.equal(r.method, "POST");
    assert.equal(r.path, `${CALLS}.json`);
    assert.equal(r.authorization, basic(PROJECT, TOKEN));
    assert.equal(r.contentType, "application/x-www-form-urlencoded");
    assert.deepEqual(r.form, {
      To: "+14155550100",
      From: "+14155550199",
      Url: "https://bot.example.com/telephone/signalwire/incoming",
      Method: "POST",
      Timeout: "20",
    });
  });
});

Deno.test("signalwire: hangUp posts Status=completed; transfer posts Url", async () => {
  await withSignalWire(route(), async (sw, requests) => {
    assert.equal(await sw.hangUp(CALL), true);
    assert.equal(requests[0].path, `${CALLS}/${CALL}.json`);
    assert.deepEqual(requests[0].form, { Status: "completed" });
    await sw.transfer(CALL, { to: "+14155550123" });
    assert.deepEqual(requests[1].form, {
      Url: "https://bot.example.com/telephone/signalwire/transfer" +
        "?to=%2B14155550123",
      Method: "POST",
    });
  });
});

Deno.test("signalwire: the Space host comes from spaceUrl; missing parts name the variables", () => {
  assert.throws(
    () => new SignalWireCallControl({ projectId: "", token: "" }),
    /SIGNALWIRE_PROJECT_ID and SIGNALWIRE_TOKEN/,
  );
  assert.throws(
    () =>
      new SignalWireCallControl({
        projectId: PROJECT,
        token: TOKEN,
        spaceUrl: "",
      }),
    /SIGNALWIRE_SPACE_URL/,
  );
  const sw = new SignalWireCallControl({
    projectId: PROJECT,
    token: TOKEN,
    spaceUrl: "example.signalwire.com",
  });
  assert.equal(sw.carrier, "signalwire");
  assert.equal(
    buildSignalWireDialCxml({ to: "+14155550123", callerId: "+14155550199" }),
    '<?xml version="1.0" encoding="UTF-8"?>\n<Response>' +
      '<Dial callerId="+14155550199"><Number>+14155550123</Number></Dial>' +
      "</Response>",
  );
});

Deno.test("signalwire: 404 means ended; 401 and 500 say what to do", async () => {
  await withSignalWire(
    route({ status: 404, code: 20404, message: "Not Found" }),
    async (sw) => assert.equal(await sw.hangUp(CALL), false),
  );
  await withSignalWire(
    route({ status: 401, code: 20003, message: "Unauthorized" }),
    async (sw) => {
      await assert.rejects(
        () => sw.hangUp(CALL),
        (e: unknown) =>
          e instanceof CallControlError && e.carrier === "signalwire" &&
          e.status === 401 &&
          /SignalWire hangUp failed with HTTP 401/.test(e.message) &&
          /SIGNALWIRE_PROJECT_ID/.test(e.message),
      );
    },
  );
  await withSignalWire(
    route({ status: 503, code: 0, message: "Service Unavailable" }),
    async (sw) => {
      await assert.rejects(
        () => sw.transfer(CALL, { to: "+14155550123" }),
        (e: unknown) =>
          e instanceof CallControlError && e.status === 503 &&
          !e.callEnded && /retry/.test(e.message),
      );
    },
  );
});
