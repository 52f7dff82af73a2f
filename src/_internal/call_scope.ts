/**
 * The async-local store of the call whose code is running. The handlers
 * layer puts each call's `CallContext` here (`runWithContext`) and reads it
 * back (`getCurrentContext`); layers below the handlers (speech's HTTP
 * clients) read only the part every layer may know: the reply's signal.
 *
 * Private to Parley.
 *
 * @module
 */

import { AsyncLocalStorage } from "node:async_hooks";

/** What any layer may read about the running call. */
export interface CallScope {
  /** Aborts on barge-in, at the end of the call or at its time limit. */
  readonly signal: AbortSignal;
}

/** The one store; the handlers layer keeps its `CallContext` in it. */
export const callStorage: AsyncLocalStorage<CallScope> = new AsyncLocalStorage<
  CallScope
>();

/**
 * The running reply's signal, or `undefined` outside a call.
 *
 * @example
 * ```ts ignore
 * await fetch(url, { signal: currentCallSignal() });
 * ```
 *
 * @returns The signal.
 */
export function currentCallSignal(): AbortSignal | undefined {
  return callStorage.getStore()?.signal;
}
