/**
 * Moves outbound frames from a call's bus to a socket in real time: paces
 * frames with a {@linkcode Pacer}, forwards marks, and drops a frame that was
 * already taken from the queue when an interrupt arrived.
 *
 * @module
 */

import type { FrameBus } from "../bus/frame_bus.ts";
import { sleep } from "../bus/sleep.ts";
import { Pacer } from "./pacer.ts";

/** Options of {@linkcode pumpOutput}. */
export interface PumpOutputOptions {
  /** The call's bus. */
  bus: FrameBus;
  /** Sends one frame of audio (at the bus's transport output rate). */
  sendAudio: (samples: Int16Array) => void;
  /**
   * Sends a mark after a reply. Without it, the pump itself reports the mark
   * as `played` once the audio before it has played (by the pacer's clock).
   */
  sendMark?: (name: string) => void;
  /** Called on each interrupt, after queued frames were dropped. */
  onInterrupt?: () => void;
  /** How far ahead of real time to send, in ms (default 80). */
  leadMs?: number;
}

/**
 * Runs until the bus closes.
 *
 * @example
 * ```ts
 * import { FrameBus } from "@parley/parley/transports";
 * import { pumpOutput } from "./output_pump.ts";
 * async function pump(bus: FrameBus, socket: WebSocket): Promise<void> {
 *   await pumpOutput({ bus, sendAudio: (pcm) => socket.send(pcm) });
 * }
 * ```
 *
 * @param options The bus and the socket callbacks.
 */
export async function pumpOutput(options: PumpOutputOptions): Promise<void> {
  const { bus } = options;
  const pacer = new Pacer({
    frameMs: bus.outputFrameSamples * 1000 / bus.transportOutputRate,
    leadMs: options.leadMs,
  });
  const off = bus.on("interrupt", () => {
    pacer.reset();
    options.onInterrupt?.();
  });
  try {
    while (true) {
      const item = await bus.readOutput();
      if (!item) return;
      if (item.kind === "mark") {
        if (options.sendMark) {
          options.sendMark(item.name);
        } else {
          // No playback report from the far end: the mark counts as played
          // once the audio sent before it has had time to play.
          await sleep(pacer.bufferedMs, bus.signal);
          if (!bus.closed) bus.emit({ type: "played", name: item.name });
        }
        continue;
      }
      await pacer.wait(bus.signal);
      if (bus.closed) return;
      if (item.epoch !== bus.outputEpoch) continue; // interrupted meanwhile
      options.sendAudio(item.samples);
    }
  } finally {
    off();
  }
}
