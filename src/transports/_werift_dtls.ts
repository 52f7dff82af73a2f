/**
 * A fix for werift's DTLS client (werift 0.25.2): a retransmitted flight 4
 * must not start a second handshake.
 *
 * When werift answers a browser's offer it is the DTLS client. Chromium, the
 * DTLS server, retransmits its flight 4 (ServerHello … ServerHelloDone) when
 * werift's flight 5 (ClientKeyExchange, ChangeCipherSpec, Finished) has not
 * arrived within its retransmission timer — about 50 ms on loopback, where
 * the ICE round trip is tiny. A busy CPU makes werift that slow. werift then
 * handles the copy as a new ServerHello: it makes a new key pair and, if the
 * server's Finished has been processed in the meantime (its "flight 5 twice"
 * guard only looks for flight 5, not 7), sends a second flight 5 and
 * replaces its keys. The browser keeps the first keys, so every SCTP and SRTP
 * packet fails to decrypt ("Unsupported state or unable to authenticate
 * data"): the browser's peer connection says "connected", the data channel
 * never opens, and werift ends the call after `connectTimeoutMs`.
 *
 * RFC 6347 §4.2.4: a retransmitted flight is answered by retransmitting the
 * last flight, never by processing it again. That is what this does: once a
 * ServerHelloDone has been handled, later flight-4 messages of the same
 * handshake are dropped, and a retransmitted ServerHelloDone makes werift
 * resend the flight 5 it already built (werift's own timer resends it too).
 * pion/dtls had the same defect (pion/dtls#1003, "Handle duplicated Flight 4").
 *
 * @module
 */

/** Handshake types of the server's flight 4 (RFC 5246 §7.4). */
const FLIGHT_4 = new Set([
  2, // server_hello
  11, // certificate
  12, // server_key_exchange
  13, // certificate_request
  14, // server_hello_done
]);
const SERVER_HELLO_DONE = 14;
const CLIENT_SESSION = 1;

/** The parts of werift's internal DTLS socket that the fix touches. */
interface DtlsSocketInternals {
  sessionType?: number;
  connected?: boolean;
  dtls?: { lastMessage?: Uint8Array[] };
  transport?: { send(buf: Uint8Array): Promise<unknown> };
  onHandleHandshakes?: (assembled: { msg_type: number }[]) => Promise<void>;
}

/** werift's `RTCDtlsTransport`, as far as the fix needs it. */
interface DtlsTransportClass {
  prototype: {
    start(this: { dtls?: unknown }, ...args: unknown[]): Promise<unknown>;
  };
}

const patched = new WeakSet<object>();

/**
 * Installs the fix on werift's `RTCDtlsTransport` (once per werift module).
 *
 * @example
 * ```ts ignore
 * import * as werift from "npm:werift@0.25.2";
 * guardWeriftDtlsClient(werift);
 * ```
 *
 * @param werift The werift module.
 */
export function guardWeriftDtlsClient(
  werift: { RTCDtlsTransport: unknown },
): void {
  const transport = werift.RTCDtlsTransport as DtlsTransportClass | undefined;
  const proto = transport?.prototype;
  if (!proto || typeof proto.start !== "function" || patched.has(proto)) {
    return;
  }
  patched.add(proto);
  const start = proto.start;
  proto.start = function (...args: unknown[]) {
    // start() creates its DtlsClient/DtlsServer synchronously, before its
    // first await; the handshake messages arrive later.
    const result = start.apply(this, args);
    guardSocket(this.dtls as DtlsSocketInternals | undefined);
    return result;
  };
}

/** Wraps one DTLS client socket's handshake handler. */
function guardSocket(socket: DtlsSocketInternals | undefined): void {
  if (!socket || socket.sessionType !== CLIENT_SESSION) return;
  const handle = socket.onHandleHandshakes;
  if (typeof handle !== "function") return;
  // Keyed by werift's per-handshake context, which a renegotiation replaces.
  const flight4Done = new WeakSet<object>();
  socket.onHandleHandshakes = (assembled) => {
    const context = socket.dtls;
    if (!context) return handle.call(socket, assembled);
    if (!flight4Done.has(context)) {
      if (assembled.some((h) => h.msg_type === SERVER_HELLO_DONE)) {
        flight4Done.add(context);
      }
      return handle.call(socket, assembled);
    }
    const repeated = assembled.filter((h) => FLIGHT_4.has(h.msg_type));
    if (repeated.length === 0) return handle.call(socket, assembled);
    const last = context.lastMessage;
    if (
      !socket.connected && last?.length && socket.transport &&
      repeated.some((h) => h.msg_type === SERVER_HELLO_DONE)
    ) {
      const send = socket.transport.send.bind(socket.transport);
      void Promise.all(last.map((buf) => send(buf))).catch(() => {});
    }
    const rest = assembled.filter((h) => !FLIGHT_4.has(h.msg_type));
    return rest.length ? handle.call(socket, rest) : Promise.resolve();
  };
}
