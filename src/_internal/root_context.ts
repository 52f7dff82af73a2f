// Runs code in the process's root async context, outside any call.
//
// Why: in Deno (seen on 2.9.6), the first dynamic `import()` of a module
// started inside an AsyncLocalStorage context leaves that context installed
// as the root one: from then on unrelated work (another server's request
// handler, the next test) sees it, so `getCurrentContext()` outside a handler
// returned the first call's context and its aborted signal instead of
// throwing. Parley loads heavy packages lazily (onnxruntime for the VAD on a
// call's first turn, transformers.js, werift, …), often from inside a call;
// those imports go through `inRootContext`. The continuation after `await`
// still runs in the caller's context.
//
// The snapshot is taken when this module is evaluated, which happens in the
// static import graph of `mod.ts`, i.e. at startup in the root context.
// Private to Parley.

import { AsyncLocalStorage } from "node:async_hooks";

type Runner = <T>(fn: () => T) => T;

const snapshot: Runner | undefined = (
  AsyncLocalStorage as unknown as { snapshot?: () => Runner }
).snapshot?.();

/** Runs `fn` (typically a dynamic `import()`) in the root async context. */
export function inRootContext<T>(fn: () => T): T {
  return snapshot ? snapshot(fn) : fn();
}
