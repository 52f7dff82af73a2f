/**
 * End-to-end tests of the carrier routes (`/telephone/<carrier>/incoming`
 * and `/handler`) for Telnyx, Plivo, Vonage, Exotel and SignalWire: the
 * answer document is fetched (signed as the carrier signs it), the test
 * client written from the carrier's docs (tests/support/carrier_clients*.ts)
 * connects to the stream URL it names with the custom parameters it
 * carries, and talks in real time to an echo bot (`ReplyOnPause` yielding
 * the caller's turn). Signatures are made here from the carriers' docs
 * (Twilio's SDK for SignalWire's Twilio-compatible scheme), not with
 * Parley's checkers.
 */
import assert from "node:assert/strict";
import twilio from "twilio";
import { type AudioChunk, ReplyOnPause, Stream } from "../../mod.ts";
import {
  CARRIER_NAMES,
  type CarrierName,
  CarrierRoutes,
  type CarrierRoutesOptions,
} from "../../src/server/mod.ts";
import type { SocketStats } from "../../src/transports/mod.ts";
import {
  decodeWire,
  ExotelTestClient,
  TelnyxTestClient,
} from "../support/carrier_clients.ts";
import {
  PlivoTestClient,
  SignalWireTestClient,
  VonageTestClient,
} from "../support/carrier_clients_b.ts";
import { EchoHandler, Journal } from "../support/handlers.ts";
import { serveStream, type TestServer, until } from "../support/server.ts";
import { readFixture } from "../support/twilio_client.ts";

// ------------------------------------------------------------ helpers ---

/** What every test client offers (both client files share this shape). */
interface Client {
  readonly socket: WebSocket;
  readonly audio: { at: number; samples: Int16Array }[];
  clears: number;
  closeCode: number;
  readonly closed: Promise<void>;
  play(pcm: Int16Array, options?: { realtime?: boolean }): Promise<void>;
  dtmf(digit: string): void;
  receivedPcm(): Int16Array;
  waitFor(p: () => boolean, timeoutMs?: number, what?: string): Promise<void>;
  close(): Promise<void>;
}

/** What the answer document told the carrier. */
interface Answer {
  streamUrl: string;
  params: Record<string, string>;
  /** SignalWire's `authBearerToken`. */
  bearer?: string;
}

/** Everything a test needs to know about one carrier. */
interface Carrier {
  name: CarrierName;
  /** Rate of the audio on the wire both ways. */
  rate: number;
  /** The route options with a credential set. */
  secured: CarrierRoutesOptions;
  /** A webhook request the way the carrier sends it. */
  webhook: { method: "GET" | "POST"; body?: string; type?: string };
  /** Valid signature headers for the request (URL as the carrier saw it). */
  sign(url: string, body: string): Promise<Record<string, string>>;
  /** Headers of a forged request (wrong key or wrong signature). */
  forge(url: string, body: string): Promise<Record<string, string>>;
  /** Reads the stream URL and parameters from the answer. */
  parse(text: string): Answer;
  /** Connects the carrier's client as the answer says. */
  connect(answer: Answer, url?: string): Promise<Client>;
}

const enc = new TextEncoder();

function b64(bytes: ArrayBuffer | Uint8Array): string {
  return btoa(String.fromCharCode(...new Uint8Array(bytes)));
}

function b64url(bytes: ArrayBuffer | Uint8Array): string {
  return b64(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

async function hmac(hash: string, key: string, data: string) {
  const k = await crypto.subtle.importKey(
    "raw",
    enc.encode(key),
    { name: "HMAC", hash },
    false,
    ["sign"],
  );
  return new Uint8Array(await crypto.subtle.sign("HMAC", k, enc.encode(data)));
}

function unxml(text: string): string {
  return text.replace(/&quot;/g, '"').replace(/&apos;/g, "'")
    .replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

/** `<Parameter name value/>` elements of a TeXML/cXML document. */
function xmlParameters(xml: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (
    const m of xml.matchAll(/<Parameter name="([^"]*)" value="([^"]*)"\/>/g)
  ) {
    out[unxml(m[1])] = unxml(m[2]);
  }
  return out;
}

function xmlAttr(xml: string, name: string): string | undefined {
  const m = new RegExp(`<Stream[^>]* ${name}="([^"]*)"`).exec(xml);
  return m ? unxml(m[1]) : undefined;
}

const telnyxKeys = await crypto.subtle.generateKey(
  { name: "Ed25519" },
  true,
  ["sign", "verify"],
) as CryptoKeyPair;
const otherKeys = await crypto.subtle.generateKey(
  { name: "Ed25519" },
  true,
  ["sign", "verify"],
) as CryptoKeyPair;
const telnyxPublicKey = b64(
  await crypto.subtle.exportKey("raw", telnyxKeys.publicKey),
);

/** Telnyx: Ed25519 over `timestamp|body`, base64 (Telnyx webhook docs). */
async function telnyxHeaders(keys: CryptoKeyPair, body: string) {
  const ts = String(Math.floor(Date.now() / 1000));
  const sig = await crypto.subtle.sign(
    "Ed25519",
    keys.privateKey,
    enc.encode(`${ts}|${body}`),
  );
  return { "telnyx-signature-ed25519": b64(sig), "telnyx-timestamp": ts };
}

/**
 * Plivo V3 for a POST to a URL without a query string (Plivo's signature
 * docs): base64 HMAC-SHA256 of `url?` + the form fields sorted by name as
 * `namevalue` + `.` + nonce.
 */
async function plivoHeaders(token: string, url: string, body: string) {
  const fields = [...new URLSearchParams(body)].sort(([a], [b]) =>
    a < b ? -1 : a > b ? 1 : 0
  );
  const nonce = String(Math.floor(Math.random() * 1e12));
  const signed = `${url}?${fields.map(([k, v]) => k + v).join("")}.${nonce}`;
  return {
    "x-plivo-signature-v3": b64(await hmac("SHA-256", token, signed)),
    "x-plivo-signature-v3-nonce": nonce,
  };
}

/** Vonage: `Authorization: Bearer` HS256 JWT with the body's SHA-256. */
async function vonageHeaders(secret: string, body: string) {
  const hash = Array.from(
    new Uint8Array(await crypto.subtle.digest("SHA-256", enc.encode(body))),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
  const head = b64url(enc.encode(JSON.stringify({ alg: "HS256", typ: "JWT" })));
  const claims = b64url(enc.encode(JSON.stringify({
    iat: Math.floor(Date.now() / 1000),
    jti: crypto.randomUUID(),
    api_key: "abcd1234",
    application_id: crypto.randomUUID(),
    payload_hash: hash,
  })));
  const sig = b64url(await hmac("SHA-256", secret, `${head}.${claims}`));
  return { authorization: `Bearer ${head}.${claims}.${sig}` };
}

const form = (fields: Record<string, string>) =>
  new URLSearchParams(fields).toString();
const FORM = "application/x-www-form-urlencoded";

const CARRIERS: Carrier[] = [
  {
    name: "telnyx",
    rate: 8000,
    secured: { telnyx: { publicKey: telnyxPublicKey } },
    webhook: {
      method: "POST",
      type: FORM,
      body: form({
        CallSid: "v3:abc",
        From: "+13125550100",
        To: "+13125550111",
      }),
    },
    sign: (_url, body) => telnyxHeaders(telnyxKeys, body),
    forge: (_url, body) => telnyxHeaders(otherKeys, body),
    parse: (xml) => ({
      streamUrl: xmlAttr(xml, "url")!,
      params: xmlParameters(xml),
    }),
    connect: async (a, url) =>
      await TelnyxTestClient.connect(url ?? a.streamUrl, {
        customParameters: a.params,
      }) as unknown as Client,
  },
  {
    name: "plivo",
    rate: 8000,
    secured: { plivo: { authToken: "plivo-auth-token-0123456789" } },
    webhook: {
      method: "POST",
      type: FORM,
      body: form({
        CallUUID: "c0a8-01",
        From: "14155550100",
        To: "14155550111",
      }),
    },
    sign: (url, body) => plivoHeaders("plivo-auth-token-0123456789", url, body),
    forge: (url, body) => plivoHeaders("not-the-token", url, body),
    parse: (xml) => {
      const m = /<Stream([^>]*)>([^<]*)<\/Stream>/.exec(xml)!;
      const params: Record<string, string> = {};
      const extra = /extraHeaders="([^"]*)"/.exec(m[1])?.[1] ?? "";
      for (const pair of extra.split(",").filter(Boolean)) {
        const [k, v] = pair.split("=");
        params[k] = v;
      }
      assert.match(m[1], /bidirectional="true"/);
      return { streamUrl: unxml(m[2]), params };
    },
    connect: async (a, url) =>
      await PlivoTestClient.connect(url ?? a.streamUrl, {
        extraHeaders: a.params,
      }) as unknown as Client,
  },
  {
    name: "vonage",
    rate: 16000,
    secured: { vonage: { signatureSecret: "vonage-signature-secret" } },
    webhook: {
      method: "POST",
      type: "application/json",
      body: JSON.stringify({
        uuid: "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
        conversation_uuid: "CON-aaaa",
        from: "447700900000",
        to: "447700900001",
      }),
    },
    sign: (_url, body) => vonageHeaders("vonage-signature-secret", body),
    forge: (_url, body) => vonageHeaders("wrong-secret", body),
    parse: (json) => {
      const ncco = JSON.parse(json);
      const connect = ncco.find((a: { action: string }) =>
        a.action === "connect"
      );
      const endpoint = connect.endpoint[0];
      assert.equal(endpoint.type, "websocket");
      assert.equal(endpoint["content-type"], "audio/l16;rate=16000");
      return { streamUrl: endpoint.uri, params: endpoint.headers ?? {} };
    },
    connect: async (a, url) =>
      await VonageTestClient.connect(url ?? a.streamUrl, {
        rate: 16000,
        headers: a.params,
      }) as unknown as Client,
  },
  {
    name: "exotel",
    rate: 8000,
    secured: { exotel: { apiKey: "exokey", apiToken: "exo-token" } },
    webhook: { method: "GET" },
    sign: () =>
      Promise.resolve({ authorization: `Basic ${btoa("exokey:exo-token")}` }),
    forge: () =>
      Promise.resolve({ authorization: `Basic ${btoa("exokey:guess")}` }),
    parse: (json) => {
      const url = new URL(JSON.parse(json).url);
      const params = Object.fromEntries(url.searchParams);
      return { streamUrl: url.href, params };
    },
    connect: async (a, url) =>
      await ExotelTestClient.connect(url ?? a.streamUrl, {
        customParameters: a.params,
      }) as unknown as Client,
  },
  {
    name: "signalwire",
    rate: 8000,
    secured: { signalwire: { signingKey: "PSKsignalwire0123" } },
    webhook: {
      method: "POST",
      type: FORM,
      body: form({
        CallSid: "76ac3c36-56da-4a3e-a0d6-b5f8df6da9ad",
        From: "+15550100",
        To: "+15550111",
      }),
    },
    sign: (url, body) =>
      Promise.resolve({
        "x-signalwire-signature": twilio.getExpectedTwilioSignature(
          "PSKsignalwire0123",
          url,
          Object.fromEntries(new URLSearchParams(body)),
        ),
      }),
    forge: (url, body) =>
      Promise.resolve({
        "x-signalwire-signature": twilio.getExpectedTwilioSignature(
          "PSKother",
          url,
          Object.fromEntries(new URLSearchParams(body)),
        ),
      }),
    parse: (xml) => ({
      streamUrl: xmlAttr(xml, "url")!,
      params: xmlParameters(xml),
      bearer: xmlAttr(xml, "authBearerToken"),
    }),
    connect: async (a, url) =>
      await SignalWireTestClient.connect(url ?? a.streamUrl, {
        customParameters: a.params,
        headers: a.bearer ? { authorization: `Bearer ${a.bearer}` } : undefined,
      }) as unknown as Client,
  },
];

/** Fetches the answer document, signed unless `sign` is false. */
async function answer(
  server: TestServer,
  c: Carrier,
  options: {
    headers?: Record<string, string>;
    sign?: boolean;
    /** The URL the carrier saw (for signatures behind a proxy). */
    publicUrl?: string;
    body?: string;
  } = {},
): Promise<Response> {
  const url = `${server.url}/telephone/${c.name}/incoming`;
  const body = options.body ?? c.webhook.body ?? "";
  const headers: Record<string, string> = { ...options.headers };
  if (c.webhook.type) headers["content-type"] = c.webhook.type;
  if (options.sign ?? true) {
    Object.assign(headers, await c.sign(options.publicUrl ?? url, body));
  }
  return await fetch(url, {
    method: c.webhook.method,
    headers,
    body: c.webhook.method === "POST" ? body : undefined,
  });
}

/** μ-law fixture → PCM16 with the clients' own (alawmulaw) μ-law. */
async function fixture(name: string, seconds?: number): Promise<Int16Array> {
  const bytes = await readFixture(name);
  return decodeWire(
    seconds === undefined ? bytes : bytes.subarray(0, 8000 * seconds),
    "PCMU",
  );
}

/** 8 kHz → `rate` by linear interpolation (what the test client sends). */
function toRate(pcm: Int16Array, rate: number): Int16Array {
  if (rate === 8000) return pcm;
  const k = rate / 8000;
  const out = new Int16Array(Math.floor(pcm.length * k));
  for (let i = 0; i < out.length; i++) {
    const x = i / k, j = Math.floor(x), f = x - j;
    out[i] = Math.round(pcm[j] * (1 - f) + (pcm[j + 1] ?? pcm[j]) * f);
  }
  return out;
}

function concat(...parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) (out.set(p, o), o += p.length);
  return out;
}

/**
 * Best normalized correlation of `got` against `want` over lags from
 * `-maxLag` to `maxLag` (got[i] ≈ want[i + lag]), on `step`-decimated
 * lags first, then refined.
 */
function correlate(want: Int16Array, got: Int16Array, maxLag: number) {
  const at = (lag: number) => {
    let ab = 0, aa = 0, bb = 0;
    for (let i = 0; i < got.length; i++) {
      const j = i + lag;
      if (j < 0 || j >= want.length) continue;
      ab += want[j] * got[i];
      aa += want[j] * want[j];
      bb += got[i] * got[i];
    }
    return ab / Math.sqrt(aa * bb + 1e-9);
  };
  let best = { lag: 0, corr: -Infinity };
  for (let lag = -maxLag; lag <= maxLag; lag += 4) {
    const corr = at(lag);
    if (corr > best.corr) best = { lag, corr };
  }
  for (let lag = best.lag - 4; lag <= best.lag + 4; lag++) {
    const corr = at(lag);
    if (corr > best.corr) best = { lag, corr };
  }
  return best;
}

/** The echo bot of the brief, recording DTMF and the call context. */
class EchoBot extends ReplyOnPause {
  constructor(readonly journal: Journal) {
    super(async function* (audio: AudioChunk) {
      yield audio;
    });
  }
  override async startUp(): Promise<void> {
    await super.startUp();
    const c = this.context;
    this.journal.contexts.push({
      transport: c.transport,
      phoneMode: c.phoneMode,
      streamSid: c.streamSid,
      customParameters: c.customParameters,
    });
  }
  override onDtmf(digit: string): void {
    this.journal.dtmf.push(digit);
  }
  override onPlayed(name: string): void {
    this.journal.played.push(name);
    super.onPlayed(name);
  }
  override copy(): EchoBot {
    return new EchoBot(this.journal);
  }
}

const quiet = { verbose: false } as const;

// -------------------------------------------------------------- calls ---

for (const c of CARRIERS) {
  Deno.test({
    name: `${c.name}: a signed answer leads to a real-time echo call: ` +
      `echo correlates, barge-in clears, DTMF reaches the handler`,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const journal = new Journal();
      const stats: SocketStats[] = [];
      const stream = new Stream({
        handler: new EchoBot(journal),
        carriers: {
          ...c.secured,
          parameters: () => ({ tenant: "acme" }),
          onSocketStats: (_name, s) => stats.push(s),
        },
        ...quiet,
      });
      const server = serveStream(stream);
      try {
        const t0 = performance.now();
        const res = await answer(server, c);
        assert.equal(res.status, 200);
        const doc = c.parse(await res.text());
        const port = new URL(server.url).port;
        assert.equal(
          doc.streamUrl.replace(/\/\/[^@/]*@/, "//"),
          `ws://127.0.0.1:${port}/telephone/${c.name}/handler` +
            (c.name === "exotel" ? "?tenant=acme" : ""),
        );
        assert.equal(doc.params.tenant, "acme");

        const client = await c.connect(doc);
        const rate = c.rate;
        const turn = toRate(await fixture("turns_8k.ulaw", 2.1), rate);
        const interrupt = toRate(await fixture("interrupt_8k.ulaw"), rate);
        const silence = (ms: number) => new Int16Array(rate * ms / 1000);
        // Turn 1, then a pause: the echo starts.
        await client.play(concat(turn, silence(800)), { realtime: true });
        await client.waitFor(
          () => client.audio.length >= 10,
          5000,
          "the echo of turn 1",
        );
        await until(() => journal.contexts.length === 1, 1000, "context");
        // Talk over the echo: barge-in flushes it.
        let clearIndex = -1;
        const cleared = client.waitFor(
          () => client.clears > 0,
          6000,
          "barge-in clear",
        ).then(() => (clearIndex = client.audio.length));
        await client.play(concat(interrupt, silence(1200)), { realtime: true });
        await cleared;
        const before = client.audio.slice(0, clearIndex)
          .reduce((n, a) => n + a.samples.length, 0);
        assert.ok(
          before < turn.length * 0.8,
          `barge-in flushed the echo: ${before} of ${turn.length} samples played`,
        );
        // The interruption is a turn of its own: its echo plays in full.
        const after = () =>
          client.audio.slice(clearIndex).reduce(
            (n, a) => n + a.samples.length,
            0,
          );
        await client.waitFor(
          () => after() >= interrupt.length * 0.9,
          8000,
          "the echo of the interruption",
        );
        const echo = concat(
          ...client.audio.slice(clearIndex).map((a) => a.samples),
        );
        const { corr, lag } = correlate(interrupt, echo, rate);
        const first = concat(
          ...client.audio.slice(0, clearIndex).map((a) => a.samples),
        );
        const early = correlate(turn, first, rate);
        console.log(
          `${c.name}: echo correlation ${corr.toFixed(3)} (lag ${lag}), ` +
            `flushed echo ${early.corr.toFixed(3)}; ${before} samples ` +
            `before the clear; ${
              ((performance.now() - t0) / 1000).toFixed(1)
            } s`,
        );
        assert.ok(corr > 0.9, `echo correlation ${corr}`);
        assert.ok(early.corr > 0.8, `flushed echo correlation ${early.corr}`);

        // The carrier reports the reply's mark / checkpoint / notify as
        // played once its audio has gone out; the flushed reply's never.
        await until(() => journal.played.length >= 1, 3000, "played mark");
        assert.equal(journal.played.length, 1, journal.played.join());

        client.dtmf("7");
        await until(() => journal.dtmf.includes("7"), 2000, "dtmf");
        assert.deepEqual(journal.contexts[0], {
          transport: c.name,
          phoneMode: true,
          streamSid: journal.contexts[0].streamSid,
          // Vonage hands back every NCCO header: the answer put the call's
          // uuid there, so the stream id is the call's.
          customParameters: c.name === "vonage"
            ? { tenant: "acme", uuid: "aaaaaaaa-bbbb-cccc-dddd-0123456789ab" }
            : { tenant: "acme" },
        });
        assert.ok(journal.contexts[0].streamSid);
        await client.close();
        await until(() => stats.length === 1, 3000, "socket stats");
        assert.equal(stats[0].rejected, 0);
        assert.ok(stats[0].clears >= 1);
        assert.ok(stats[0].marksOut >= 1);
        assert.ok(stats[0].audioIn > 200);
        await until(() => stream.activeCalls === 0, 3000, "call end");
      } finally {
        await server.close();
      }
    },
  });
}

// --------------------------------------------------------- signatures ---

for (const c of CARRIERS) {
  Deno.test(`${c.name}: signatures accepted / forged / missing → 200 / 403 / 403; the socket must carry this server's answer`, async () => {
    const journal = new Journal();
    const problems: string[] = [];
    const warn = console.warn;
    console.warn = (...args: unknown[]) => problems.push(args.join(" "));
    const stream = new Stream({
      handler: new EchoHandler(journal),
      carriers: c.secured,
      // The test's proxy part sends X-Forwarded-* (believed only with this).
      trustProxy: true,
      ...quiet,
    });
    const server = serveStream(stream);
    try {
      const ok = await answer(server, c);
      assert.equal(ok.status, 200);
      const doc = c.parse(await ok.text());

      const forged = await answer(server, c, {
        sign: false,
        headers: await c.forge(
          `${server.url}/telephone/${c.name}/incoming`,
          c.webhook.body ?? "",
        ),
      });
      assert.equal(forged.status, 403, await forged.text());
      const missing = await answer(server, c, { sign: false });
      assert.equal(missing.status, 403, await missing.text());
      if (c.webhook.method === "POST") {
        // The signature covers the body: a tampered body is refused.
        const url = `${server.url}/telephone/${c.name}/incoming`;
        const headers = await c.sign(url, c.webhook.body!);
        const tampered = await fetch(url, {
          method: "POST",
          headers: { ...headers, "content-type": c.webhook.type! },
          body: c.webhook.body! +
            (c.webhook.type === FORM ? "&Forged=1" : " "),
        });
        assert.equal(tampered.status, 403);
        await tampered.body?.cancel();
      }

      // Behind a proxy: signed over the public URL, answers wss://public.
      const proxied = await answer(server, c, {
        headers: {
          "x-forwarded-proto": "https",
          "x-forwarded-host": "bot.example.com",
        },
        publicUrl: `https://bot.example.com/telephone/${c.name}/incoming`,
      });
      assert.equal(proxied.status, 200);
      const pdoc = c.parse(await proxied.text());
      assert.equal(
        pdoc.streamUrl.replace(/\/\/[^@/]*@/, "//"),
        `wss://bot.example.com/telephone/${c.name}/handler`,
      );

      // The socket: this server's answer lets a call start once.
      const local = `${server.wsUrl}/telephone/${c.name}/handler`;
      const good = await c.connect(
        doc,
        c.name === "exotel" ? doc.streamUrl : local,
      );
      await until(() => journal.started === 1, 3000, "the answered call");
      await good.close();
      if (c.name === "exotel") {
        // Exotel: Basic auth on the upgrade.
        const bad = await fetch(`${server.url}/telephone/exotel/handler`, {
          headers: upgradeHeaders(),
        });
        assert.equal(bad.status, 403);
        await bad.body?.cancel();
      } else if (c.name === "signalwire") {
        // SignalWire: the bearer token on the upgrade, once.
        for (const auth of [`Bearer ${doc.bearer}`, "Bearer forged", null]) {
          const bad = await fetch(
            `${server.url}/telephone/signalwire/handler`,
            {
              headers: upgradeHeaders(auth),
            },
          );
          assert.equal(bad.status, 403, `upgrade with ${auth}`);
          await bad.body?.cancel();
        }
      } else {
        // Telnyx, Plivo, Vonage: the token in the start message, once.
        for (
          const params of [
            doc.params,
            { ...doc.params, parleyToken: "0".repeat(58) },
            { tenant: "x" },
          ]
        ) {
          const bad = await c.connect({ ...doc, params }, local);
          await bad.closed;
          assert.equal(bad.closeCode, 1008);
        }
        assert.equal(
          problems.filter((p) => p.includes("invalid_stream_token")).length,
          3,
          problems.join(" | "),
        );
      }
      assert.equal(journal.started, 1);
    } finally {
      console.warn = warn;
      await server.close();
    }
  });
}

function upgradeHeaders(authorization?: string | null): HeadersInit {
  const h: Record<string, string> = {
    upgrade: "websocket",
    connection: "Upgrade",
    "sec-websocket-version": "13",
    "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
  };
  if (authorization) h.authorization = authorization;
  return h;
}

// ------------------------------------------------ routes and robustness ---

Deno.test("carrier routes: GET answers (Vonage, Exotel), 405, 413, 426, busy documents, disabled carriers", async () => {
  const journal = new Journal();
  const stream = new Stream({
    handler: new EchoHandler(journal),
    concurrencyLimit: 1,
    carriers: { maxBodyBytes: 1024, signalwire: false },
    ...quiet,
  });
  const server = serveStream(stream);
  try {
    const base = `${server.url}/telephone`;
    const v = await fetch(
      `${base}/vonage/incoming?uuid=aaaaaaaa-bbbb-cccc-dddd-0123456789ab&from=4477`,
    );
    const ncco = await v.json();
    assert.equal(
      ncco[0].endpoint[0].headers.uuid,
      "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
    );
    const e = await (await fetch(`${base}/exotel/incoming?CallSid=x`)).json();
    assert.match(
      e.url,
      /^ws:\/\/127\.0\.0\.1:\d+\/telephone\/exotel\/handler$/,
    );
    const put = await fetch(`${base}/plivo/incoming`, { method: "PUT" });
    assert.equal(put.status, 405);
    await put.body?.cancel();
    const big = await fetch(`${base}/telnyx/incoming`, {
      method: "POST",
      body: "x".repeat(5000),
    });
    assert.equal(big.status, 413);
    await big.body?.cancel();
    const plain = await fetch(`${base}/plivo/handler`);
    assert.equal(plain.status, 426);
    await plain.body?.cancel();
    const off = await fetch(`${base}/signalwire/incoming`, { method: "POST" });
    assert.equal(off.status, 404);
    await off.body?.cancel();
    // Under a prefix (Stream.mount), the stream URL keeps the prefix.
    const mounted = await stream.fetch(
      new Request("http://bot.local/voice/telephone/telnyx/incoming", {
        method: "POST",
      }),
    );
    assert.match(
      await mounted.text(),
      /url="ws:\/\/bot\.local\/voice\/telephone\/telnyx\/handler"/,
    );

    // At the concurrency limit every carrier answers "busy".
    const first = await TelnyxTestClient.connect(
      `${server.wsUrl}/telephone/telnyx/handler`,
    );
    await until(() => stream.activeCalls === 1, 2000, "first call");
    const texml =
      await (await fetch(`${base}/telnyx/incoming`, { method: "POST" })).text();
    assert.match(texml, /<Say>All lines are busy/);
    assert.match(texml, /<Hangup\/>/);
    const plivo =
      await (await fetch(`${base}/plivo/incoming`, { method: "POST" })).text();
    assert.match(plivo, /<Speak>All lines are busy.*<Hangup\/>/);
    const busyNcco = await (await fetch(`${base}/vonage/incoming`)).json();
    assert.equal(busyNcco[0].action, "talk");
    const exo = await fetch(`${base}/exotel/incoming`);
    assert.equal(exo.status, 503);
    await exo.body?.cancel();
    await first.close();
  } finally {
    await server.close();
  }
});

Deno.test("carrier routes: credentials come from the environment when the options leave them out", () => {
  const names = [
    "TELNYX_PUBLIC_KEY",
    "PLIVO_AUTH_TOKEN",
    "VONAGE_SIGNATURE_SECRET",
    "SIGNALWIRE_SIGNING_KEY",
    "EXOTEL_API_KEY",
    "EXOTEL_API_TOKEN",
  ];
  const saved = names.map((n) => Deno.env.get(n));
  try {
    for (const n of names) Deno.env.set(n, `from-env-${n}`);
    const routes = new CarrierRoutes();
    for (const c of CARRIER_NAMES) assert.ok(routes.isVerified(c), c);
    assert.ok(!new CarrierRoutes({ plivo: false }).isVerified("plivo"));
    Deno.env.delete("EXOTEL_API_TOKEN");
    assert.throws(() => new CarrierRoutes(), /both apiKey and apiToken/);
    for (const n of names) Deno.env.delete(n);
    const none = new CarrierRoutes();
    for (const c of CARRIER_NAMES) assert.ok(!none.isVerified(c), c);
  } finally {
    names.forEach((n, i) =>
      saved[i] === undefined ? Deno.env.delete(n) : Deno.env.set(n, saved[i]!)
    );
  }
});

Deno.test("carrier sockets: bad messages are rejected and counted, the call goes on", async () => {
  const problems: string[] = [];
  const warn = console.warn;
  console.warn = (...args: unknown[]) => problems.push(args.join(" "));
  const journal = new Journal();
  const stats = new Map<string, SocketStats>();
  const stream = new Stream({
    handler: new EchoHandler(journal),
    maxMessageBytes: 4096,
    carriers: { onSocketStats: (name, s) => stats.set(name, s) },
    ...quiet,
  });
  const server = serveStream(stream);
  try {
    for (const c of CARRIERS) {
      const before = journal.dtmf.length;
      const client = await c.connect(
        { streamUrl: "", params: {} },
        `${server.wsUrl}/telephone/${c.name}/handler`,
      );
      await until(
        () => journal.started === CARRIERS.indexOf(c) + 1,
        3000,
        "start",
      );
      client.socket.send("{not json");
      client.socket.send(JSON.stringify({ event: "bogus" }));
      client.socket.send("x".repeat(5000));
      client.socket.send(new Uint8Array(5000));
      client.socket.send(JSON.stringify([1, 2, 3]));
      client.dtmf("9");
      await until(
        () => journal.dtmf.length === before + 1,
        2000,
        `${c.name} dtmf`,
      );
      await client.play(new Int16Array(c.rate / 5).fill(800));
      await client.waitFor(
        () => client.audio.length > 0,
        3000,
        `${c.name} echo`,
      );
      await client.close();
      await until(() => stats.has(c.name), 3000, `${c.name} stats`);
      const s = stats.get(c.name)!;
      assert.ok(s.rejected >= 4, `${c.name}: ${s.rejected} rejected`);
      assert.ok(
        problems.some((p) => p.includes("exceeds the 4096-byte limit")),
        `${c.name}: size limit logged`,
      );
    }
    await until(() => stream.activeCalls === 0, 3000, "calls ended");
    assert.equal(journal.shutdowns, CARRIERS.length);
  } finally {
    console.warn = warn;
    await server.close();
  }
});

Deno.test("vonage: a signed GET answer_url (its query hashed as compact JSON) is accepted, a changed query is not", async () => {
  const secret = "vonage-signature-secret";
  const stream = new Stream({
    handler: new EchoHandler(),
    carriers: { vonage: { signatureSecret: secret } },
    ...quiet,
  });
  const server = serveStream(stream);
  try {
    const query = {
      to: "447700900001",
      from: "447700900000",
      uuid: "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
      conversation_uuid: "CON-aaaa",
    };
    const url = `${server.url}/telephone/vonage/incoming?${new URLSearchParams(
      query,
    )}`;
    const headers = await vonageHeaders(secret, JSON.stringify(query));
    const ok = await fetch(url, { headers });
    assert.equal(ok.status, 200);
    const ncco = await ok.json();
    assert.equal(ncco[0].endpoint[0].headers.uuid, query.uuid);
    const changed = await fetch(url.replace("900000", "900999"), { headers });
    assert.equal(changed.status, 403);
    await changed.body?.cancel();
    const unsigned = await fetch(url);
    assert.equal(unsigned.status, 403);
    await unsigned.body?.cancel();
  } finally {
    await server.close();
  }
});
