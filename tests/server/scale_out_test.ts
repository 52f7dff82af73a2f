// Two server processes and a real Redis: a call held by A gets the input
// posted to B, its outputs stream from B's /outputs, and a global limit of
// 3 refuses the 4th call on either instance.
import assert from "node:assert/strict";
import { redisServerPath, startRedis } from "../support/redis.ts";

const haveRedis = redisServerPath() !== null;
if (!haveRedis) {
  console.log(
    "skipping the scale-out test: redis-server is not installed " +
      "(apt-get install redis-server; CI installs it)",
  );
}

async function startBot(env: Record<string, string>) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../support/scaleout_bot.ts", import.meta.url).pathname,
    ],
    env: { ...env, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.getReader();
  let text = "";
  while (!/PORT=(\d+)/.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`bot exited before listening: ${text}`);
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  child.stdout.cancel().catch(() => {});
  return {
    port: Number(text.match(/PORT=(\d+)/)![1]),
    async stop() {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

/** Starts a FastRTC WebSocket call; resolves with the first reply message. */
async function call(port: number, id: string) {
  const socket = new WebSocket(`ws://127.0.0.1:${port}/websocket/offer`);
  await new Promise((r, j) => {
    socket.onopen = r;
    socket.onerror = () => j(new Error("socket failed"));
  });
  const first = new Promise<Record<string, unknown>>((resolve) => {
    socket.onmessage = (e) => resolve(JSON.parse(e.data));
  });
  socket.send(JSON.stringify({ event: "start", websocket_id: id }));
  const reply = await first;
  return { socket, reply };
}

Deno.test({
  name:
    "scale-out over Redis: input via B reaches A's call, A's outputs read from B, a global limit of 3",
  ignore: !haveRedis,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const redis = await startRedis();
    const env = {
      REDIS_URL: redis.url,
      PREFIX: `t${crypto.randomUUID().slice(0, 8)}`,
    };
    const a = await startBot(env);
    const b = await startBot(env);
    const sockets: WebSocket[] = [];
    try {
      const one = await call(a.port, "call-1");
      sockets.push(one.socket);
      assert.equal(one.reply.event, "started");
      const token = one.reply.token as string;
      assert.equal(typeof token, "string");

      // B reads call-1's outputs (held by A) and takes its input.
      const outputs = await fetch(
        `http://127.0.0.1:${b.port}/outputs?webrtc_id=call-1&token=${token}`,
      );
      assert.equal(outputs.status, 200);
      const reader = outputs.body!.getReader();
      const posted = await fetch(`http://127.0.0.1:${b.port}/input_hook`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ webrtc_id: "call-1", token, args: ["from B"] }),
      });
      assert.equal(posted.status, 200);
      assert.deepEqual(await posted.json(), { status: "success" });
      let sse = "";
      const until = Date.now() + 10_000;
      while (!sse.includes("\n\n") && Date.now() < until) {
        const { value } = await reader.read();
        sse += new TextDecoder().decode(value);
      }
      assert.match(sse, /^event: output\ndata: \[\{"got":\["from B"\]\}\]/);
      await reader.cancel();

      // The limit counts calls on both instances.
      for (
        const [port, id] of [[b.port, "call-2"], [a.port, "call-3"]] as const
      ) {
        const c = await call(port, id);
        sockets.push(c.socket);
        assert.equal(c.reply.event, "started", id);
      }
      for (const port of [a.port, b.port]) {
        const refused = await call(port, `call-4-${port}`);
        sockets.push(refused.socket);
        assert.deepEqual(refused.reply, {
          status: "failed",
          meta: { error: "concurrency_limit_reached", limit: 3 },
        });
      }
      // Without the call's token B refuses, like an unknown id.
      const forged = await fetch(`http://127.0.0.1:${b.port}/input_hook`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ webrtc_id: "call-1", token: "x", args: [] }),
      });
      assert.equal(forged.status, 404);
      await forged.body?.cancel();
      // An unknown id is still unknown on every instance.
      const unknown = await fetch(`http://127.0.0.1:${b.port}/input_hook`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ webrtc_id: "nobody", args: [] }),
      });
      assert.equal(unknown.status, 404);
      await unknown.body?.cancel();
    } finally {
      for (const s of sockets) s.close();
      await a.stop();
      await b.stop();
      await redis.stop();
    }
  },
});
