import assert from "node:assert/strict";
import {
  BroadcastControlChannel,
  type ControlMessage,
  InProcessChannel,
  RedisControlChannel,
} from "../../src/server/control_channel.ts";
import { redisServerPath, startRedis } from "../support/redis.ts";

const tick = (ms = 30) => new Promise((r) => setTimeout(r, ms));

Deno.test("control channel, in process: limit, release, liveness", async () => {
  const c = new InProcessChannel();
  assert.equal(await c.acquire("a", 2), true);
  assert.equal(await c.acquire("b", 2), true);
  assert.equal(await c.acquire("c", 2), false);
  assert.equal(await c.isLive("a"), true);
  await c.release("a");
  assert.equal(await c.isLive("a"), false);
  assert.equal(await c.acquire("c", 2), true);
  assert.equal(await c.acquire("d", null), true);
  await c.close();
});

Deno.test("control channel, BroadcastChannel: two isolates' views share calls, messages and the limit", async () => {
  const name = `parley-test-${crypto.randomUUID()}`;
  const a = new BroadcastControlChannel({ name, announceMs: 100 });
  const b = new BroadcastControlChannel({ name, announceMs: 100 });
  try {
    const got: ControlMessage[] = [];
    b.subscribe((m) => got.push(m));
    assert.equal(await a.acquire("call-1", 2), true);
    assert.equal(await a.acquire("call-2", 2), true);
    await tick(60);
    assert.equal(await b.isLive("call-1"), true);
    assert.equal(await b.acquire("call-3", 2), false, "limit counts A's calls");
    await a.publish({ type: "input", callId: "call-1", args: [42] });
    await tick(60);
    assert.deepEqual(got, [{ type: "input", callId: "call-1", args: [42] }]);
    await a.release("call-1");
    await tick(60);
    assert.equal(await b.isLive("call-1"), false);
    assert.equal(await b.acquire("call-3", 2), true);
  } finally {
    await a.close();
    await b.close();
  }
});

const haveRedis = redisServerPath() !== null;
if (!haveRedis) {
  console.log(
    "skipping the Redis control-channel tests: redis-server is not installed " +
      "(apt-get install redis-server; CI installs it)",
  );
}

Deno.test({
  name:
    "control channel, Redis: a global limit across two instances, messages, expiry of a dead instance's calls",
  ignore: !haveRedis,
  fn: async () => {
    const redis = await startRedis();
    const prefix = `t${crypto.randomUUID().slice(0, 8)}`;
    const a = await RedisControlChannel.connect({ url: redis.url, prefix });
    const b = await RedisControlChannel.connect({ url: redis.url, prefix });
    try {
      const got: ControlMessage[] = [];
      a.subscribe((m) => got.push(m));
      assert.equal(await a.acquire("c1", 3), true);
      assert.equal(await b.acquire("c2", 3), true);
      assert.equal(await a.acquire("c3", 3), true);
      assert.equal(await b.acquire("c4", 3), false, "the 4th call is refused");
      assert.equal(await a.isLive("c2"), true);
      await b.publish({ type: "outputs", callId: "c1", args: ["hi"] });
      const until = Date.now() + 3000;
      while (got.length === 0 && Date.now() < until) await tick(20);
      assert.deepEqual(got, [{ type: "outputs", callId: "c1", args: ["hi"] }]);
      await b.release("c2");
      assert.equal(await a.isLive("c2"), false);
      assert.equal(await b.acquire("c4", 3), true);
      // An instance that dies (SIGKILL) loses its calls after their TTL.
      await b.release("c4");
      const script = `
        import { RedisControlChannel } from ${
        JSON.stringify(
          new URL("../../src/server/control_channel.ts", import.meta.url).href,
        )
      };
        const c = await RedisControlChannel.connect({ url: ${
        JSON.stringify(redis.url)
      }, prefix: ${JSON.stringify(prefix)}, callTtlSeconds: 1 });
        console.log(await c.acquire("ghost", 3) ? "READY" : "REFUSED");
        setInterval(() => {}, 1000);`;
      const child = new Deno.Command(Deno.execPath(), {
        args: ["eval", script],
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      const reader = child.stdout.getReader();
      const first = new TextDecoder().decode((await reader.read()).value);
      assert.match(first, /READY/);
      assert.equal(await a.isLive("ghost"), true);
      assert.equal(await a.acquire("c5", 3), false, "the ghost holds a slot");
      child.kill("SIGKILL");
      await child.status;
      reader.releaseLock();
      await child.stdout.cancel().catch(() => {});
      await tick(1300);
      assert.equal(await a.isLive("ghost"), false);
      assert.equal(await b.acquire("c5", 3), true, "the expired slot is free");
    } finally {
      await a.close();
      await b.close();
      await redis.stop();
    }
  },
});

Deno.test("control channel, Redis: an unreachable server gives an error that says what to do", async () => {
  const err = await RedisControlChannel.connect({ url: "redis://127.0.0.1:1" })
    .then(() => undefined, (e) => e as Error);
  assert.ok(err instanceof Error);
  assert.match(
    err.message,
    /Cannot connect to Redis at redis:\/\/127\.0\.0\.1:1/,
  );
  assert.match(err.message, /REDIS_URL/);
});
