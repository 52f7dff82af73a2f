/**
 * The guard against werift's DTLS client re-running its handshake on a
 * retransmitted flight 4 (src/transports/_werift_dtls.ts), on a stand-in for
 * werift's RTCDtlsTransport and DtlsClient: the order of handshake messages
 * that broke calls under CPU load, replayed by hand.
 */
import assert from "node:assert/strict";
import { guardWeriftDtlsClient } from "../../src/transports/_werift_dtls.ts";

type Handshake = { msg_type: number };

/** A stand-in DtlsClient that records what reaches its handler. */
class FakeClient {
  sessionType = 1;
  connected = false;
  dtls: { lastMessage?: Uint8Array[] } = {};
  sent: Uint8Array[] = [];
  handled: number[][] = [];
  transport = {
    send: (buf: Uint8Array) => {
      this.sent.push(buf);
      return Promise.resolve();
    },
  };
  onHandleHandshakes = (assembled: Handshake[]): Promise<void> => {
    this.handled.push(assembled.map((h) => h.msg_type));
    if (assembled.some((h) => h.msg_type === 14)) {
      this.dtls.lastMessage = [new Uint8Array([5, 5])];
    }
    if (assembled.some((h) => h.msg_type === 20)) this.connected = true;
    return Promise.resolve();
  };
}

function fakeWerift(client: FakeClient) {
  class RTCDtlsTransport {
    dtls?: FakeClient;
    start(): Promise<void> {
      this.dtls = client;
      return Promise.resolve();
    }
  }
  return { RTCDtlsTransport };
}

const flight4 = [2, 11, 12, 13, 14].map((msg_type) => [{ msg_type }]);

async function feed(client: FakeClient, types: number[][]) {
  for (const t of types) {
    await client.onHandleHandshakes(t.map((msg_type) => ({ msg_type })));
  }
}

Deno.test("werift dtls: a retransmitted flight 4 resends flight 5 instead of a new handshake", async () => {
  const client = new FakeClient();
  const werift = fakeWerift(client);
  guardWeriftDtlsClient(werift);
  await new werift.RTCDtlsTransport().start();
  await feed(client, flight4.map((h) => h.map((x) => x.msg_type)));
  assert.deepEqual(client.handled, [[2], [11], [12], [13], [14]]);
  // The server did not get flight 5 in time and sends flight 4 again.
  await feed(client, [[2], [11], [12], [13], [14]]);
  assert.deepEqual(client.handled.length, 5, "no second handshake");
  assert.equal(client.sent.length, 1, "flight 5 resent once");
  assert.deepEqual([...client.sent[0]], [5, 5]);
  // The server's Finished still gets through, in a batch with a repeat too.
  await feed(client, [[14, 20]]);
  assert.deepEqual(client.handled.at(-1), [20]);
  assert.ok(client.connected);
  // After the handshake, repeats are dropped without a resend.
  await feed(client, [[2], [14]]);
  assert.equal(client.sent.length, 2, "one more resend for the [14, 20] batch");
  assert.equal(client.handled.length, 6);
});

Deno.test("werift dtls: the guard is installed once and leaves DTLS servers alone", async () => {
  const server = new FakeClient();
  server.sessionType = 2;
  const werift = fakeWerift(server);
  guardWeriftDtlsClient(werift);
  const wrapped = werift.RTCDtlsTransport.prototype.start;
  guardWeriftDtlsClient(werift);
  assert.equal(werift.RTCDtlsTransport.prototype.start, wrapped);
  await new werift.RTCDtlsTransport().start();
  await feed(server, [[2], [14], [2], [14]]);
  assert.equal(server.handled.length, 4);
  assert.equal(server.sent.length, 0);
  // A module without RTCDtlsTransport (another werift version) is ignored.
  guardWeriftDtlsClient({ RTCDtlsTransport: undefined });
});

Deno.test("werift dtls: werift still has the RTCDtlsTransport the guard wraps", async () => {
  // If werift renames what the guard relies on, this fails instead of the
  // guard silently doing nothing.
  const werift = await import("werift");
  const start = werift.RTCDtlsTransport.prototype.start;
  assert.equal(typeof start, "function");
  assert.match(String(start), /DtlsClient|start\.apply/);
});
