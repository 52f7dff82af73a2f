// Plivo call control against a loopback server speaking the v1 REST shape.
import assert from "node:assert/strict";
import {
  buildPlivoDialXml,
  CallControlError,
  PlivoCallControl,
} from "../../src/server/mod.ts";
import {
  basic,
  type FakeReply,
  type RecordedRequest,
  serveFakeRest,
} from "../support/fake_rest.ts";

const AUTH_ID = "MAXXXXXXXXXXXXXXXXXX";
const TOKEN = "plivo-token";
const CALL = "1ed7fd89-df77-4ebf-8196-d5cf7222c918";
const ACCOUNT = `/v1/Account/${AUTH_ID}`;

function plivoRoute(
  fail?: { status: number; error: string },
): (r: RecordedRequest) => FakeReply {
  return (r) => {
    if (fail) {
      return { status: fail.status, json: { api_id: "x", error: fail.error } };
    }
    if (r.method === "POST" && r.path === `${ACCOUNT}/Call/`) {
      return {
        status: 201,
        json: {
          api_id: "97ceeb52-58b6-11e1-86da-77300b68f8bb",
          message: "call fired",
          request_uuid: "75cfa7b8-a1e1-4b3b-b7e0-9bcb0f9c8d2a",
        },
      };
    }
    if (r.method === "DELETE" && r.path === `${ACCOUNT}/Call/${CALL}/`) {
      return { status: 204 };
    }
    if (r.method === "POST" && r.path === `${ACCOUNT}/Call/${CALL}/`) {
      return {
        status: 202,
        json: { message: "call transferred", api_id: "08c9" },
      };
    }
    return { status: 404, json: { api_id: "x", error: "not found" } };
  };
}

async function withPlivo(
  route: (r: RecordedRequest) => FakeReply,
  fn: (c: PlivoCallControl, requests: RecordedRequest[]) => Promise<void>,
): Promise<void> {
  const fake = serveFakeRest(route);
  try {
    await fn(
      new PlivoCallControl({
        authId: AUTH_ID,
        authToken: TOKEN,
        baseUrl: fake.url,
        transferUrl: "https://bot.example.com/telephone/plivo/transfer",
      }),
      fake.requests,
    );
  } finally {
    await fake.close();
  }
}

Deno.test("plivo: placeCall posts from, to (no +), answer_url, answer_method", async () => {
  await withPlivo(plivoRoute(), async (plivo, requests) => {
    const id = await plivo.placeCall({
      to: "+14155550100",
      from: "+14155550199",
      answerUrl: "https://bot.example.com/telephone/plivo/incoming",
      statusCallbackUrl: "https://bot.example.com/hangup",
    });
    assert.equal(id, "75cfa7b8-a1e1-4b3b-b7e0-9bcb0f9c8d2a");
    const [r] = requests;
    assert.equal(r.method, "POST");
    assert.equal(r.path, `${ACCOUNT}/Call/`);
    assert.equal(r.authorization, basic(AUTH_ID, TOKEN));
    assert.equal(r.contentType, "application/json");
    assert.deepEqual(r.json, {
      from: "14155550199",
      to: "14155550100",
      answer_url: "https://bot.example.com/telephone/plivo/incoming",
      answer_method: "POST",
      hangup_url: "https://bot.example.com/hangup",
      hangup_method: "POST",
    });
    await assert.rejects(
      () =>
        plivo.placeCall({
          to: "+14155550100",
          from: "+14155550199",
          streamUrl: "wss://bot.example.com/telephone/plivo/handler",
        }),
      /answer URL only/,
    );
    assert.equal(requests.length, 1);
  });
});

Deno.test("plivo: hangUp sends DELETE Call/{uuid}/ and never an empty id", async () => {
  await withPlivo(plivoRoute(), async (plivo, requests) => {
    assert.equal(await plivo.hangUp(CALL), true);
    assert.equal(requests[0].method, "DELETE");
    assert.equal(requests[0].path, `${ACCOUNT}/Call/${CALL}/`);
    assert.equal(requests[0].authorization, basic(AUTH_ID, TOKEN));
    assert.equal(requests[0].text, "");
    // DELETE …/Call/ without an id would end every call on the account.
    await assert.rejects(() => plivo.hangUp(""), TypeError);
    await assert.rejects(() => plivo.hangUp("  "), TypeError);
    assert.equal(requests.length, 1);
  });
});

Deno.test("plivo: transfer posts legs=aleg with the transfer route and ?to=", async () => {
  await withPlivo(plivoRoute(), async (plivo, requests) => {
    await plivo.transfer(CALL, {
      to: "+14155550123",
      callerId: "+14155550199",
    });
    assert.equal(requests[0].method, "POST");
    assert.equal(requests[0].path, `${ACCOUNT}/Call/${CALL}/`);
    assert.deepEqual(requests[0].json, {
      legs: "aleg",
      aleg_url: "https://bot.example.com/telephone/plivo/transfer" +
        "?to=%2B14155550123&callerId=%2B14155550199",
      aleg_method: "POST",
    });
    await plivo.transfer(CALL, {
      to: "+1",
      url: "https://bot.example.com/other.xml",
    });
    assert.equal(
      (requests[1].json as { aleg_url: string }).aleg_url,
      "https://bot.example.com/other.xml",
    );
  });
  const bare = new PlivoCallControl({ authId: AUTH_ID, authToken: TOKEN });
  await assert.rejects(
    () => bare.transfer(CALL, { to: "+14155550123" }),
    /set transferUrl/,
  );
});

Deno.test("plivo: the transfer route's Dial XML", () => {
  assert.equal(
    buildPlivoDialXml({ to: "+14155550123", callerId: "+14155550199" }),
    '<?xml version="1.0" encoding="UTF-8"?>\n<Response>' +
      '<Dial callerId="14155550199"><Number>14155550123</Number></Dial>' +
      "</Response>",
  );
  assert.match(
    buildPlivoDialXml({ to: "sip:agent@phone.plivo.com" }),
    /<User>sip:agent@phone\.plivo\.com<\/User>/,
  );
  assert.throws(() => buildPlivoDialXml({ to: "<x>" }), TypeError);
});

Deno.test("plivo: 404 means ended; 401 and 500 say what to do", async () => {
  await withPlivo(
    plivoRoute({ status: 404, error: "not found" }),
    async (p) => {
      assert.equal(await p.hangUp(CALL), false);
      await assert.rejects(
        () => p.transfer(CALL, { to: "+14155550123" }),
        (e: unknown) =>
          e instanceof CallControlError && e.callEnded && e.status === 404 &&
          /Plivo transfer failed with HTTP 404: not found/.test(e.message),
      );
    },
  );
  await withPlivo(
    plivoRoute({ status: 401, error: "Authentication failed" }),
    async (p) => {
      await assert.rejects(
        () => p.hangUp(CALL),
        (e: unknown) =>
          e instanceof CallControlError && e.status === 401 && !e.callEnded &&
          /PLIVO_AUTH_ID and PLIVO_AUTH_TOKEN/.test(e.message),
      );
    },
  );
  await withPlivo(plivoRoute({ status: 500, error: "oops" }), async (p) => {
    await assert.rejects(
      () => p.hangUp(CALL),
      (e: unknown) =>
        e instanceof CallControlError && e.status === 500 &&
        /retry/.test(e.message),
    );
  });
  assert.throws(
    () => new PlivoCallControl({ authId: "", authToken: "" }),
    /PLIVO_AUTH_ID and PLIVO_AUTH_TOKEN/,
  );
});
