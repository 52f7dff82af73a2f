/**
 * A bot for the shutdown tests, run as a subprocess: `ReplyOnPause` that
 * transcribes each turn with Moonshine (worker thread) and answers with a
 * tone, served by `stream.serve()` so SIGINT/SIGTERM go through Parley's own
 * signal handling. It prints one line per event the test waits for:
 *
 * - `LISTENING <port>`, `READY` (models loaded and used once)
 * - `LOG <callId> <event>` (turn-taking log events)
 * - `REPLY <callId> <text>` (a turn was transcribed), `REPLY_DONE <callId>`
 * - `SHUTDOWN <callId>` (the handler's shutdown() ran)
 * - `ONSHUTDOWN` (serve's onShutdown hook ran)
 *
 * The call's custom parameter `reply` picks the reply length in ms.
 * Flags: `--hang` makes onShutdown never finish (to test the deadline and
 * the second signal); `--no-stt` skips Moonshine.
 */
import {
  type AudioChunk,
  getCurrentContext,
  ReplyOnPause,
  type ReplyOnPauseOptions,
  Stream,
} from "../../mod.ts";
import {
  createWakeWordDetector,
  getSttModel,
  getTtsModel,
} from "../../src/speech/mod.ts";
import { modelInCache } from "./models.ts";

const hang = Deno.args.includes("--hang");
const useStt = !Deno.args.includes("--no-stt") &&
  await modelInCache("moonshine/tiny");
const say = (line: string) => console.log(line);

const stt = useStt
  ? await getSttModel({ model: "moonshine/tiny", offline: true })
  : null;
// Use every model kind once, so their workers and sessions exist at exit.
if (stt) await stt.stt([16000, new Float32Array(16000)]);
if (await modelInCache("kokoro")) {
  const tts = await getTtsModel({ offline: true });
  await tts.tts("Hello.");
  say("TTS used");
}
const wake = await createWakeWordDetector({
  models: ["hey_jarvis"],
  source: { offline: true },
}).catch(() => null);
say(`MODELS stt=${Boolean(stt)} wake=${Boolean(wake)}`);

class Bot extends ReplyOnPause {
  constructor(options: ReplyOnPauseOptions) {
    super(async function* (audio: AudioChunk) {
      const { callId, customParameters } = getCurrentContext();
      const text = stt ? await stt.stt(audio) : "(no stt)";
      say(`REPLY ${callId} ${JSON.stringify(text)}`);
      const ms = Number(customParameters?.reply ?? 200);
      for (let t = 0; t < ms; t += 100) {
        yield [8000, new Int16Array(800).fill(t % 200 ? 3000 : -3000)];
      }
      say(`REPLY_DONE ${callId}`);
    }, options);
  }
  override async startUp(): Promise<void> {
    await super.startUp();
    const id = this.context.callId;
    this.bus.on("log", (e) => say(`LOG ${id} ${e.data}`));
  }
  override shutdown(): void {
    say(`SHUTDOWN ${this.context.callId}`);
    super.shutdown();
  }
  override copy(): Bot {
    return new Bot(this.options);
  }
}

const stream = new Stream({
  handler: new Bot({
    inputSampleRate: 8000,
    outputSampleRate: 8000,
    // Long enough that continuous speech stays one turn.
    turnOptions: { minSilenceMs: 2000 },
  }),
  verbose: false,
});
stream.serve({
  port: 0,
  hostname: "127.0.0.1",
  onListen: (addr) => say(`LISTENING ${addr.port}`),
  onShutdown: async () => {
    say("ONSHUTDOWN");
    if (hang) await new Promise(() => {});
  },
});
await stream.handler.warmUp();
say("READY");
