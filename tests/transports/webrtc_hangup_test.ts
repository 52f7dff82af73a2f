// Issue 13 item 11: an audio-only WebRTC caller (no data channel) hangs up
// with RTCP BYE / DTLS close_notify; the call must end then, not ~28 s later
// at the ICE consent timeout. The caller is aiortc 1.4 (Python), an
// independent WebRTC stack.
import assert from "node:assert/strict";
import { Stream } from "../../src/server/stream.ts";
import { hasRtcpBye } from "../../src/transports/_rtcp_bye.ts";
import { createWebRtcEndpoint } from "../../src/transports/webrtc.ts";
import { EchoHandler, Journal } from "../support/handlers.ts";
import { serveStream, until } from "../support/server.ts";

const PYTHON = "/usr/bin/python3";
const script = new URL("../support/aiortc_caller.py", import.meta.url);

async function hasAiortc(): Promise<boolean> {
  try {
    const { code } = await new Deno.Command(PYTHON, {
      args: ["-c", "import aiortc"],
      stdout: "null",
      stderr: "null",
    }).output();
    return code === 0;
  } catch {
    return false;
  }
}

const aiortc = await hasAiortc();

for (const mode of ["close", "bye"] as const) {
  Deno.test({
    name: mode === "close"
      ? "webrtc: an audio-only aiortc caller's pc.close() (BYE + DTLS close) ends the call within 5 s"
      : "webrtc: an audio-only aiortc caller that stops its sender (RTCP BYE) ends the call within 5 s",
    ignore: !aiortc,
    sanitizeResources: false, // werift's UDP sockets close asynchronously
    sanitizeOps: false,
    async fn() {
      const journal = new Journal();
      const webrtc = createWebRtcEndpoint({ codecs: ["pcmu", "opus"] });
      const stream = new Stream({
        handler: new EchoHandler(journal),
        webrtc,
        verbose: false,
      });
      const server = serveStream(stream);
      const child = new Deno.Command(PYTHON, {
        args: [
          script.pathname,
          `${server.url}/webrtc/offer`,
          `py-${mode}`,
          mode,
        ],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const lines: string[] = [];
      const reading = (async () => {
        for await (
          const t of child.stdout.pipeThrough(new TextDecoderStream())
        ) lines.push(...t.split("\n").filter(Boolean));
      })();
      const stderr = new Response(child.stderr).text();
      const stdin = child.stdin.getWriter();
      try {
        await until(
          () =>
            lines.includes("CONNECTED") || lines.some((l) => /FAIL/.test(l)),
          30_000,
          "aiortc to connect",
        );
        assert.ok(lines.includes("CONNECTED"), lines.join("\n"));
        await until(() => journal.received > 10, 10_000, "caller audio");
        assert.equal(stream.activeCalls, 1);
        const t0 = performance.now();
        await stdin.write(new TextEncoder().encode("hangup\n"));
        await until(() => lines.includes("HUNGUP"), 10_000, "the hang-up");
        await until(
          () => stream.activeCalls === 0 && journal.shutdowns === 1,
          10_000,
          "the call to end",
        );
        const seconds = (performance.now() - t0) / 1000;
        assert.ok(seconds < 5, `call ended ${seconds.toFixed(2)} s after`);
        assert.equal(webrtc.connections, 0);
        console.log(
          `${mode}: call ended ${seconds.toFixed(2)} s after hang-up`,
        );
      } catch (e) {
        console.error(await Promise.race([stderr, Promise.resolve("")]));
        throw e;
      } finally {
        await stdin.close().catch(() => {});
        try {
          child.kill("SIGKILL");
        } catch {
          // Exited.
        }
        await child.status;
        await reading.catch(() => {});
        await stderr.catch(() => {});
        await server.close();
      }
    },
  });
}

Deno.test("hasRtcpBye: finds a BYE in a compound packet, ignores others and garbage", () => {
  // RR (PT 201, no report blocks) + BYE (PT 203, one SSRC).
  const rr = [0x80, 201, 0, 1, 1, 2, 3, 4];
  const bye = [0x81, 203, 0, 1, 1, 2, 3, 4];
  const sdes = [0x81, 202, 0, 2, 1, 2, 3, 4, 0, 0, 0, 0];
  assert.equal(hasRtcpBye(Uint8Array.from([...rr, ...bye])), true);
  assert.equal(hasRtcpBye(Uint8Array.from([...rr, ...sdes])), false);
  assert.equal(hasRtcpBye(Uint8Array.from([0x00, 203, 0, 0])), false);
  assert.equal(hasRtcpBye(new Uint8Array(0)), false);
  assert.equal(hasRtcpBye(Uint8Array.from([0x80, 201, 0xff, 0xff])), false);
});
