import assert from "node:assert/strict";
import { Stream } from "../../src/server/stream.ts";
import { createWebRtcEndpoint } from "../../src/transports/webrtc.ts";
import { chooseOfferCodec } from "../../src/transports/webrtc_codec.ts";
import { createOpusCodec } from "../../src/transports/opus.ts";
import {
  getCloudflareTurnCredentials,
  getTwilioTurnCredentials,
} from "../../src/transports/turn.ts";
import { EchoHandler, Journal } from "../support/handlers.ts";
import { until } from "../support/server.ts";
import {
  concat,
  type Post,
  postVia,
  powerAt,
  rms,
  TestClient,
  tone,
} from "./_webrtc_client.ts";

function echoStream(
  options: {
    concurrencyLimit?: number;
    timeLimit?: number;
    connectTimeoutMs?: number;
  } = {},
  journal = new Journal(),
) {
  const webrtc = createWebRtcEndpoint({
    connectTimeoutMs: options.connectTimeoutMs,
  });
  const stream = new Stream({
    handler: new EchoHandler(journal, {
      inputSampleRate: 48000,
      outputSampleRate: 48000,
    }),
    webrtc,
    concurrencyLimit: options.concurrencyLimit,
    timeLimit: options.timeLimit,
    verbose: false,
  });
  return { stream, webrtc, journal, post: postVia(stream.fetch) };
}

async function echoRoundTrip(codec: "opus" | "pcmu") {
  const { stream, webrtc, journal, post } = echoStream();
  const client = new TestClient({ id: `echo-${codec}`, codec, trickle: true });
  try {
    const answer = await client.connect(post);
    assert.equal(answer.type, "answer");
    assert.match(String(answer.sdp), /a=candidate:/);
    assert.match(
      String(answer.sdp),
      codec === "opus" ? /a=rtpmap:\d+ opus\/48000/i : /a=rtpmap:0 PCMU\/8000/i,
    );
    assert.ok(
      client.trickleResults.length > 0,
      "the offer had candidates to trickle",
    );
    for (const r of client.trickleResults) {
      assert.deepEqual(r, { status: "success" });
    }
    await client.waitOpen();
    assert.equal(stream.activeCalls, 1);

    client.channel.send("hello");
    await until(
      () => client.messages.some((m) => m.data === "Server received: hello"),
      5000,
      "data channel echo",
    );

    const rate = client.codec.sampleRate;
    const sent = tone(rate, 440, 1.0);
    await client.sendAudio(sent);
    await until(() => client.received.length >= 40, 5000, "echoed audio");
    await new Promise((r) => setTimeout(r, 200));
    const got = concat(client.received);
    assert.ok(journal.received > 0, "the handler received audio");
    // The echo carries the tone: comparable energy, and mostly at 440 Hz.
    assert.ok(
      rms(got) > 0.3 * rms(sent),
      `echo rms ${rms(got)} vs sent ${rms(sent)}`,
    );
    assert.ok(
      powerAt(got, rate, 440) > 20 * powerAt(got, rate, 1000),
      "the echo is the 440 Hz tone",
    );
  } finally {
    await client.close();
    await stream.close();
  }
  assert.equal(webrtc.connections, 0);
  assert.equal(stream.activeCalls, 0);
  assert.equal(journal.shutdowns, 1);
}

Deno.test("webrtc: Opus audio both ways, trickle ICE, data channel", async () => {
  await echoRoundTrip("opus");
});

Deno.test("webrtc: PCMU fallback carries audio both ways", async () => {
  await echoRoundTrip("pcmu");
});

Deno.test("webrtc: server shutdown sends end_stream over the data channel", async () => {
  const { stream, post } = echoStream();
  const client = new TestClient({ id: "msgs" });
  try {
    await client.connect(post);
    await client.waitOpen();
    await client.sendAudio(tone(48000, 300, 0.1));
    await until(() => client.received.length > 0, 5000, "echo");
    await stream.close({ drainMs: 10 });
    await until(
      () => client.messages.some((m) => m.type === "end_stream"),
      5000,
      "end_stream",
    );
  } finally {
    await client.close();
    await stream.close();
  }
});

Deno.test("webrtc: failures use FastRTC's error shapes", async () => {
  const { stream, post } = echoStream({ concurrencyLimit: 1 });
  const a = new TestClient({ id: "dup" });
  const b = new TestClient({ id: "dup" });
  const c = new TestClient({ id: "second" });
  try {
    // Unknown id for a trickled candidate.
    assert.deepEqual(
      await post({
        candidate: {
          candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host",
          sdpMid: "0",
        },
        type: "ice-candidate",
        webrtc_id: "nobody",
      }),
      { status: "failed", meta: { error: "unknown_connection" } },
    );
    // Bad SDP.
    const bad = await post({ sdp: "hello", type: "offer", webrtc_id: "bad" });
    assert.equal(bad.status, "failed");
    assert.equal((bad.meta as Record<string, unknown>).error, "invalid_sdp");
    const noAudio = await post({
      sdp: "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n",
      type: "offer",
      webrtc_id: "bad2",
    });
    assert.equal(
      (noAudio.meta as Record<string, unknown>).error,
      "invalid_sdp",
    );
    const g722 = await post({
      sdp:
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=ice-ufrag:abcd\r\n" +
        "a=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=fingerprint:sha-256 00:11\r\nm=audio 9 UDP/TLS/RTP/SAVPF 9\r\na=rtpmap:9 G722/8000\r\n",
      type: "offer",
      webrtc_id: "bad3",
    });
    assert.equal(
      (g722.meta as Record<string, unknown>).error,
      "no_common_codec",
    );
    // A broken but plausible offer (no ICE credentials or fingerprint).
    const broken = await post({
      sdp: "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n" +
        "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\na=mid:0\r\n",
      type: "offer",
      webrtc_id: "bad4",
    });
    assert.equal(broken.status, "failed");
    assert.equal(stream.activeCalls, 0);

    // First call connects.
    const answer = await a.connect(post);
    assert.equal(answer.type, "answer");
    await a.waitOpen();
    // Same id again: the call gets an id of its own (a squatter cannot
    // block a caller), and here it is over the limit.
    assert.deepEqual(await b.connect(post), {
      status: "failed",
      meta: { error: "concurrency_limit_reached", limit: 1 },
    });
    // Over the limit.
    assert.deepEqual(await c.connect(post), {
      status: "failed",
      meta: { error: "concurrency_limit_reached", limit: 1 },
    });
    // Malformed candidate for a live call (with the call's token).
    const inv = await post({
      candidate: { candidate: "garbage" },
      type: "ice-candidate",
      webrtc_id: "dup",
      token: answer.token,
    });
    assert.equal(inv.status, "failed");
    assert.equal(
      (inv.meta as Record<string, unknown>).error,
      "invalid_candidate_format",
    );
    // Unknown type.
    const unknown = await post({
      type: "bye",
      webrtc_id: "dup",
      token: answer.token,
    });
    assert.equal(
      (unknown.meta as Record<string, unknown>).error,
      "invalid_request",
    );
    assert.equal(stream.activeCalls, 1);
  } finally {
    await a.close();
    await b.close();
    await c.close();
    await stream.close();
  }
});

Deno.test("webrtc: a call that never connects is closed after connectTimeoutMs", async () => {
  const { stream, webrtc, journal, post } = echoStream({
    connectTimeoutMs: 300,
  });
  const client = new TestClient({
    id: "never",
    trickle: true,
    skipAnswer: true,
  });
  try {
    const answer = await client.connect(post);
    assert.equal(answer.type, "answer");
    assert.equal(stream.activeCalls, 1);
    await until(
      () => stream.activeCalls === 0 && webrtc.connections === 0,
      5000,
      "timeout",
    );
    assert.equal(journal.shutdowns, 1);
    // The id is gone: a late candidate is refused.
    const late = await post({
      candidate: { candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host" },
      type: "ice-candidate",
      webrtc_id: "never",
    });
    assert.equal(
      (late.meta as Record<string, unknown>).error,
      "unknown_connection",
    );
  } finally {
    await client.close();
    await stream.close();
  }
});

Deno.test("webrtc: the time limit ends the call and closes the peer connection", async () => {
  const { stream, webrtc, post } = echoStream({ timeLimit: 0.5 });
  const client = new TestClient({ id: "limited" });
  try {
    await client.connect(post);
    await client.waitOpen();
    await until(() => stream.activeCalls === 0, 5000, "time limit");
    await until(() => webrtc.connections === 0, 5000, "peer cleanup");
    await until(
      () => client.messages.some((m) => m.type === "end_stream"),
      5000,
      "end_stream",
    );
    assert.ok(client.messages.some((m) => m.type === "warning"));
  } finally {
    await client.close();
    await stream.close();
  }
});

Deno.test("webrtc: 50 connect/disconnect cycles leave nothing open", async () => {
  const { stream, webrtc, journal, post } = echoStream();
  try {
    for (let i = 0; i < 50; i++) {
      const client = new TestClient({ id: `cycle-${i}`, trickle: i % 2 === 0 });
      const answer = await client.connect(post);
      assert.equal(answer.type, "answer", JSON.stringify(answer));
      await client.waitOpen();
      await client.close();
      await until(
        () => webrtc.connections === 0 && stream.activeCalls === 0,
        10_000,
        `cycle ${i}`,
      );
    }
    assert.equal(journal.started, 50);
    assert.equal(journal.shutdowns, 50);
  } finally {
    await stream.close();
  }
});

Deno.test("webrtc: listen-only and talk-only offers get matching directions", async () => {
  const { stream, post } = echoStream();
  const listen = new TestClient({ id: "listen", direction: "recvonly" });
  const talk = new TestClient({ id: "talk", direction: "sendonly" });
  try {
    const a = await listen.connect(post);
    assert.match(String(a.sdp), /a=sendonly/);
    const b = await talk.connect(post);
    assert.match(String(b.sdp), /a=recvonly/);
    await listen.waitOpen();
    await talk.waitOpen();
    assert.equal(stream.activeCalls, 2);
  } finally {
    await listen.close();
    await talk.close();
    await stream.close();
  }
});

Deno.test("webrtc: codec choice follows the preference list", () => {
  const sdp =
    "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 0 8\r\na=rtpmap:111 opus/48000/2\r\n" +
    "a=rtpmap:0 PCMU/8000\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n";
  assert.deepEqual(chooseOfferCodec(sdp, ["opus", "pcmu"]), {
    name: "opus",
    payloadType: 111,
  });
  assert.deepEqual(chooseOfferCodec(sdp, ["pcmu", "opus"]), {
    name: "pcmu",
    payloadType: 0,
  });
  assert.equal(
    chooseOfferCodec(sdp.replace(" 111 0 8", " 8"), ["opus", "pcmu"]),
    null,
  );
  assert.throws(() => chooseOfferCodec("v=0\r\n", ["opus"]), SyntaxError);
});

Deno.test("opus: round trip keeps a tone, with many codecs alive", async () => {
  const codecs = await Promise.all(
    Array.from({ length: 120 }, () => createOpusCodec()),
  );
  try {
    // The first codec still works after the WASM heap grew for the others.
    const [a, b] = [codecs[0], codecs[119]];
    const sent = tone(48000, 440, 0.5);
    const out: Int16Array[] = [];
    for (let i = 0; i + 960 <= sent.length; i += 960) {
      const packet = a.encode(sent.subarray(i, i + 960));
      assert.ok(packet.length < 960, "Opus compresses");
      out.push(b.decode(packet));
    }
    const got = concat(out);
    assert.equal(got.length, sent.length);
    assert.ok(
      Math.abs(rms(got) - rms(sent)) < 0.1 * rms(sent),
      `rms ${rms(got)}`,
    );
    assert.ok(powerAt(got, 48000, 440) > 100 * powerAt(got, 48000, 1000));
  } finally {
    for (const c of codecs) c.close();
  }
  assert.throws(() => codecs[0].encode(new Int16Array(960)), /closed/);
});

Deno.test("webrtc: options are validated", () => {
  assert.throws(() => createWebRtcEndpoint({ codecs: [] }), RangeError);
  assert.throws(
    () => createWebRtcEndpoint({ connectTimeoutMs: 0 }),
    RangeError,
  );
  assert.throws(
    () => createWebRtcEndpoint({ iceServers: [{ urls: "http://x" }] }),
    RangeError,
  );
});

export type { Post };

Deno.test("turn: Cloudflare request is built as FastRTC's", async () => {
  const seen: {
    method: string;
    path: string;
    auth: string | null;
    body: string;
  }[] = [];
  const server = Deno.serve({
    port: 0,
    hostname: "127.0.0.1",
    onListen: () => {},
  }, async (req) => {
    const url = new URL(req.url);
    seen.push({
      method: req.method,
      path: url.pathname + url.search,
      auth: req.headers.get("authorization"),
      body: await req.text(),
    });
    if (url.pathname.includes("bad")) {
      return new Response("nope", { status: 401 });
    }
    return Response.json({
      iceServers: {
        urls: ["turn:turn.example:3478"],
        username: "u",
        credential: "c",
      },
    });
  });
  const base = `http://127.0.0.1:${server.addr.port}`;
  try {
    const config = await getCloudflareTurnCredentials({
      turnKeyId: "key1",
      turnKeyApiToken: "tok",
      ttl: 120,
      baseUrl: base,
    });
    assert.deepEqual(config.iceServers, [
      { urls: ["turn:turn.example:3478"], username: "u", credential: "c" },
    ]);
    assert.deepEqual(seen[0], {
      method: "POST",
      path: "/turn/keys/key1/credentials/generate-ice-servers",
      auth: "Bearer tok",
      body: JSON.stringify({ ttl: 120 }),
    });
    await getCloudflareTurnCredentials({
      hfToken: "hf_x",
      hfBaseUrl: base,
      ttl: 60,
    });
    assert.deepEqual(seen[1], {
      method: "GET",
      path: "/credentials?ttl=60",
      auth: "Bearer hf_x",
      body: "",
    });
    await assert.rejects(
      getCloudflareTurnCredentials({
        turnKeyId: "bad",
        turnKeyApiToken: "t",
        baseUrl: base,
      }),
      /HTTP 401/,
    );
  } finally {
    await server.shutdown();
  }
  await assert.rejects(
    getCloudflareTurnCredentials({ turnKeyId: "k", turnKeyApiToken: "" }),
    /both a key id/,
  );
  await assert.rejects(
    getCloudflareTurnCredentials({
      turnKeyId: "k",
      turnKeyApiToken: "t",
      ttl: -1,
    }),
    RangeError,
  );
});

Deno.test("turn: Twilio token is created through the twilio package", async () => {
  const requests: Record<string, unknown>[] = [];
  const httpClient = {
    request(options: Record<string, unknown>) {
      requests.push(options);
      return Promise.resolve({
        statusCode: 201,
        headers: {},
        body: JSON.stringify({
          account_sid: "AC" + "0".repeat(32),
          ice_servers: [{
            urls: "turn:global.turn.twilio.com:3478",
            username: "u",
            credential: "c",
          }],
          ttl: "300",
          username: "u",
          password: "c",
        }),
      });
    },
  };
  const sid = "AC" + "a".repeat(32);
  const config = await getTwilioTurnCredentials({
    accountSid: sid,
    authToken: "tok",
    ttl: 300,
    httpClient,
  });
  assert.equal(config.iceTransportPolicy, "relay");
  assert.equal(config.iceServers?.[0].urls, "turn:global.turn.twilio.com:3478");
  assert.equal(requests.length, 1);
  assert.equal(requests[0].method, "post");
  assert.match(
    String(requests[0].uri),
    new RegExp(`/Accounts/${sid}/Tokens\\.json$`),
  );
  assert.deepEqual(requests[0].data, { Ttl: 300 });
  await assert.rejects(
    getTwilioTurnCredentials({ accountSid: "nope", authToken: "t" }),
    /malformed/,
  );
  await assert.rejects(
    getTwilioTurnCredentials({ accountSid: sid, authToken: "" }),
    TypeError,
  );
});
