/**
 * Issue 13, item 6: a call's inputs and outputs are reachable only with the
 * call's unguessable token; outputs fan out to every reader; a squatter on
 * an id cannot make the real caller fail; `authorize` and `allowedOrigins`
 * guard the browser routes.
 */
import assert from "node:assert/strict";
import {
  AdditionalOutputs,
  type EmitType,
  Stream,
  StreamHandler,
  type StreamOptions,
  type WebRtcEndpoint,
} from "../../mod.ts";
import { serveStream, until } from "../support/server.ts";

/** Sends `send_input`, then yields one AdditionalOutputs per input. */
class InputsHandler extends StreamHandler {
  constructor() {
    super({ inputSampleRate: 16000, outputSampleRate: 16000 });
  }
  receive(): void {}
  async emit(): Promise<EmitType> {
    await this.waitForArgs();
    const out = new AdditionalOutputs(...this.latestArgs.slice(1));
    this.reset(); // the next emit waits for the next input
    return out;
  }
  copy(): InputsHandler {
    return new InputsHandler();
  }
}

interface Msg {
  event?: string;
  type?: string;
  token?: string;
  websocket_id?: string;
  status?: string;
  meta?: Record<string, unknown>;
}

async function openCall(
  wsUrl: string,
  id: string,
  headers?: Record<string, string>,
): Promise<{ socket: WebSocket; started: Msg; closed: Promise<void> }> {
  const socket = new WebSocket(`${wsUrl}/websocket/offer`, { headers });
  const messages: Msg[] = [];
  socket.onmessage = (e) => messages.push(JSON.parse(e.data));
  const closed = new Promise<void>((r) => (socket.onclose = () => r()));
  await new Promise<void>((resolve, reject) => {
    socket.onopen = () => resolve();
    socket.onerror = () => reject(new Error("connect failed"));
  });
  socket.send(JSON.stringify({ event: "start", websocket_id: id }));
  await until(
    () => messages.some((m) => m.event === "started" || m.status === "failed"),
    5000,
    "started",
  );
  const started = messages.find((m) =>
    m.event === "started" || m.status === "failed"
  )!;
  return { socket, started, closed };
}

async function hangUp(call: { socket: WebSocket; closed: Promise<void> }) {
  if (call.socket.readyState <= WebSocket.OPEN) call.socket.close();
  await call.closed;
}

function serve(options: Partial<StreamOptions> = {}) {
  const stream = new Stream({
    handler: new InputsHandler(),
    verbose: false,
    ...options,
  });
  return { stream, server: serveStream(stream) };
}

function postInput(
  base: string,
  body: unknown,
  type = "application/json",
): Promise<Response> {
  return fetch(`${base}/input_hook`, {
    method: "POST",
    headers: { "content-type": type },
    body: JSON.stringify(body),
  });
}

async function readEvent(
  reader: ReadableStreamDefaultReader<string>,
): Promise<string> {
  const { value } = await reader.read();
  return value ?? "";
}

Deno.test("call access: started carries an unguessable token; input and outputs need it", async () => {
  const { server } = serve();
  try {
    const call = await openCall(server.wsUrl, "tok-1");
    assert.equal(call.started.websocket_id, "tok-1");
    const token = call.started.token!;
    assert.match(token, /^[A-Za-z0-9_-]{32,}$/);

    // Without the token, and with a wrong one: the same answer as an
    // unknown id (no way to tell live ids from dead ones).
    const answers = [];
    for (
      const body of [
        { webrtc_id: "tok-1", args: ["x"] },
        { webrtc_id: "tok-1", token: "A".repeat(43), args: ["x"] },
        { webrtc_id: "nobody", token: "A".repeat(43), args: ["x"] },
      ]
    ) {
      const r = await postInput(server.url, body);
      answers.push([r.status, await r.text()]);
    }
    assert.deepEqual(answers[0], answers[2]);
    assert.deepEqual(answers[1], answers[2]);
    assert.equal(answers[2][0], 404);
    for (
      const q of ["webrtc_id=tok-1", `webrtc_id=tok-1&token=${"A".repeat(43)}`]
    ) {
      const r = await fetch(`${server.url}/outputs?${q}`);
      assert.equal(r.status, 404, q);
      await r.body?.cancel();
    }

    // A CORS-simple text/plain POST is refused.
    const plain = await postInput(
      server.url,
      { webrtc_id: "tok-1", token, args: ["x"] },
      "text/plain",
    );
    assert.equal(plain.status, 415);
    await plain.body?.cancel();

    const sse = await fetch(
      `${server.url}/outputs?webrtc_id=tok-1&token=${token}`,
    );
    assert.equal(sse.status, 200);
    const ok = await postInput(server.url, {
      webrtc_id: "tok-1",
      token,
      args: ["hello", 42],
    });
    assert.deepEqual(await ok.json(), { status: "success" });
    const reader = sse.body!.pipeThrough(new TextDecoderStream()).getReader();
    assert.equal(
      await readEvent(reader),
      `event: output\ndata: ["hello",42]\n\n`,
    );
    await reader.cancel();
    await hangUp(call);
  } finally {
    await server.close();
  }
});

Deno.test("call access: outputs fan out to every reader; a cancelled reader releases its place", async () => {
  const { server } = serve({ maxOutputReaders: 2 });
  try {
    const call = await openCall(server.wsUrl, "fan");
    const q = `webrtc_id=fan&token=${call.started.token}`;
    const a = await fetch(`${server.url}/outputs?${q}`);
    const b = await fetch(`${server.url}/outputs?${q}`);
    assert.equal(a.status, 200);
    assert.equal(b.status, 200);
    const third = await fetch(`${server.url}/outputs?${q}`);
    assert.equal(third.status, 429);
    await third.body?.cancel();
    const ra = a.body!.pipeThrough(new TextDecoderStream()).getReader();
    const rb = b.body!.pipeThrough(new TextDecoderStream()).getReader();
    for (const word of ["one", "two"]) {
      const r = await postInput(server.url, {
        webrtc_id: "fan",
        token: call.started.token,
        args: [word],
      });
      await r.body?.cancel();
      const want = `event: output\ndata: ["${word}"]\n\n`;
      assert.equal(await readEvent(ra), want);
      assert.equal(await readEvent(rb), want);
    }
    // Reader b leaves: its place is free again and a keeps everything.
    await rb.cancel();
    let c = await fetch(`${server.url}/outputs?${q}`);
    for (let i = 0; i < 100 && c.status !== 200; i++) {
      await c.body?.cancel();
      await new Promise((r) => setTimeout(r, 20));
      c = await fetch(`${server.url}/outputs?${q}`);
    }
    assert.equal(c.status, 200, "a free reader place");
    const rc = c.body!.pipeThrough(new TextDecoderStream()).getReader();
    const r = await postInput(server.url, {
      webrtc_id: "fan",
      token: call.started.token,
      args: ["three"],
    });
    await r.body?.cancel();
    const want = `event: output\ndata: ["three"]\n\n`;
    assert.equal(await readEvent(ra), want);
    assert.equal(await readEvent(rc), want);
    await ra.cancel();
    await rc.cancel();
    await hangUp(call);
  } finally {
    await server.close();
  }
});

Deno.test("call access: the first reader also gets outputs made before it connected", async () => {
  const { stream, server } = serve();
  try {
    const call = await openCall(server.wsUrl, "early");
    stream.setInput("early", "before");
    await new Promise((r) => setTimeout(r, 100));
    const sse = await fetch(
      `${server.url}/outputs?webrtc_id=early&token=${call.started.token}`,
    );
    const reader = sse.body!.pipeThrough(new TextDecoderStream()).getReader();
    assert.equal(
      await readEvent(reader),
      `event: output\ndata: ["before"]\n\n`,
    );
    await reader.cancel();
    await hangUp(call);
  } finally {
    await server.close();
  }
});

Deno.test("call access: a squatter on an id cannot make the real caller fail", async () => {
  const { server } = serve();
  try {
    const squatter = await openCall(server.wsUrl, "victim-id");
    const real = await openCall(server.wsUrl, "victim-id");
    assert.equal(real.started.event, "started", JSON.stringify(real.started));
    assert.ok(real.started.websocket_id);
    assert.notEqual(real.started.websocket_id, "victim-id");
    assert.notEqual(real.started.token, squatter.started.token);
    // The real caller's own id and token reach its own call.
    const r = await postInput(server.url, {
      webrtc_id: real.started.websocket_id,
      token: real.started.token,
      args: ["mine"],
    });
    assert.equal(r.status, 200);
    await r.body?.cancel();
    // The squatter's token does not open the real caller's call.
    const s = await postInput(server.url, {
      webrtc_id: real.started.websocket_id,
      token: squatter.started.token,
      args: ["theirs"],
    });
    assert.equal(s.status, 404);
    await s.body?.cancel();
    await hangUp(squatter);
    await hangUp(real);
  } finally {
    await server.close();
  }
});

Deno.test("call access: insecureIds lets the id alone through (FastRTC behaviour)", async () => {
  const { server } = serve({ insecureIds: true });
  try {
    const call = await openCall(server.wsUrl, "legacy");
    const r = await postInput(server.url, { webrtc_id: "legacy", args: [1] });
    assert.equal(r.status, 200);
    await r.body?.cancel();
    await hangUp(call);
  } finally {
    await server.close();
  }
});

Deno.test("call access: the WebRTC answer carries the call's id and token", async () => {
  let started = 0;
  const fake: WebRtcEndpoint = {
    async handle(body, startCall) {
      if (body.type !== "offer") return { status: "success" };
      const prepared = await startCall({ webrtcId: String(body.webrtc_id) });
      started++;
      prepared.begin?.();
      setTimeout(() => prepared.bus.close("test over"), 300);
      return { sdp: "v=0", type: "answer" };
    },
    close: () => Promise.resolve(),
  };
  const { server } = serve({ webrtc: fake });
  try {
    const offer = () =>
      fetch(`${server.url}/webrtc/offer`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ type: "offer", sdp: "v=0", webrtc_id: "rtc-1" }),
      }).then((r) => r.json());
    const a = await offer();
    assert.equal(a.type, "answer");
    assert.equal(a.webrtc_id, "rtc-1");
    assert.match(a.token, /^[A-Za-z0-9_-]{32,}$/);
    const b = await offer(); // same id while the first is live
    assert.equal(b.type, "answer");
    assert.notEqual(b.webrtc_id, "rtc-1");
    assert.equal(started, 2);
  } finally {
    await server.close();
  }
});

Deno.test("call access: authorize and allowedOrigins are checked when the stream is made", () => {
  const handler = new InputsHandler();
  assert.throws(
    () =>
      new Stream({
        handler,
        allowedOrigins: "https://app.example.com" as unknown as string[],
      }),
    /allowedOrigins must be a list of origins/,
  );
  assert.throws(
    () => new Stream({ handler, authorize: true as unknown as () => true }),
    /authorize must be a function/,
  );
});

Deno.test("call access: authorize and allowedOrigins guard the browser routes", async () => {
  const seen: string[] = [];
  const { server } = serve({
    allowedOrigins: ["https://app.example.com"],
    authorize: (req) => {
      seen.push(new URL(req.url).pathname);
      return req.headers.get("authorization") === "Bearer good";
    },
  });
  try {
    const good = { authorization: "Bearer good" };
    const refusedWs = new WebSocket(`${server.wsUrl}/websocket/offer`);
    const outcome = await new Promise<string>((r) => {
      refusedWs.onopen = () => r("open");
      refusedWs.onerror = () => r("refused");
    });
    assert.equal(outcome, "refused");
    const call = await openCall(server.wsUrl, "auth-1", good);
    assert.equal(call.started.event, "started");
    const token = call.started.token;
    const noAuth = await postInput(server.url, {
      webrtc_id: "auth-1",
      token,
      args: [1],
    });
    assert.equal(noAuth.status, 403);
    await noAuth.body?.cancel();
    const badOrigin = await fetch(`${server.url}/input_hook`, {
      method: "POST",
      headers: {
        ...good,
        "content-type": "application/json",
        origin: "https://evil.example.net",
      },
      body: JSON.stringify({ webrtc_id: "auth-1", token, args: [1] }),
    });
    assert.equal(badOrigin.status, 403);
    await badOrigin.body?.cancel();
    const okOrigin = await fetch(`${server.url}/input_hook`, {
      method: "POST",
      headers: {
        ...good,
        "content-type": "application/json",
        origin: "https://app.example.com",
      },
      body: JSON.stringify({ webrtc_id: "auth-1", token, args: [1] }),
    });
    assert.equal(okOrigin.status, 200);
    await okOrigin.body?.cancel();
    const outputs = await fetch(
      `${server.url}/outputs?webrtc_id=auth-1&token=${token}`,
    );
    assert.equal(outputs.status, 403);
    await outputs.body?.cancel();
    assert.ok(seen.includes("/outputs"), seen.join(","));
    await hangUp(call);
  } finally {
    await server.close();
  }
});
