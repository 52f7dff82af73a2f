/**
 * Runs a handler on a FrameBus with no network: feed audio as fast as the
 * handler takes it, collect what it sends. For tests of handler logic.
 */
import type { StreamHandler } from "../../mod.ts";
import { type ClientMessage, FrameBus } from "../../src/transports/mod.ts";
import { runHandler } from "../../src/server/mod.ts";

export interface LocalCall {
  bus: FrameBus;
  /** The handler copy serving this call. */
  handler: StreamHandler;
  logs: string[];
  messages: ClientMessage[];
  outputSamples: number;
  /** Feeds audio at the bus's input rate in `chunk`-sample pieces. */
  feed(samples: Int16Array, chunk?: number): Promise<void>;
  end(): Promise<void>;
}

export function startLocalCall(
  handler: StreamHandler,
  options: { rate: number; phone?: boolean },
): LocalCall {
  const bus = new FrameBus({
    callId: `local-${crypto.randomUUID()}`,
    transportInputRate: options.rate,
    transportOutputRate: options.rate,
    handlerInputRate: handler.inputSampleRate,
  });
  const copy = handler.copy();
  const call: LocalCall = {
    bus,
    handler: copy,
    logs: [],
    messages: [],
    outputSamples: 0,
    async feed(samples, chunk = options.rate / 50) {
      for (let i = 0; i < samples.length; i += chunk) {
        bus.sendInput([
          options.rate,
          samples.subarray(i, Math.min(samples.length, i + chunk)),
        ]);
        // Let the handler keep up (VAD inferences are async).
        while (bus.inputQueued > 2) await new Promise((r) => setTimeout(r, 1));
      }
      while (bus.inputQueued > 0) await new Promise((r) => setTimeout(r, 1));
      await new Promise((r) => setTimeout(r, 20));
    },
    async end() {
      bus.close("test over");
      await done;
      await drain;
    },
  };
  bus.on("log", (e) => call.logs.push(e.data));
  bus.on("message", (e) => call.messages.push(e.message));
  const drain = (async () => {
    while (true) {
      const item = await bus.readOutput();
      if (!item) return;
      if (item.kind === "audio") call.outputSamples += item.samples.length;
      else bus.emit({ type: "played", name: item.name });
    }
  })();
  const done = runHandler({
    bus,
    handler: copy,
    transport: options.phone ? "twilio" : "local",
  });
  return call;
}
