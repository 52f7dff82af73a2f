// A bot process for the scale-out test: a Stream with a Redis control
// channel (REDIS_URL, PREFIX) and a global limit of 3. Its handler turns
// each input it is given into AdditionalOutputs, so an input posted to one
// instance and the outputs read from another cross the channel.
import {
  AdditionalOutputs,
  type AudioChunk,
  Stream,
  StreamHandler,
} from "../../mod.ts";
import { RedisControlChannel } from "../../src/server/control_channel.ts";

class InputsToOutputs extends StreamHandler {
  receive(_frame: AudioChunk): void {}
  async emit(): Promise<AdditionalOutputs> {
    await this.waitForArgs();
    const args = this.latestArgs.slice(1);
    this.reset();
    return new AdditionalOutputs({ got: args });
  }
  copy(): InputsToOutputs {
    return new InputsToOutputs();
  }
}

const control = await RedisControlChannel.connect({
  url: Deno.env.get("REDIS_URL")!,
  prefix: Deno.env.get("PREFIX")!,
});
const stream = new Stream({
  handler: new InputsToOutputs(),
  control,
  concurrencyLimit: 3,
  verbose: false,
});
stream.serve({
  port: 0,
  hostname: "127.0.0.1",
  handleSignals: false,
  onListen: (a) => console.log(`PORT=${a.port}`),
});
