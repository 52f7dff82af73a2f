/**
 * A CI-sized capacity run: the default echo bot (`deno task start`'s
 * stream, in its own process with the capacity probe) and 40 real-time
 * two-turn Twilio calls of real speech from this process. It checks
 * correctness under load — every turn answered with its own audio, no frame
 * lost either way — and never a timing.
 */
import assert from "node:assert/strict";
import { buildScripts, runPhoneLoad } from "../support/phone_load.ts";
import type { ProbeStats } from "../../bench/capacity_server.ts";

const CALLS = 40;

async function readUntil(
  reader: ReadableStreamDefaultReader<string>,
  found: Map<string, number>,
  want: string[],
): Promise<void> {
  let text = "";
  const deadline = performance.now() + 60_000;
  while (want.some((w) => !found.has(w))) {
    if (performance.now() > deadline) {
      throw new Error(`the server did not print ${want.join(", ")} in 60 s`);
    }
    const { value, done } = await reader.read();
    if (done) throw new Error(`the server exited early; it printed:\n${text}`);
    text += value;
    const app = text.match(/Parley listening on http:\/\/[^:]+:(\d+)/);
    if (app) found.set("app", Number(app[1]));
    const probe = text.match(/probe listening on (\d+)/);
    if (probe) found.set("probe", Number(probe[1]));
  }
}

Deno.test({
  name:
    "capacity: 40 simultaneous two-turn phone calls to the default echo bot, every turn echoed, no frame lost",
  async fn() {
    const server = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net",
        "--allow-env",
        "--allow-read",
        "--allow-ffi",
        "--allow-sys",
        new URL("../../bench/capacity_server.ts", import.meta.url).pathname,
      ],
      env: { PORT: "0", HOST: "127.0.0.1", PROBE_PORT: "0" },
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const reader = server.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    const drained = async () => {
      try {
        while (!(await reader.read()).done) {
          // keep the pipe flowing (the bot logs each call)
        }
      } catch {
        // the process is gone
      }
    };
    try {
      const ports = new Map<string, number>();
      await readUntil(reader, ports, ["app", "probe"]);
      const draining = drained();
      const probeUrl = `http://127.0.0.1:${ports.get("probe")}`;
      await (await fetch(`${probeUrl}/warm`)).text();
      const scripts = await buildScripts((name) =>
        Deno.readFile(new URL(`../fixtures/${name}`, import.meta.url))
      );
      const result = await runPhoneLoad({
        url: `ws://127.0.0.1:${ports.get("app")}/telephone/handler`,
        calls: CALLS,
        scripts,
        rampMs: 5000,
      });
      let probe: ProbeStats | undefined;
      for (let i = 0; i < 100; i++) {
        probe = await (await fetch(`${probeUrl}/stats`)).json();
        if (probe!.ended >= CALLS) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(probe!.ended, CALLS, "every call's handler shut down");
      for (const call of result.calls) {
        const sid = call.streamSid;
        assert.equal(call.failed, null, `call ${sid}: ${call.failed}`);
        const p = probe!.calls[sid];
        assert.ok(p, `call ${sid} reached the handler`);
        assert.equal(p.inputChunks, call.framesSent, `call ${sid}: frames in`);
        assert.equal(p.received, call.framesSent, `call ${sid}: frames heard`);
        assert.equal(p.droppedInputChunks, 0, `call ${sid}: frames dropped`);
        assert.equal(call.clears, 0, `call ${sid}: no barge-in`);
        assert.equal(
          call.framesReceived,
          p.outputFrames - p.flushedOutputFrames,
          `call ${sid}: every reply frame sent arrived`,
        );
        assert.equal(call.replies, call.turns.length, `call ${sid}: replies`);
        call.turns.forEach((turn, j) => {
          assert.ok(turn.answered, `call ${sid} turn ${j + 1} answered`);
          assert.ok(
            turn.correlation >= 0.9,
            `call ${sid} turn ${j + 1}: the reply is the turn's audio ` +
              `(envelope correlation ${turn.correlation.toFixed(3)})`,
          );
        });
      }
      server.kill("SIGTERM");
      await server.status;
      await draining;
    } finally {
      try {
        server.kill("SIGKILL");
      } catch {
        // already gone
      }
      await server.status;
    }
  },
});
