// Vonage call control against a loopback server speaking the Voice API
// shape; the fake verifies each request's RS256 application JWT.
import assert from "node:assert/strict";
import { CallControlError, VonageCallControl } from "../../src/server/mod.ts";
import {
  type FakeReply,
  type RecordedRequest,
  serveFakeRest,
} from "../support/fake_rest.ts";

const APP = "aaaaaaaa-bbbb-cccc-dddd-0123456789ab";
const CALL = "63f61863-4a51-4f6b-86e1-46edebcf9356";

const keys = await crypto.subtle.generateKey(
  {
    name: "RSASSA-PKCS1-v1_5",
    modulusLength: 2048,
    publicExponent: new Uint8Array([1, 0, 1]),
    hash: "SHA-256",
  },
  true,
  ["sign", "verify"],
);
const pkcs8 = new Uint8Array(
  await crypto.subtle.exportKey("pkcs8", keys.privateKey),
);

function pem(label: string, der: Uint8Array): string {
  const b64 = btoa(String.fromCharCode(...der));
  return `-----BEGIN ${label}-----\n${
    b64.match(/.{1,64}/g)!.join("\n")
  }\n-----END ${label}-----\n`;
}

/** The RSAPrivateKey inside a PKCS#8 PrivateKeyInfo (the OCTET STRING). */
function pkcs1Of(der: Uint8Array): Uint8Array {
  let i = 1;
  i += der[i] & 0x80 ? 1 + (der[i] & 0x7f) : 1; // outer SEQUENCE length
  i += 3; // INTEGER 0
  i += 2 + der[i + 1]; // AlgorithmIdentifier
  assert.equal(der[i], 0x04);
  i += 1;
  i += der[i] & 0x80 ? 1 + (der[i] & 0x7f) : 1;
  return der.slice(i);
}

function b64urlDecode(text: string): Uint8Array<ArrayBuffer> {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const bin = atob(b64 + "=".repeat((4 - b64.length % 4) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

const jwtClaims: Record<string, unknown>[] = [];

async function checkJwt(authorization: string | null): Promise<boolean> {
  const m = /^Bearer ([\w-]+)\.([\w-]+)\.([\w-]+)$/.exec(authorization ?? "");
  if (!m) return false;
  const header = JSON.parse(new TextDecoder().decode(b64urlDecode(m[1])));
  if (header.alg !== "RS256" || header.typ !== "JWT") return false;
  const ok = await crypto.subtle.verify(
    "RSASSA-PKCS1-v1_5",
    keys.publicKey,
    b64urlDecode(m[3]),
    new TextEncoder().encode(`${m[1]}.${m[2]}`),
  );
  if (ok) {
    jwtClaims.push(JSON.parse(new TextDecoder().decode(b64urlDecode(m[2]))));
  }
  return ok;
}

function vonageRoute(
  fail?: { status: number; title: string; detail: string },
): (r: RecordedRequest) => Promise<FakeReply> {
  return async (r) => {
    if (!await checkJwt(r.authorization)) {
      return {
        status: 401,
        json: { type: "about:blank", title: "Invalid Token" },
      };
    }
    if (fail) {
      return { status: fail.status, json: { type: "x", ...fail } };
    }
    if (r.method === "POST" && r.path === "/v1/calls") {
      return {
        status: 201,
        json: {
          uuid: CALL,
          status: "started",
          direction: "outbound",
          conversation_uuid: "CON-f972836a",
        },
      };
    }
    if (r.method === "PUT" && r.path === `/v1/calls/${CALL}`) {
      return { status: 204 };
    }
    return { status: 404, json: { title: "Not Found", detail: "no call" } };
  };
}

async function withVonage(
  route: (r: RecordedRequest) => Promise<FakeReply>,
  fn: (c: VonageCallControl, requests: RecordedRequest[]) => Promise<void>,
  privateKey = pem("PRIVATE KEY", pkcs8),
): Promise<void> {
  const fake = serveFakeRest(route);
  try {
    await fn(
      new VonageCallControl({
        applicationId: APP,
        privateKey,
        baseUrl: fake.url,
      }),
      fake.requests,
    );
  } finally {
    await fake.close();
  }
}

Deno.test("vonage: placeCall posts to/from endpoints and answer_url with a valid RS256 JWT", async () => {
  jwtClaims.length = 0;
  await withVonage(vonageRoute(), async (vonage, requests) => {
    const uuid = await vonage.placeCall({
      to: "+14155550100",
      from: "+14155550199",
      answerUrl: "https://bot.example.com/telephone/vonage/incoming",
      statusCallbackUrl: "https://bot.example.com/events",
      timeoutSeconds: 40,
    });
    assert.equal(uuid, CALL);
    const [r] = requests;
    assert.equal(r.method, "POST");
    assert.equal(r.path, "/v1/calls");
    assert.equal(r.contentType, "application/json");
    assert.deepEqual(r.json, {
      to: [{ type: "phone", number: "14155550100" }],
      from: { type: "phone", number: "14155550199" },
      answer_url: ["https://bot.example.com/telephone/vonage/incoming"],
      answer_method: "POST",
      event_url: ["https://bot.example.com/events"],
      event_method: "POST",
      ringing_timer: 40,
    });
    const [claims] = jwtClaims;
    assert.equal(claims.application_id, APP);
    assert.equal(typeof claims.jti, "string");
    assert.equal((claims.exp as number) - (claims.iat as number), 900);
    assert.ok(Math.abs((claims.iat as number) - Date.now() / 1000) < 60);
  });
});

Deno.test("vonage: placeCall with streamUrl sends an inline NCCO connect", async () => {
  await withVonage(vonageRoute(), async (vonage, requests) => {
    await vonage.placeCall({
      to: "sip:bob@sip.example.com",
      from: "+14155550199",
      streamUrl: "wss://bot.example.com/telephone/vonage/handler",
    });
    assert.deepEqual(requests[0].json, {
      to: [{ type: "sip", uri: "sip:bob@sip.example.com" }],
      from: { type: "phone", number: "14155550199" },
      ncco: [{
        action: "connect",
        endpoint: [{
          type: "websocket",
          uri: "wss://bot.example.com/telephone/vonage/handler",
          "content-type": "audio/l16;rate=16000",
        }],
      }],
    });
  });
});

Deno.test("vonage: hangUp and transfer PUT the call with action hangup / transfer", async () => {
  await withVonage(vonageRoute(), async (vonage, requests) => {
    assert.equal(await vonage.hangUp(CALL), true);
    assert.equal(requests[0].method, "PUT");
    assert.equal(requests[0].path, `/v1/calls/${CALL}`);
    assert.deepEqual(requests[0].json, { action: "hangup" });
    await vonage.transfer(CALL, {
      to: "+14155550123",
      callerId: "+14155550199",
    });
    assert.deepEqual(requests[1].json, {
      action: "transfer",
      destination: {
        type: "ncco",
        ncco: [{
          action: "connect",
          endpoint: [{ type: "phone", number: "14155550123" }],
          from: "14155550199",
        }],
      },
    });
    await vonage.transfer(CALL, {
      to: "+1",
      url: "https://bot.example.com/ncco.json",
    });
    assert.deepEqual(requests[2].json, {
      action: "transfer",
      destination: { type: "ncco", url: ["https://bot.example.com/ncco.json"] },
    });
    // One token serves all three requests.
    assert.equal(new Set(requests.map((r) => r.authorization)).size, 1);
  });
});

Deno.test("vonage: a PKCS#1 (BEGIN RSA PRIVATE KEY) key with escaped newlines works too", async () => {
  const escaped = pem("RSA PRIVATE KEY", pkcs1Of(pkcs8)).replace(/\n/g, "\\n");
  await withVonage(vonageRoute(), async (vonage) => {
    assert.equal(await vonage.hangUp(CALL), true);
  }, escaped);
});

Deno.test("vonage: 404 means ended; 401 and 500 say what to do; a bad key says so", async () => {
  await withVonage(
    vonageRoute({ status: 404, title: "Not Found", detail: "no such call" }),
    async (vonage) => {
      assert.equal(await vonage.hangUp(CALL), false);
    },
  );
  await withVonage(
    vonageRoute(),
    async (vonage) => {
      await assert.rejects(
        () => vonage.hangUp(CALL),
        (e: unknown) =>
          e instanceof CallControlError && e.status === 401 && !e.callEnded &&
          /Vonage hangUp failed with HTTP 401: Invalid Token/.test(e.message) &&
          /VONAGE_APPLICATION_ID and VONAGE_PRIVATE_KEY/.test(e.message),
      );
    },
    pem(
      "PRIVATE KEY",
      new Uint8Array(
        await crypto.subtle.exportKey(
          "pkcs8",
          (await crypto.subtle.generateKey(
            {
              name: "RSASSA-PKCS1-v1_5",
              modulusLength: 2048,
              publicExponent: new Uint8Array([1, 0, 1]),
              hash: "SHA-256",
            },
            true,
            ["sign", "verify"],
          )).privateKey,
        ),
      ),
    ),
  );
  await withVonage(
    vonageRoute({ status: 500, title: "Internal Error", detail: "boom" }),
    async (vonage) => {
      await assert.rejects(
        () => vonage.transfer(CALL, { to: "+14155550123" }),
        (e: unknown) =>
          e instanceof CallControlError && e.status === 500 &&
          /retry/.test(e.message),
      );
    },
  );
  await withVonage(vonageRoute(), async (vonage, requests) => {
    await assert.rejects(
      () => vonage.hangUp(CALL),
      (e: unknown) =>
        e instanceof CallControlError &&
        /cannot use the private key/.test(e.message),
    );
    assert.equal(requests.length, 0);
  }, "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----");
  assert.throws(
    () => new VonageCallControl({ applicationId: "", privateKey: "" }),
    /VONAGE_APPLICATION_ID and VONAGE_PRIVATE_KEY/,
  );
});
