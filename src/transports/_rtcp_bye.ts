// Noticing an audio-only WebRTC caller's hang-up. A caller without a data
// channel says goodbye with an RTCP BYE (RFC 3550 §6.6) when its sender
// stops and a DTLS close_notify alert when its peer connection closes.
// werift 0.25 drops BYE packets while parsing RTCP and does not turn a
// closed DTLS transport into a closed connection, so without this the call
// would only end at the ICE consent timeout (~30 s).

/** RTCP packet type of BYE. */
const RTCP_BYE = 203;

/**
 * True when a (decrypted) compound RTCP packet contains a BYE. Walks the
 * packets by their length fields; stops at anything malformed.
 */
export function hasRtcpBye(packet: Uint8Array): boolean {
  let at = 0;
  while (at + 4 <= packet.length) {
    if (packet[at] >> 6 !== 2) return false; // not RTP version 2
    if (packet[at + 1] === RTCP_BYE) return true;
    const words = (packet[at + 2] << 8) | packet[at + 3];
    at += (words + 1) * 4;
  }
  return false;
}

/** The parts of werift's RTCDtlsTransport this module touches. */
interface DtlsTransportLike {
  onStateChange: {
    subscribe(f: (state: string) => void): { unSubscribe: () => void };
  };
  srtcp?: { decrypt(data: Uint8Array): Uint8Array };
}

/**
 * Calls `onEnd(reason)` when the caller closes its DTLS transport (state
 * `closed`/`failed`) or sends an RTCP BYE on it. Call it once the transport
 * is connected (SRTP keys exist). Returns the unsubscribers.
 */
export function watchCallerHangUp(
  transport: DtlsTransportLike,
  onEnd: (reason: string) => void,
): (() => void)[] {
  const offs = [
    transport.onStateChange.subscribe((state) => {
      if (state === "closed" || state === "failed") {
        onEnd(`caller's DTLS transport ${state}`);
      }
    }).unSubscribe,
  ];
  const srtcp = transport.srtcp;
  if (srtcp && typeof srtcp.decrypt === "function") {
    const decrypt = srtcp.decrypt;
    let ended = false;
    srtcp.decrypt = function (data: Uint8Array): Uint8Array {
      const plain = decrypt.call(this, data);
      if (!ended && hasRtcpBye(plain)) {
        ended = true;
        queueMicrotask(() => onEnd("caller sent RTCP BYE"));
      }
      return plain;
    };
    offs.push(() => {
      srtcp.decrypt = decrypt;
    });
  }
  return offs;
}
