/**
 * Process shutdown: releasing models, and the SIGINT/SIGTERM handling that
 * `Stream.serve()` installs.
 *
 * @module
 */

import { runModelClosers } from "../_internal/model_closers.ts";
import { log } from "../_internal/log.ts";

/**
 * Releases every model Parley loaded in this process: Moonshine (STT) and
 * Kokoro (TTS) worker threads and ONNX sessions, Silero VAD sessions and
 * openWakeWord sessions. Only the kinds that were imported are touched, so a
 * phone bot does not load the speech stack to close it. Later calls that
 * need a model load it again.
 *
 * `Stream.serve()` calls it on SIGINT/SIGTERM. Call it yourself when you
 * handle signals (`serve({ handleSignals: false })`) or run the stream under
 * your own `Deno.serve`: worker threads keep a process alive.
 *
 * @example Your own signal handling
 * ```ts
 * import { ReplyOnPause, Stream } from "@parley/parley";
 * import { closeModels } from "@parley/parley/server";
 * const stream = new Stream({
 *   handler: new ReplyOnPause(async function* (audio) {
 *     yield audio;
 *   }),
 * });
 * const server = stream.serve({ port: 0, handleSignals: false });
 * Deno.addSignalListener("SIGTERM", async () => {
 *   await stream.close({ drainMs: 1000 }); // calls end, sockets get 1001
 *   await closeModels();
 *   await server.shutdown();
 *   Deno.exit(0);
 * });
 * await server.shutdown(); // (the example stops at once)
 * ```
 *
 * @param options `timeoutMs`: stop waiting after this long (default: wait
 *   until every model is released).
 * @returns Resolves when every model is released (or the timeout passed);
 *   rejects with an `AggregateError` naming the kinds that failed.
 */
export async function closeModels(
  options: { timeoutMs?: number } = {},
): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const work = runModelClosers();
  const failures = options.timeoutMs === undefined ? await work : await Promise
    .race([
      work,
      new Promise<[]>((r) =>
        timer = setTimeout(() => r([]), options.timeoutMs)
      ),
    ]);
  clearTimeout(timer);
  if (failures.length) {
    throw new AggregateError(
      failures.map((f) => f.error),
      `Could not release the ${
        failures.map((f) => f.name).join(", ")
      } models; the process may need to exit to free them`,
    );
  }
}

/** @internal Options of {@linkcode installShutdownSignals}. */
export interface ShutdownSignalOptions {
  /**
   * The graceful shutdown: drain, close sockets, release models, stop.
   * `left()` is the time until the deadline, in ms.
   */
  shutdown: (left: () => number) => Promise<void>;
  /** Exit anyway this long after the first signal (ms). */
  timeoutMs: number;
  /** Where the progress lines go (default `console.log`). */
  log?: (line: string) => void;
  /** How to exit (default `Deno.exit`); tests replace it. */
  exit?: (code: number) => void;
}

/**
 * @internal Installs SIGINT/SIGTERM listeners: the first signal runs
 * `shutdown()` then exits 0 (1 if it failed or outlived `timeoutMs`); a
 * second signal exits at once (130 for SIGINT, 143 for SIGTERM, as shells
 * report them). Returns a function that removes the listeners.
 */
export function installShutdownSignals(
  options: ShutdownSignalOptions,
): () => void {
  const say = options.log ?? ((line: string) => log.info(line));
  const exit = options.exit ?? ((code: number) => Deno.exit(code));
  let started = false;
  const listeners: [Deno.Signal, () => void][] = [];
  const onSignal = (signal: Deno.Signal) => {
    if (started) {
      say(`[parley] ${signal} again: exiting now`);
      exit(signal === "SIGINT" ? 130 : 143);
      return;
    }
    started = true;
    const deadlineAt = performance.now() + options.timeoutMs;
    const left = () => Math.max(0, deadlineAt - performance.now());
    say(
      `[parley] ${signal}: draining calls before exit (press Ctrl-C again ` +
        `to exit at once)`,
    );
    const deadline = setTimeout(() => {
      say(
        `[parley] shutdown did not finish within ${options.timeoutMs} ms; ` +
          `exiting`,
      );
      exit(1);
    }, options.timeoutMs);
    options.shutdown(left).then(
      () => {
        clearTimeout(deadline);
        exit(0);
      },
      (e) => {
        clearTimeout(deadline);
        log.error(
          `[parley] shutdown failed: ${e instanceof Error ? e.message : e}`,
        );
        exit(1);
      },
    );
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    const listener = () => onSignal(signal);
    try {
      Deno.addSignalListener(signal, listener);
      listeners.push([signal, listener]);
    } catch {
      // No signals here (Windows lacks SIGTERM; some hosts allow none).
    }
  }
  return () => {
    for (const [signal, listener] of listeners.splice(0)) {
      Deno.removeSignalListener(signal, listener);
    }
  };
}
