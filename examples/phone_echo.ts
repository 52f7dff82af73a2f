/**
 * A phone echo bot tuned for Twilio: 8 kHz in (no resampling for the VAD),
 * a spoken greeting, and DTMF logging.
 *
 * ```sh
 * TWILIO_AUTH_TOKEN=… deno run -A examples/phone_echo.ts
 * ```
 * Then set your Twilio number's voice webhook to
 * `https://YOUR_HOST/telephone/incoming` (POST).
 *
 * @module
 */
import { type AudioChunk, ReplyOnPause, Stream } from "../mod.ts";

class PhoneEcho extends ReplyOnPause {
  override onDtmf(digit: string): void {
    console.log(`[phone_echo] caller pressed ${digit}`);
  }
  override copy(): PhoneEcho {
    return new PhoneEcho(this.fn, this.options);
  }
}

const handler = new PhoneEcho(async function* (audio: AudioChunk) {
  yield audio;
}, { inputSampleRate: 8000, outputSampleRate: 8000 });

if (import.meta.main) {
  new Stream({
    handler,
    twilio: { say: "You are talking to the Parley echo bot." },
  }).serve();
}
