/**
 * Issue 13, items 1, 3 and 4 (fixed in the socket adapter before this file
 * was written; kept here so they stay fixed): a client that stops reading
 * is closed, a socket that never starts is closed, error replies and log
 * lines are rate-limited, log lines cannot be forged, and the size limit
 * counts UTF-8 bytes.
 */
import assert from "node:assert/strict";
import {
  createFastRtcWebSocketCodec,
  FrameBus,
  serveSocket,
} from "../../src/transports/mod.ts";

/** Just enough of a WebSocket for the adapter, with a settable backlog. */
class FakeSocket {
  readyState: number = WebSocket.OPEN;
  bufferedAmount = 0;
  binaryType = "blob";
  sent: unknown[] = [];
  closedWith: { code: number; reason: string } | null = null;
  onmessage: ((e: MessageEvent) => void) | null = null;
  onclose: ((e: CloseEvent) => void) | null = null;
  onerror: (() => void) | null = null;
  send(m: unknown) {
    this.sent.push(m);
  }
  close(code = 1000, reason = "") {
    if (this.closedWith) return;
    this.closedWith = { code, reason };
    this.readyState = WebSocket.CLOSED;
    queueMicrotask(() => this.onclose?.(new CloseEvent("close", { code })));
  }
  receive(data: string) {
    this.onmessage?.(new MessageEvent("message", { data }));
  }
}

function serve(socket: FakeSocket, extra: Record<string, unknown> = {}) {
  const problems: string[] = [];
  const done = serveSocket({
    socket: socket as unknown as WebSocket,
    codec: createFastRtcWebSocketCodec(),
    onProblem: (m) => problems.push(m),
    startCall: (call) => ({
      bus: new FrameBus({
        callId: call.callId,
        transportInputRate: 16000,
        transportOutputRate: 16000,
        handlerInputRate: 16000,
      }),
    }),
    ...extra,
  });
  return { problems, done };
}

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

Deno.test("socket limits: a socket that never starts is closed after startTimeoutMs", async () => {
  const socket = new FakeSocket();
  const { done } = serve(socket, { startTimeoutMs: 50 });
  const stats = await done;
  assert.deepEqual(socket.closedWith, {
    code: 1008,
    reason: "no start message",
  });
  assert.equal(stats.closedBy, "start_timeout");
});

Deno.test("socket limits: error replies and log lines are rate-limited, and a client that does not read is closed", async () => {
  const socket = new FakeSocket();
  const { problems, done } = serve(socket, {
    startTimeoutMs: 60_000,
    drainTimeoutMs: 100,
  });
  for (let i = 0; i < 2000; i++) socket.receive("x");
  await tick(10);
  assert.ok(socket.sent.length <= 25, `${socket.sent.length} replies sent`);
  assert.ok(problems.length <= 11, `${problems.length} log lines`);
  socket.close();
  await done;

  // A client that stops reading: nothing more is queued, then it is closed.
  const full = new FakeSocket();
  const second = serve(full, { startTimeoutMs: 60_000, drainTimeoutMs: 100 });
  full.bufferedAmount = 10 << 20;
  full.receive("x");
  await tick(150);
  full.receive(JSON.stringify({ event: "ping" }));
  await tick(10);
  assert.equal(full.sent.length, 0);
  assert.deepEqual(full.closedWith, {
    code: 1008,
    reason: "client is not reading",
  });
  assert.equal((await second.done).closedBy, "not_reading");
});

Deno.test("socket limits: log lines cannot be forged or coloured, and the size limit counts UTF-8 bytes", async () => {
  const socket = new FakeSocket();
  const { problems, done } = serve(socket, { startTimeoutMs: 60_000 });
  socket.receive(
    JSON.stringify({ event: "\n[parley] call x ended: done\u001b[31m" }),
  );
  // 600,000 characters, 1.2 MB of UTF-8: over the 1 MiB limit.
  socket.receive("é".repeat(600_000));
  await tick(10);
  assert.equal(problems.length, 2, problems.join("\n"));
  // deno-lint-ignore no-control-regex
  assert.ok(!/[\u0000-\u001f]/.test(problems[0]), problems[0]);
  assert.match(problems[1], /1200000 bytes exceeds the 1048576-byte limit/);
  socket.close();
  await done;
});
