// A stranger's project: a folder outside the repo with its own empty
// deno.json imports Parley (by local path, and by URL from a loopback file
// server over the checkout) and answers a Twilio Media Streams call. The URL
// bot runs with Deno Deploy's permissions only: no FFI, no write, no run, no
// sys — the VAD must fall back to WASM by itself and say so once.
import assert from "node:assert/strict";
import { relative } from "node:path";
import { fileURLToPath } from "node:url";
import { TwilioTestClient } from "../support/twilio_client.ts";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const JFK_8K = Deno.readFileSync(
  new URL("../fixtures/jfk_8k.ulaw", import.meta.url),
);

const BOT = (from: string) => `
import { ReplyOnPause, Stream } from "${from}";

const stream = new Stream({
  handler: new ReplyOnPause(async function* (audio) {
    yield audio;
  }),
  verbose: false,
});
stream.serve({
  port: 0,
  hostname: "127.0.0.1",
  onListen: (addr) => console.log("PORT=" + addr.port),
});
`;

const SERVE_ENTRY = (from: string) => `
import { ReplyOnPause, Stream } from "${from}";

export default new Stream({
  handler: new ReplyOnPause(async function* (audio) {
    yield audio;
  }),
  verbose: false,
});
`;

/** Serves the checkout over loopback HTTP, as a URL import would see it. */
function serveCheckout(): {
  port: number;
  requests: string[];
  close(): Promise<void>;
} {
  const requests: string[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (req) => {
      const path = decodeURIComponent(new URL(req.url).pathname);
      requests.push(path);
      if (path.includes("..")) return new Response("no", { status: 400 });
      try {
        const body = await Deno.readFile(REPO + path.slice(1));
        const type = path.endsWith(".ts")
          ? "application/typescript"
          : path.endsWith(".json")
          ? "application/json"
          : "application/octet-stream";
        return new Response(body, { headers: { "content-type": type } });
      } catch {
        return new Response("not found", { status: 404 });
      }
    },
  );
  return {
    port: server.addr.port,
    requests,
    close: () => server.shutdown(),
  };
}

interface Bot {
  port: number;
  stderr: () => string;
  stop(): Promise<void>;
}

/** Starts a deno subprocess and waits for the port it listens on. */
async function startBot(
  args: string[],
  cwd: string,
  portFrom: RegExp,
): Promise<Bot> {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const decoder = new TextDecoder();
  let out = "";
  let err = "";
  const port = new Promise<number>((resolve, reject) => {
    const read = async (
      stream: ReadableStream<Uint8Array>,
      onText: (t: string) => void,
    ) => {
      for await (const chunk of stream) onText(decoder.decode(chunk));
    };
    const check = () => {
      const m = (out + err).match(portFrom);
      if (m) resolve(Number(m[1]));
    };
    read(child.stdout, (t) => {
      out += t;
      check();
    });
    read(child.stderr, (t) => {
      err += t;
      check();
    });
    child.status.then((s) =>
      reject(
        new Error(`bot exited (${s.code}) before listening:\n${out}\n${err}`),
      )
    );
    setTimeout(
      () =>
        reject(new Error(`bot did not listen within 120 s:\n${out}\n${err}`)),
      120_000,
    );
  });
  return {
    port: await port,
    stderr: () => err,
    async stop() {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await child.status;
    },
  };
}

/** One Twilio call in real time: JFK's first ~4 s, then silence; waits for the echo. */
async function callAndHearEcho(port: number): Promise<number> {
  const client = await TwilioTestClient.connect(
    `ws://127.0.0.1:${port}/telephone/handler`,
  );
  try {
    await client.play(JFK_8K.subarray(0, 8000 * 4), { realtime: true });
    await client.play(new Uint8Array(8000 * 2).fill(0xff), { realtime: true });
    await client.waitFor(
      () => client.media.length >= 50,
      20_000,
      "the echo of the caller's speech",
    );
    const pcm = client.receivedPcm();
    let energy = 0;
    for (const s of pcm) energy += s * s;
    return Math.sqrt(energy / Math.max(1, pcm.length));
  } finally {
    await client.close();
  }
}

Deno.test({
  name:
    "packaging: a fresh project imports Parley by local path and by URL (Deploy permissions) and echoes a Twilio call",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "parley-stranger-" });
    assert.ok(!dir.startsWith(REPO), "the project is outside the repo");
    await Deno.writeTextFile(`${dir}/deno.json`, "{}\n");
    const pathImport = relative(dir, `${REPO}mod.ts`);
    await Deno.writeTextFile(
      `${dir}/bot_path.ts`,
      BOT(pathImport.startsWith(".") ? pathImport : `./${pathImport}`),
    );
    const files = serveCheckout();
    const bots: Bot[] = [];
    try {
      // (1) By local path, with the permissions the README's start task uses.
      const local = await startBot(
        [
          "run",
          "--allow-net",
          "--allow-env",
          "--allow-read",
          "--allow-ffi",
          "--allow-sys",
          "bot_path.ts",
        ],
        dir,
        /PORT=(\d+)/,
      );
      bots.push(local);
      const rmsLocal = await callAndHearEcho(local.port).catch((e) => {
        throw new Error(`${e.message}; bot stderr:\n${local.stderr()}`);
      });
      assert.ok(rmsLocal > 300, `echo by path is speech (rms ${rmsLocal})`);

      // (2) By URL, Deno-Deploy-shaped: net, env, read and the import host only.
      const base = `http://127.0.0.1:${files.port}`;
      await Deno.writeTextFile(`${dir}/bot_url.ts`, BOT(`${base}/mod.ts`));
      const remote = await startBot(
        [
          "run",
          "--allow-net",
          "--allow-env",
          "--allow-read",
          `--allow-import=127.0.0.1:${files.port}`,
          "bot_url.ts",
        ],
        dir,
        /PORT=(\d+)/,
      );
      bots.push(remote);
      const rmsRemote = await callAndHearEcho(remote.port);
      assert.ok(rmsRemote > 300, `echo by URL is speech (rms ${rmsRemote})`);
      assert.ok(
        files.requests.includes("/mod.ts"),
        "the bot loaded Parley from the file server",
      );
      assert.ok(
        files.requests.includes("/src/vad/models/silero_vad_v5.onnx"),
        `the Silero model came over HTTP: ${
          files.requests.filter((r) => !r.endsWith(".ts")).join(", ")
        }`,
      );
      const lines = remote.stderr().split("\n").filter((l) =>
        l.includes("no --allow-ffi")
      );
      assert.equal(lines.length, 1, remote.stderr());

      // (2b) A missing permission: the error names the flag and the feature.
      const noRead = await startBot(
        ["run", "--allow-net", "--allow-env", "bot_path.ts"],
        dir,
        /PORT=(\d+)/,
      );
      bots.push(noRead);
      const deadline = Date.now() + 30_000;
      while (
        !noRead.stderr().includes("could not load its models") &&
        Date.now() < deadline
      ) {
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.match(noRead.stderr(), /Silero VAD model/);
      assert.match(noRead.stderr(), /--allow-read=\S*silero_vad_v5\.onnx/);

      // (3) The `deno serve` entry: `export default stream`.
      await Deno.writeTextFile(
        `${dir}/serve.ts`,
        SERVE_ENTRY(`${base}/mod.ts`),
      );
      const served = await startBot(
        [
          "serve",
          "--port",
          "0",
          "--host",
          "127.0.0.1",
          "--allow-net",
          "--allow-env",
          "--allow-read",
          `--allow-import=127.0.0.1:${files.port}`,
          "serve.ts",
        ],
        dir,
        /Listening on https?:\/\/[^\s]*:(\d+)/,
      );
      bots.push(served);
      const rmsServed = await callAndHearEcho(served.port);
      assert.ok(rmsServed > 300, `echo under deno serve (rms ${rmsServed})`);
    } finally {
      for (const b of bots) await b.stop();
      await files.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
