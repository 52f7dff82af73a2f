// Twilio call control through the real `twilio` SDK, pointed at a loopback
// server that speaks the 2010-04-01 Calls API shape and records requests.
import assert from "node:assert/strict";
import {
  buildConnectTwiml,
  CallControlError,
  TwilioCallControl,
} from "../../src/server/mod.ts";
import {
  basic,
  type FakeReply,
  type RecordedRequest,
  serveFakeRest,
} from "../support/fake_rest.ts";

const SID = "AC" + "a".repeat(32);
const TOKEN = "twilio-token";
const CALL = "CA" + "b".repeat(32);
const CALLS = `/2010-04-01/Accounts/${SID}/Calls`;

function twilioRoute(
  fail?: { status: number; code: number; message: string },
): (r: RecordedRequest) => FakeReply {
  return (r) => {
    if (fail) {
      return {
        status: fail.status,
        json: { ...fail, more_info: "https://www.twilio.com/docs/errors" },
      };
    }
    if (r.method === "POST" && r.path === `${CALLS}.json`) {
      return { status: 201, json: { sid: CALL, status: "queued" } };
    }
    if (r.method === "POST" && r.path.startsWith(`${CALLS}/`)) {
      return { json: { sid: r.path.slice(CALLS.length + 1, -5) } };
    }
    return { status: 404, json: { code: 20404, message: "not found" } };
  };
}

async function withTwilio(
  route: (r: RecordedRequest) => FakeReply,
  fn: (c: TwilioCallControl, requests: RecordedRequest[]) => Promise<void>,
): Promise<void> {
  const fake = serveFakeRest(route);
  try {
    const control = new TwilioCallControl({
      accountSid: SID,
      authToken: TOKEN,
      baseUrl: fake.url,
    });
    await fn(control, fake.requests);
  } finally {
    await fake.close();
  }
}

Deno.test("twilio: placeCall posts To, From, Url, Method to Calls.json", async () => {
  await withTwilio(twilioRoute(), async (twilio, requests) => {
    const sid = await twilio.placeCall({
      to: "+14155550100",
      from: "+14155550199",
      answerUrl: "https://bot.example.com/telephone/incoming",
    });
    assert.equal(sid, CALL);
    assert.equal(requests.length, 1);
    const [r] = requests;
    assert.equal(r.method, "POST");
    assert.equal(r.path, `${CALLS}.json`);
    assert.equal(r.authorization, basic(SID, TOKEN));
    assert.equal(r.contentType, "application/x-www-form-urlencoded");
    assert.deepEqual(r.form, {
      To: "+14155550100",
      From: "+14155550199",
      Url: "https://bot.example.com/telephone/incoming",
      Method: "POST",
    });
    assert.match(r.userAgent ?? "", /^twilio-node\/6\.2\.0/);
  });
});

Deno.test("twilio: placeCall with streamUrl sends inline <Connect><Stream> TwiML", async () => {
  await withTwilio(twilioRoute(), async (twilio, requests) => {
    await twilio.placeCall({
      to: "+14155550100",
      from: "+14155550199",
      streamUrl: "wss://bot.example.com/telephone/handler",
      statusCallbackUrl: "https://bot.example.com/status",
      timeoutSeconds: 25,
    });
    // The inline TwiML carries a one-time stream token (issue 13, item 8).
    const twiml = String(requests[0].form?.Twiml);
    const token = /<Parameter name="parley_token" value="(\d+\.[\w-]{43})"\/>/
      .exec(twiml)?.[1];
    assert.ok(token, twiml);
    assert.deepEqual(requests[0].form, {
      To: "+14155550100",
      From: "+14155550199",
      Twiml: buildConnectTwiml({
        streamUrl: "wss://bot.example.com/telephone/handler",
        parameters: { parley_token: token },
      }),
      StatusCallback: "https://bot.example.com/status",
      StatusCallbackMethod: "POST",
      Timeout: "25",
    });
  });
});

Deno.test("twilio: hangUp posts Status=completed to the call", async () => {
  await withTwilio(twilioRoute(), async (twilio, requests) => {
    assert.equal(await twilio.hangUp(CALL), true);
    assert.equal(requests.length, 1);
    assert.equal(requests[0].method, "POST");
    assert.equal(requests[0].path, `${CALLS}/${CALL}.json`);
    assert.equal(requests[0].authorization, basic(SID, TOKEN));
    assert.deepEqual(requests[0].form, { Status: "completed" });
  });
});

Deno.test("twilio: transfer replaces the TwiML with <Dial>, or redirects to a Url", async () => {
  await withTwilio(twilioRoute(), async (twilio, requests) => {
    await twilio.transfer(CALL, {
      to: "+14155550123",
      callerId: "+14155550199",
    });
    assert.equal(requests[0].path, `${CALLS}/${CALL}.json`);
    assert.deepEqual(requests[0].form, {
      Twiml: '<?xml version="1.0" encoding="UTF-8"?><Response>' +
        '<Dial callerId="+14155550199"><Number>+14155550123</Number></Dial>' +
        "</Response>",
    });
    await twilio.transfer(CALL, { to: "sip:agent@pbx.example.com" });
    assert.match(
      requests[1].form!.Twiml,
      /<Sip>sip:agent@pbx\.example\.com<\/Sip>/,
    );
    await twilio.transfer(CALL, {
      to: "+14155550123",
      url: "https://bot.example.com/transfer.xml",
    });
    assert.deepEqual(requests[2].form, {
      Url: "https://bot.example.com/transfer.xml",
      Method: "POST",
    });
  });
});

Deno.test("twilio: hangUp of an ended call resolves false (404 and 21220)", async () => {
  await withTwilio(
    twilioRoute({ status: 404, code: 20404, message: "not found" }),
    async (twilio) => assert.equal(await twilio.hangUp(CALL), false),
  );
  await withTwilio(
    twilioRoute({
      status: 400,
      code: 21220,
      message: "Call is not in-progress. Cannot redirect.",
    }),
    async (twilio) => assert.equal(await twilio.hangUp(CALL), false),
  );
});

Deno.test("twilio: errors name the carrier, the status and what to do", async () => {
  await withTwilio(
    twilioRoute({ status: 404, code: 20404, message: "not found" }),
    async (twilio) => {
      await assert.rejects(
        () => twilio.transfer(CALL, { to: "+14155550123" }),
        (e: unknown) => {
          assert.ok(e instanceof CallControlError);
          assert.equal(e.carrier, "twilio");
          assert.equal(e.operation, "transfer");
          assert.equal(e.status, 404);
          assert.equal(e.callEnded, true);
          assert.match(e.message, /Twilio transfer failed with HTTP 404/);
          assert.match(e.message, /already ended/);
          return true;
        },
      );
    },
  );
  await withTwilio(
    twilioRoute({ status: 401, code: 20003, message: "Authenticate" }),
    async (twilio) => {
      await assert.rejects(
        () => twilio.hangUp(CALL),
        (e: unknown) => {
          assert.ok(e instanceof CallControlError);
          assert.equal(e.status, 401);
          assert.equal(e.code, "20003");
          assert.equal(e.callEnded, false);
          assert.match(e.message, /HTTP 401 \(code 20003\): Authenticate/);
          assert.match(e.message, /TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN/);
          return true;
        },
      );
    },
  );
  await withTwilio(
    twilioRoute({ status: 500, code: 20500, message: "Internal error" }),
    async (twilio) => {
      await assert.rejects(
        () =>
          twilio.placeCall({
            to: "+14155550100",
            from: "+14155550199",
            answerUrl: "https://bot.example.com/telephone/incoming",
          }),
        (e: unknown) => {
          assert.ok(e instanceof CallControlError);
          assert.equal(e.status, 500);
          assert.equal(e.callEnded, false);
          assert.match(e.message, /Twilio placeCall failed with HTTP 500/);
          assert.match(e.message, /retry/);
          return true;
        },
      );
    },
  );
});

Deno.test("twilio: bad arguments and missing credentials fail before any request", async () => {
  assert.throws(
    () => new TwilioCallControl({ accountSid: "", authToken: "" }),
    /TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN/,
  );
  assert.throws(
    () => new TwilioCallControl({ accountSid: "ACnope", authToken: "t" }),
    /malformed/,
  );
  await withTwilio(twilioRoute(), async (twilio, requests) => {
    await assert.rejects(() => twilio.hangUp(""), TypeError);
    await assert.rejects(
      () => twilio.transfer(CALL, { to: "" }),
      /E\.164/,
    );
    await assert.rejects(
      () =>
        twilio.placeCall({
          to: "+14155550100",
          from: "+14155550199",
        }),
      /exactly one of answerUrl/,
    );
    await assert.rejects(
      () =>
        twilio.placeCall({
          to: "+14155550100",
          from: "+14155550199",
          answerUrl: "ftp://x",
        }),
      /answerUrl must be an absolute http\(s\) URL/,
    );
    assert.equal(requests.length, 0);
  });
});
