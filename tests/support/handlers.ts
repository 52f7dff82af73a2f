/** Small handlers used by the server and transport tests. */
import {
  type AudioChunk,
  type EmitType,
  StreamHandler,
  type StreamHandlerOptions,
  waitForItem,
} from "../../mod.ts";
import { AsyncQueue } from "../../src/transports/mod.ts";

/** Shared record of what every copy of a handler saw. */
export class Journal {
  started = 0;
  shutdowns = 0;
  received = 0;
  dtmf: string[] = [];
  played: string[] = [];
  contexts: Record<string, unknown>[] = [];
}

/** Echoes every frame back; `#` on DTMF clears the queue, `m` marks. */
export class EchoHandler extends StreamHandler {
  readonly journal: Journal;
  #queue = new AsyncQueue<AudioChunk>();
  constructor(journal = new Journal(), options: StreamHandlerOptions = {}) {
    super({ inputSampleRate: 8000, outputSampleRate: 8000, ...options });
    this.journal = journal;
  }
  override startUp(): void {
    this.journal.started++;
    const c = this.context;
    this.journal.contexts.push({
      callId: c.callId,
      transport: c.transport,
      phoneMode: c.phoneMode,
      streamSid: c.streamSid,
      callSid: c.callSid,
      customParameters: c.customParameters,
    });
  }
  override shutdown(): void {
    this.journal.shutdowns++;
  }
  receive(frame: AudioChunk): void {
    this.journal.received++;
    this.#queue.put(frame);
  }
  async emit(): Promise<EmitType> {
    return await waitForItem(this.#queue, 50);
  }
  override onDtmf(digit: string): void {
    this.journal.dtmf.push(digit);
    if (digit === "#") this.clearQueue();
    if (digit === "*") this.bus.mark(`mark-${this.journal.dtmf.length}`);
  }
  override onPlayed(name: string): void {
    this.journal.played.push(name);
  }
  copy(): EchoHandler {
    return new EchoHandler(this.journal, {
      inputSampleRate: this.inputSampleRate,
      outputSampleRate: this.outputSampleRate,
    });
  }
}
