// Telnyx call control against a loopback server speaking the v2 REST shape.
import assert from "node:assert/strict";
import { CallControlError, TelnyxCallControl } from "../../src/server/mod.ts";
import {
  type FakeReply,
  type RecordedRequest,
  serveFakeRest,
} from "../support/fake_rest.ts";

const KEY = "KEY0123456789ABCDEF";
const CONNECTION = "1494404757140276705";
const CALL = "v3:MdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2axZ_IiE4pqg";
// The colon stays as it is, as Telnyx's own SDK sends it.
const CALL_PATH = `/v2/calls/${CALL}`;

function telnyxRoute(
  fail?: { status: number; code: string; title: string; detail?: string },
): (r: RecordedRequest) => FakeReply {
  return (r) => {
    if (fail) return { status: fail.status, json: { errors: [fail] } };
    if (r.path === `/v2/texml/calls/${CONNECTION}`) {
      return {
        json: { call_sid: CALL, from: "+1", to: "+2", status: "queued" },
      };
    }
    if (r.path === "/v2/calls") {
      return {
        json: {
          data: {
            call_control_id: CALL,
            call_leg_id: "leg",
            record_type: "call",
          },
        },
      };
    }
    if (r.path.startsWith(`${CALL_PATH}/actions/`)) {
      return { json: { data: { result: "ok" } } };
    }
    return { status: 404, json: { errors: [{ code: "10005", title: "no" }] } };
  };
}

async function withTelnyx(
  route: (r: RecordedRequest) => FakeReply,
  fn: (c: TelnyxCallControl, requests: RecordedRequest[]) => Promise<void>,
): Promise<void> {
  const fake = serveFakeRest(route);
  try {
    await fn(
      new TelnyxCallControl({
        apiKey: KEY,
        connectionId: CONNECTION,
        baseUrl: fake.url,
      }),
      fake.requests,
    );
  } finally {
    await fake.close();
  }
}

Deno.test("telnyx: hangUp posts to actions/hangup with the bearer key", async () => {
  await withTelnyx(telnyxRoute(), async (telnyx, requests) => {
    assert.equal(await telnyx.hangUp(CALL), true);
    assert.equal(requests.length, 1);
    const [r] = requests;
    assert.equal(r.method, "POST");
    assert.equal(r.path, `${CALL_PATH}/actions/hangup`);
    assert.equal(r.authorization, `Bearer ${KEY}`);
    assert.equal(r.contentType, "application/json");
    assert.deepEqual(r.json, {});
  });
});

Deno.test("telnyx: transfer posts {to, from} to actions/transfer", async () => {
  await withTelnyx(telnyxRoute(), async (telnyx, requests) => {
    await telnyx.transfer(CALL, {
      to: "+14155550123",
      callerId: "+14155550199",
    });
    assert.equal(requests[0].path, `${CALL_PATH}/actions/transfer`);
    assert.deepEqual(requests[0].json, {
      to: "+14155550123",
      from: "+14155550199",
    });
    await assert.rejects(
      () => telnyx.transfer(CALL, { to: "+1", url: "https://x.example/" }),
      /Telnyx transfers to a number/,
    );
    assert.equal(requests.length, 1);
  });
});

Deno.test("telnyx: placeCall uses TeXML for answerUrl and a streaming dial for streamUrl", async () => {
  await withTelnyx(telnyxRoute(), async (telnyx, requests) => {
    const a = await telnyx.placeCall({
      to: "+14155550100",
      from: "+14155550199",
      answerUrl: "https://bot.example.com/telephone/telnyx/incoming",
    });
    assert.equal(a, CALL);
    assert.equal(requests[0].method, "POST");
    assert.equal(requests[0].path, `/v2/texml/calls/${CONNECTION}`);
    assert.deepEqual(requests[0].json, {
      To: "+14155550100",
      From: "+14155550199",
      Url: "https://bot.example.com/telephone/telnyx/incoming",
      Method: "POST",
    });
    await assert.rejects(
      () =>
        telnyx.placeCall({
          to: "+14155550100",
          from: "+14155550199",
          answerUrl: "https://bot.example.com/telephone/telnyx/incoming",
          timeoutSeconds: 30,
        }),
      /TeXML application/,
    );
    assert.equal(requests.length, 1);
    const b = await telnyx.placeCall({
      to: "+14155550100",
      from: "+14155550199",
      streamUrl: "wss://bot.example.com/telephone/telnyx/handler",
      timeoutSeconds: 30,
    });
    assert.equal(b, CALL);
    assert.equal(requests[1].path, "/v2/calls");
    assert.deepEqual(requests[1].json, {
      connection_id: CONNECTION,
      to: "+14155550100",
      from: "+14155550199",
      stream_url: "wss://bot.example.com/telephone/telnyx/handler",
      stream_track: "inbound_track",
      stream_bidirectional_mode: "rtp",
      stream_bidirectional_codec: "PCMU",
      timeout_secs: 30,
    });
  });
});

Deno.test("telnyx: 90018 and 404 mean the call ended; 401 and 500 say what to do", async () => {
  await withTelnyx(
    telnyxRoute({
      status: 422,
      code: "90018",
      title: "Call has already ended",
      detail: "This call is no longer active and can't receive commands.",
    }),
    async (telnyx) => {
      assert.equal(await telnyx.hangUp(CALL), false);
      await assert.rejects(
        () => telnyx.transfer(CALL, { to: "+14155550123" }),
        (e: unknown) =>
          e instanceof CallControlError && e.callEnded && e.status === 422 &&
          e.code === "90018" && /no longer active/.test(e.message),
      );
    },
  );
  await withTelnyx(
    telnyxRoute({ status: 404, code: "10005", title: "Resource not found" }),
    async (telnyx) => assert.equal(await telnyx.hangUp(CALL), false),
  );
  await withTelnyx(
    telnyxRoute({ status: 401, code: "10009", title: "Authentication failed" }),
    async (telnyx) => {
      await assert.rejects(
        () => telnyx.hangUp(CALL),
        (e: unknown) =>
          e instanceof CallControlError && e.status === 401 && !e.callEnded &&
          /Telnyx hangUp failed with HTTP 401/.test(e.message) &&
          /TELNYX_API_KEY/.test(e.message),
      );
    },
  );
  await withTelnyx(
    telnyxRoute({ status: 500, code: "10007", title: "Unexpected error" }),
    async (telnyx) => {
      await assert.rejects(
        () =>
          telnyx.placeCall({
            to: "+14155550100",
            from: "+14155550199",
            answerUrl: "https://bot.example.com/telephone/telnyx/incoming",
          }),
        (e: unknown) =>
          e instanceof CallControlError && e.status === 500 &&
          /HTTP 500 \(code 10007\): Unexpected error/.test(e.message) &&
          /retry/.test(e.message),
      );
    },
  );
});

Deno.test("telnyx: missing key or connection id is a TypeError naming the variable", async () => {
  assert.throws(() => new TelnyxCallControl({ apiKey: "" }), /TELNYX_API_KEY/);
  const telnyx = new TelnyxCallControl({ apiKey: KEY, connectionId: "" });
  await assert.rejects(
    () =>
      telnyx.placeCall({
        to: "+14155550100",
        from: "+14155550199",
        answerUrl: "https://bot.example.com/telephone/telnyx/incoming",
      }),
    /TELNYX_CONNECTION_ID/,
  );
});

Deno.test("telnyx: a stalled API times out, a dead one cannot be reached, abort is the caller's", async () => {
  const stalled = serveFakeRest(async () => {
    await new Promise((r) => setTimeout(r, 400));
    return { json: {} };
  });
  try {
    const telnyx = new TelnyxCallControl({
      apiKey: KEY,
      baseUrl: stalled.url,
      timeoutMs: 50,
    });
    await assert.rejects(
      () => telnyx.hangUp(CALL),
      (e: unknown) =>
        e instanceof CallControlError && e.status === undefined &&
        /Telnyx hangUp: http:\/\/127\.0\.0\.1:\d+ gave no answer within 50 ms; retry, or raise timeoutMs/
          .test(e.message),
    );
    const ac = new AbortController();
    const pending = new TelnyxCallControl({ apiKey: KEY, baseUrl: stalled.url })
      .hangUp(CALL, { signal: ac.signal });
    ac.abort();
    await assert.rejects(
      pending,
      (e: unknown) => !(e instanceof CallControlError),
    );
    assert.throws(
      () => new TelnyxCallControl({ apiKey: KEY, timeoutMs: 0 }),
      /timeoutMs must be a positive number/,
    );
  } finally {
    await new Promise((r) => setTimeout(r, 450));
    await stalled.close();
  }
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  await assert.rejects(
    () =>
      new TelnyxCallControl({
        apiKey: KEY,
        baseUrl: `http://127.0.0.1:${port}`,
      })
        .hangUp(CALL),
    (e: unknown) =>
      e instanceof CallControlError &&
      /Telnyx hangUp: cannot reach http:\/\/127\.0\.0\.1:\d+ .*--allow-net/
        .test(
          e.message,
        ),
  );
});
