/**
 * What a stranger's project downloads to run a Parley bot: each scenario
 * runs in a fresh folder with an empty deno.json and a fresh, empty
 * DENO_DIR (and model cache), imports Parley by path, takes one real-time
 * Twilio call where it is a bot (so lazily loaded packages are fetched too),
 * then reports the size of DENO_DIR and the model cache.
 *
 * ```sh
 * deno run -A bench/install_size.ts            # all scenarios
 * deno run -A bench/install_size.ts echo-wasm  # one
 * ```
 *
 * Needs the npm registry (it downloads into empty caches).
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { TwilioTestClient } from "../tests/support/twilio_client.ts";

const REPO = fileURLToPath(new URL("../", import.meta.url));
const JFK_8K = Deno.readFileSync(
  new URL("../tests/fixtures/jfk_8k.ulaw", import.meta.url),
);

interface Scenario {
  name: string;
  what: string;
  code: string;
  permissions: string[];
  call: boolean;
}

const serveLine = `stream.serve({ port: 0, hostname: "127.0.0.1",
  onListen: (a) => console.log("PORT=" + a.port) });`;

const SCENARIOS: Scenario[] = [
  {
    name: "echo-native",
    what: "echo bot, native VAD (onnxruntime-node)",
    code: `import { ReplyOnPause, Stream } from "${REPO}mod.ts";
const stream = new Stream({ handler: new ReplyOnPause(async function* (a) { yield a; }), verbose: false });
${serveLine}`,
    permissions: [
      "--allow-net",
      "--allow-env",
      "--allow-read",
      "--allow-ffi",
      "--allow-sys",
    ],
    call: true,
  },
  {
    name: "echo-wasm",
    what: "echo bot, Deno-Deploy-shaped (no FFI: WASM VAD)",
    code: `import { ReplyOnPause, Stream } from "${REPO}mod.ts";
const stream = new Stream({ handler: new ReplyOnPause(async function* (a) { yield a; }), verbose: false });
${serveLine}`,
    permissions: ["--allow-net", "--allow-env", "--allow-read"],
    call: true,
  },
  {
    name: "wake-word",
    what: 'wake-word bot ("hey jarvis", openWakeWord)',
    code: `import { ReplyOnStopWords, Stream } from "${REPO}mod.ts";
const stream = new Stream({ handler: new ReplyOnStopWords(async function* (a) { yield a; }, { stopWords: ["hey jarvis"] }), verbose: false });
${serveLine}`,
    permissions: ["--allow-all"],
    call: true,
  },
  {
    name: "llm-voice-chat",
    what: "LLM voice chat (Moonshine STT + Kokoro TTS stack loaded)",
    code: `import * as speech from "${REPO}src/speech/mod.ts";
import { loadPhonemizer, loadTransformers } from "${REPO}src/speech/_transformers.ts";
import { loadOrt } from "${REPO}src/_internal/ort.ts";
await loadTransformers();
await loadPhonemizer();
await loadOrt("node");
await speech.ensureModel("moonshine/base", { progress: false });
console.log("PORT=0");`,
    permissions: ["--allow-all"],
    call: false,
  },
];

async function du(path: string): Promise<number> {
  const out = await new Deno.Command("du", { args: ["-sb", path] }).output();
  return Number(new TextDecoder().decode(out.stdout).split("\t")[0]) || 0;
}

async function topPackages(denoDir: string): Promise<string> {
  const root = `${denoDir}/npm/registry.npmjs.org`;
  const rows: [string, number][] = [];
  try {
    for await (const pkg of Deno.readDir(root)) {
      const dirs = pkg.name.startsWith("@")
        ? [...Deno.readDirSync(`${root}/${pkg.name}`)].map((d) =>
          `${pkg.name}/${d.name}`
        )
        : [pkg.name];
      for (const d of dirs) rows.push([d, await du(`${root}/${d}`)]);
    }
  } catch {
    return "(no npm packages)";
  }
  rows.sort((a, b) => b[1] - a[1]);
  return rows.slice(0, 6).map(([n, s]) => `${n} ${mb(s)}`).join(", ");
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

async function run(s: Scenario): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: `parley-size-${s.name}-` });
  const denoDir = `${dir}/deno_dir`;
  const models = `${dir}/models`;
  await Deno.writeTextFile(`${dir}/deno.json`, "{}\n");
  await Deno.writeTextFile(`${dir}/bot.ts`, s.code);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...s.permissions, "bot.ts"],
    cwd: dir,
    env: { DENO_DIR: denoDir, PARLEY_MODELS_DIR: models, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const decoder = new TextDecoder();
  const port = await new Promise<number>((resolve, reject) => {
    const read = async (r: ReadableStream<Uint8Array>) => {
      for await (const c of r) {
        text += decoder.decode(c);
        const m = text.match(/PORT=(\d+)/);
        if (m) resolve(Number(m[1]));
      }
    };
    read(child.stdout);
    read(child.stderr);
    child.status.then((st) =>
      reject(new Error(`${s.name} exited ${st.code}:\n${text}`))
    );
  });
  if (s.call && port) {
    const client = await TwilioTestClient.connect(
      `ws://127.0.0.1:${port}/telephone/handler`,
    );
    await client.play(JFK_8K.subarray(0, 8000 * 3), { realtime: true });
    await client.play(new Uint8Array(8000 * 2).fill(0xff), { realtime: true });
    await client.close();
  }
  // Let lazy downloads finish: wait until both caches stop growing for 5 s
  // (at most 3 minutes).
  let last = -1;
  let stableSince = Date.now();
  const until = Date.now() + 180_000;
  while (Date.now() < until) {
    const now = (await du(denoDir)) + (await du(models).catch(() => 0));
    if (now !== last) {
      last = now;
      stableSince = Date.now();
    } else if (Date.now() - stableSince > 5000) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  try {
    child.kill("SIGKILL");
  } catch { /* exited */ }
  await child.status;
  const total = await du(denoDir);
  const cache = await du(models).catch(() => 0);
  const line = `| ${s.what} | ${mb(total)} | ${mb(cache)} | ${await topPackages(
    denoDir,
  )} |`;
  await Deno.remove(dir, { recursive: true });
  return line;
}

if (import.meta.main) {
  const wanted = Deno.args.length
    ? SCENARIOS.filter((s) => Deno.args.includes(s.name))
    : SCENARIOS;
  console.log("| scenario | DENO_DIR | model cache | largest npm packages |");
  console.log("| --- | --- | --- | --- |");
  for (const s of wanted) console.log(await run(s));
}
