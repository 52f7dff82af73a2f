/**
 * Audio codecs of the WebRTC transport: Opus (48 kHz, preferred) and PCMU
 * (G.711 μ-law, 8 kHz, the fallback every WebRTC stack has), behind one
 * small interface, plus the choice of codec from a client's SDP offer.
 *
 * @module
 */

import { decodeMulaw, encodeMulaw } from "../audio/mulaw.ts";
import { createOpusCodec, type OpusCodecOptions } from "./opus.ts";

/** Codec names the WebRTC transport speaks. */
export type WebRtcCodecName = "opus" | "pcmu";

/** A per-call audio codec for RTP payloads. */
export interface RtpAudioCodec {
  /** Codec name. */
  readonly name: WebRtcCodecName;
  /** Rate of the PCM this codec takes and gives. */
  readonly sampleRate: number;
  /** RTP clock rate (timestamp units per second). */
  readonly clockRate: number;
  /** Encodes one frame of mono PCM16 at `sampleRate`. */
  encode(samples: Int16Array): Uint8Array;
  /** Decodes one RTP payload into mono PCM16 at `sampleRate`. */
  decode(payload: Uint8Array): Int16Array;
  /**
   * Stands in for one lost packet: Opus's packet loss concealment, or for
   * PCMU silence as long as the last packet decoded.
   */
  conceal(): Int16Array;
  /** Frees what the codec holds. */
  close(): void;
}

/** The codec picked from an offer. */
export interface OfferedCodec {
  /** Codec name. */
  name: WebRtcCodecName;
  /** The payload type the offer gave it. */
  payloadType: number;
}

/**
 * Makes a codec for one call.
 *
 * @example
 * ```ts
 * import { createRtpAudioCodec } from "@parley/parley/transports";
 * const pcmu = await createRtpAudioCodec("pcmu");
 * pcmu.encode(new Int16Array(160)).length; // 160
 * pcmu.close();
 * ```
 *
 * @param name `"opus"` or `"pcmu"`.
 * @param options Opus encoder settings.
 * @returns The codec.
 */
export async function createRtpAudioCodec(
  name: WebRtcCodecName,
  options: OpusCodecOptions = {},
): Promise<RtpAudioCodec> {
  if (name === "pcmu") {
    let lastLength = 160;
    return {
      name,
      sampleRate: 8000,
      clockRate: 8000,
      encode: (samples) => encodeMulaw(samples),
      decode: (payload) => {
        if (payload.length > 0) lastLength = payload.length;
        return decodeMulaw(payload);
      },
      conceal: () => new Int16Array(lastLength),
      close: () => {},
    };
  }
  if (name !== "opus") {
    throw new RangeError(`Unknown codec "${name}"; use "opus" or "pcmu"`);
  }
  const opus = await createOpusCodec(options);
  return {
    name,
    sampleRate: 48000,
    clockRate: 48000,
    encode: (samples) => opus.encode(samples),
    decode: (payload) => opus.decode(payload),
    conceal: () => opus.conceal(),
    close: () => opus.close(),
  };
}

/**
 * Picks the first codec of `preferences` that the offer's audio section
 * lists. Returns null when the offer has an audio section without a common
 * codec; throws a `SyntaxError` when the offer has no audio section at all.
 *
 * @example
 * ```ts
 * import { chooseOfferCodec } from "./webrtc_codec.ts";
 * const sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\na=rtpmap:111 opus/48000/2\r\n";
 * chooseOfferCodec(sdp, ["opus", "pcmu"]); // { name: "opus", payloadType: 111 }
 * ```
 *
 * @param sdp The offer's SDP.
 * @param preferences Codec names, most wanted first.
 * @returns The codec and its payload type, or null.
 */
export function chooseOfferCodec(
  sdp: string,
  preferences: readonly WebRtcCodecName[],
): OfferedCodec | null {
  const lines = sdp.split(/\r?\n/);
  const start = lines.findIndex((l) => l.startsWith("m=audio "));
  if (start < 0) {
    throw new SyntaxError(
      "The offer has no audio section; add a microphone track or a recvonly " +
        "audio transceiver before creating the offer",
    );
  }
  let end = lines.findIndex((l, i) => i > start && l.startsWith("m="));
  if (end < 0) end = lines.length;
  const formats = lines[start].trim().split(/\s+/).slice(3).map(Number);
  const found = new Map<WebRtcCodecName, number>();
  for (const line of lines.slice(start + 1, end)) {
    const m = /^a=rtpmap:(\d+) ([^/\s]+)\/(\d+)/.exec(line.trim());
    if (!m) continue;
    const pt = Number(m[1]);
    const name = m[2].toLowerCase();
    if (name === "opus" && m[3] === "48000" && !found.has("opus")) {
      found.set("opus", pt);
    }
    if (name === "pcmu" && m[3] === "8000" && !found.has("pcmu")) {
      found.set("pcmu", pt);
    }
  }
  // PCMU has static payload type 0 and may be listed without an rtpmap line.
  if (!found.has("pcmu") && formats.includes(0)) found.set("pcmu", 0);
  for (const name of preferences) {
    const pt = found.get(name);
    if (pt !== undefined && formats.includes(pt)) {
      return { name, payloadType: pt };
    }
  }
  return null;
}
