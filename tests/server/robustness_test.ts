import assert from "node:assert/strict";
import {
  type AudioChunk,
  type EmitType,
  getCurrentContext,
  Stream,
  StreamHandler,
} from "../../mod.ts";
import { EchoHandler, Journal } from "../support/handlers.ts";
import { serveStream, until } from "../support/server.ts";
import { TwilioTestClient } from "../support/twilio_client.ts";

const quiet = { verbose: false } as const;

type Fault =
  | "receive"
  | "emit"
  | "startUp"
  | "hang-receive"
  | "hang-emit"
  | "none";

/**
 * Echo handler that misbehaves on demand: the customParameter `fault`
 * (Twilio) picks what goes wrong, so one Stream can serve good and bad calls.
 */
class FaultyHandler extends StreamHandler {
  readonly journal: Journal;
  #fault: Fault = "none";
  #queue: AudioChunk[] = [];
  #emitErrors = 0;
  constructor(journal: Journal) {
    super({ inputSampleRate: 8000, outputSampleRate: 8000 });
    this.journal = journal;
  }
  override startUp(): void {
    this.#fault =
      (getCurrentContext().customParameters?.fault ?? "none") as Fault;
    this.journal.started++;
    if (this.#fault === "startUp") throw new Error("startUp exploded");
  }
  override shutdown(): void {
    this.journal.shutdowns++;
  }
  receive(frame: AudioChunk): Promise<void> | void {
    this.journal.received++;
    if (this.#fault === "receive" && this.journal.received % 2 === 1) {
      throw new Error("receive exploded");
    }
    if (this.#fault === "hang-receive") return new Promise(() => {});
    this.#queue.push(frame);
  }
  async emit(): Promise<EmitType> {
    if (this.#fault === "hang-emit") return await new Promise(() => {});
    if (this.#fault === "emit" && this.#emitErrors++ < 1) {
      throw new Error("emit exploded");
    }
    await new Promise((r) => setTimeout(r, 5));
    return this.#queue.shift() ?? null;
  }
  copy(): FaultyHandler {
    return new FaultyHandler(this.journal);
  }
}

/** Messages the handler's errors produce are logged by the server: capture them. */
function captureErrors(): { lines: string[]; restore(): void } {
  const lines: string[] = [];
  const orig = console.error;
  console.error = (...a: unknown[]) => lines.push(a.map(String).join(" "));
  return { lines, restore: () => (console.error = orig) };
}

async function goodCallWorks(url: string): Promise<void> {
  const c = await TwilioTestClient.connect(url);
  c.sendMulaw(new Uint8Array(160).fill(0x20));
  c.sendMulaw(new Uint8Array(160).fill(0x21));
  await c.waitFor(() => c.media.length >= 2, 3000, "echo on a healthy call");
  await c.close();
}

Deno.test("robustness: a handler that throws in receive/emit reports errors and the call goes on; other calls are unaffected", async () => {
  const log = captureErrors();
  const journal = new Journal();
  const stream = new Stream({ handler: new FaultyHandler(journal), ...quiet });
  const server = serveStream(stream);
  try {
    const url = `${server.wsUrl}/telephone/handler`;
    for (const fault of ["receive", "emit"]) {
      const bad = await TwilioTestClient.connect(url, {
        customParameters: { fault },
      });
      for (let i = 0; i < 4; i++) {
        bad.sendMulaw(new Uint8Array(160).fill(0x30 + i));
      }
      await bad.waitFor(
        () => bad.media.length >= 2,
        3000,
        `echo despite ${fault} errors`,
      );
      await goodCallWorks(url);
      await bad.close();
      assert.ok(
        log.lines.some((l) =>
          l.includes(`${fault} failed`) && l.includes(`${fault} exploded`)
        ),
        log.lines.join("\n"),
      );
    }
    await until(
      () => journal.shutdowns === journal.started,
      2000,
      "every shutdown",
    );
  } finally {
    log.restore();
    await server.close();
  }
});

Deno.test("robustness: startUp failure ends only that call, with shutdown", async () => {
  const log = captureErrors();
  const journal = new Journal();
  const stream = new Stream({ handler: new FaultyHandler(journal), ...quiet });
  const server = serveStream(stream);
  try {
    const url = `${server.wsUrl}/telephone/handler`;
    const bad = await TwilioTestClient.connect(url, {
      customParameters: { fault: "startUp" },
    });
    await bad.closed;
    await goodCallWorks(url);
    assert.ok(log.lines.some((l) => l.includes("startUp failed")));
    await until(() => journal.shutdowns === 2, 2000, "shutdowns");
  } finally {
    log.restore();
    await server.close();
  }
});

Deno.test("robustness: a receive() that never returns ends the call after handlerTimeoutMs; a hung emit() ends when the caller leaves", async () => {
  const log = captureErrors();
  const journal = new Journal();
  const stream = new Stream({
    handler: new FaultyHandler(journal),
    handlerTimeoutMs: 200,
    ...quiet,
  });
  const server = serveStream(stream);
  try {
    const url = `${server.wsUrl}/telephone/handler`;
    const hung = await TwilioTestClient.connect(url, {
      customParameters: { fault: "hang-receive" },
    });
    hung.sendMulaw(new Uint8Array(160));
    await hung.closed;
    assert.ok(
      log.lines.some((l) => l.includes("did not finish within 200 ms")),
      log.lines.join("\n"),
    );

    const idle = await TwilioTestClient.connect(url, {
      customParameters: { fault: "hang-emit" },
    });
    await until(() => stream.activeCalls === 1, 2000, "hang-emit call");
    await goodCallWorks(url);
    idle.stop();
    await idle.closed;
    await until(
      () => stream.activeCalls === 0 && journal.shutdowns === 3,
      2000,
      "all calls ended",
    );
  } finally {
    log.restore();
    await server.close();
  }
});

Deno.test("robustness: a client that vanishes mid-reply frees the call (shutdown, no timers left)", async () => {
  const journal = new Journal();
  const stream = new Stream({ handler: new EchoHandler(journal), ...quiet });
  const server = serveStream(stream);
  try {
    const c = await TwilioTestClient.connect(
      `${server.wsUrl}/telephone/handler`,
    );
    // 3 s of audio to echo: the reply is still playing when we drop.
    for (let i = 0; i < 150; i++) c.sendMulaw(new Uint8Array(160).fill(0x40));
    await c.waitFor(() => c.media.length > 2, 3000, "reply started");
    c.socket.close(); // no stop message
    await c.closed;
    await until(
      () => journal.shutdowns === 1 && stream.activeCalls === 0,
      2000,
      "cleanup",
    );
  } finally {
    await server.close();
  }
});

Deno.test("robustness: unknown routes, bad methods and plain GETs on socket routes get clear HTTP errors", async () => {
  const stream = new Stream({ handler: new EchoHandler(), ...quiet });
  const server = serveStream(stream);
  try {
    const r404 = await fetch(`${server.url}/nope`);
    assert.equal(r404.status, 404);
    assert.match(await r404.text(), /No route for GET \/nope/);
    const r426 = await fetch(`${server.url}/telephone/handler`);
    assert.equal(r426.status, 426);
    await r426.body?.cancel();
    const rtc = await fetch(`${server.url}/webrtc/offer`, {
      method: "POST",
      body: "{}",
    });
    const body = await rtc.json();
    assert.equal(body.status, "failed");
  } finally {
    await server.close();
  }
});

Deno.test("Stream: options are validated with clear errors", () => {
  const handler = new EchoHandler();
  assert.throws(
    () => new Stream({ handler: (() => {}) as never }),
    /needs a StreamHandler/,
  );
  assert.throws(
    () => new Stream({ handler, modality: "video" as never }),
    /not supported/,
  );
  assert.throws(
    () => new Stream({ handler, mode: "both" as never }),
    /Unknown mode/,
  );
  assert.throws(
    () => new Stream({ handler, concurrencyLimit: 0 }),
    /concurrencyLimit/,
  );
  assert.throws(() => new Stream({ handler, timeLimit: -1 }), /timeLimit/);
  assert.throws(
    () => new EchoHandler(new Journal(), { outputSampleRate: 22051 }),
    /multiple of 50/,
  );
  assert.throws(
    () => new EchoHandler(new Journal(), { inputSampleRate: 0 }),
    /Invalid inputSampleRate/,
  );
});

Deno.test("runner: an idle handler whose emit() returns null at once is not polled in a busy loop", async () => {
  let calls = 0;
  class Idle extends StreamHandler {
    receive(): void {}
    emit(): EmitType {
      calls++;
      return null;
    }
    copy(): Idle {
      return new Idle();
    }
  }
  const stream = new Stream({ handler: new Idle(), ...quiet });
  const server = serveStream(stream);
  try {
    const c = await TwilioTestClient.connect(
      `${server.wsUrl}/telephone/handler`,
    );
    await until(() => stream.activeCalls === 1, 2000, "call");
    const before = calls;
    const cpuBefore = performance.now();
    await new Promise((r) => setTimeout(r, 1000));
    const perSecond = (calls - before) * 1000 / (performance.now() - cpuBefore);
    // The runner backs off to one call per 20 ms: about 50 per second, where
    // a spinning loop would make hundreds of thousands.
    assert.ok(
      perSecond < 80,
      `${perSecond.toFixed(0)} emit() calls per second`,
    );
    assert.ok(
      perSecond > 10,
      `${perSecond.toFixed(0)} emit() calls per second`,
    );
    await c.close();
  } finally {
    await server.close();
  }
});
