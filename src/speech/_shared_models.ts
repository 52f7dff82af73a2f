// Models loaded once per set of options and shared by every caller with the
// same options (getSttModel, getTtsModel). Private to the speech layer.

import { untilAborted } from "./_abortable.ts";

/** A loaded model and how to release it. */
export interface LoadedModel<M> {
  model: M;
  close(): Promise<void>;
}

/** One load per key; every caller with that key gets the same model. */
export class SharedModels<M> {
  #loads = new Map<string, Promise<LoadedModel<M>>>();

  /**
   * The model for `key`, loaded by `load` on the first call. Callers share
   * that load, so no caller's `signal` may cancel it: a signal only stops
   * its own caller's wait (rejecting with its reason). A failed load is
   * forgotten, so the next call tries again.
   */
  get(
    key: readonly (string | number)[],
    load: () => Promise<LoadedModel<M>>,
    signal?: AbortSignal,
  ): Promise<M> {
    const k = key.join("\0");
    let p = this.#loads.get(k);
    if (!p) {
      const started = load();
      started.catch(() => {
        if (this.#loads.get(k) === started) this.#loads.delete(k);
      });
      this.#loads.set(k, started);
      p = started;
    }
    return untilAborted(p.then((loaded) => loaded.model), signal);
  }

  /** Forgets every model and releases those that loaded. */
  async closeAll(): Promise<void> {
    const loading = [...this.#loads.values()];
    this.#loads.clear();
    await Promise.all(loading.map(async (p) => {
      const loaded = await p.catch(() => undefined);
      await loaded?.close();
    }));
  }
}
