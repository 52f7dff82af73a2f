/**
 * The echo bot: repeats what you say after each pause.
 *
 * Run it with `deno task start` (PORT env, default 8000), then open
 * http://localhost:8000/ or point a Twilio number's voice webhook at
 * `https://YOUR_HOST/telephone/incoming`.
 *
 * @module
 */
import { createWebRtcEndpoint, ReplyOnPause, Stream } from "../mod.ts";

/** The echo handler: yields the caller's utterance back. */
export const echo: ReplyOnPause = new ReplyOnPause(async function* (audio) {
  yield audio;
});

/** The stream serving the echo bot on every route. */
export function createEchoStream(): Stream {
  return new Stream({
    handler: echo,
    modality: "audio",
    mode: "send-receive",
    webrtc: createWebRtcEndpoint(),
    uiArgs: { title: "Parley echo bot", subtitle: "Say something, then pause" },
  });
}

if (import.meta.main) {
  createEchoStream().serve();
}
