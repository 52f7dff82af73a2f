/**
 * Vonage call control over the Voice API with `fetch`, authenticated with
 * an application JWT (RS256, signed with the application's private key
 * through WebCrypto):
 *
 * - place: `POST /v1/calls` with `{to: [endpoint], from, answer_url: [url],
 *   answer_method}` (or an inline `ncco` connecting `streamUrl`);
 * - hang up: `PUT /v1/calls/{uuid}` with `{action: "hangup"}`;
 * - transfer: `PUT /v1/calls/{uuid}` with `{action: "transfer",
 *   destination: {type: "ncco", ncco: [connect → phone]}}` (or
 *   `destination.url`).
 *
 * The JWT carries `application_id`, `iat`, `exp` (15 minutes) and a fresh
 * `jti`; one token is reused until a minute before it expires.
 *
 * **SDK or fetch.** `@vonage/voice` is maintained (48 releases) and small
 * for what it covers (2.5 MB, 5.9 MB with its 19 dependencies, Node 22+),
 * but signs its JWTs with `jsonwebtoken` (through `@vonage/auth` and
 * `@vonage/jwt`); WebCrypto does RS256 with no package at all, and three
 * requests are a page of code, so Parley sends them itself.
 *
 * @module
 */

import { decodeBase64 } from "../transports/base64.ts";
import { buildVonageNcco } from "../transports/vonage.ts";
import { errorText, isPermissionError } from "../_internal/errors.ts";
import {
  base64Text,
  callIdSegment,
  checkAddress,
  checkHttpUrl,
  checkPlaceCall,
  joinUrl,
  missingCredentials,
  optionOrEnv,
  restRequest,
  timedFetch,
  withoutPlus,
} from "./_call_control_http.ts";
import {
  type CallControl,
  type CallControlBaseOptions,
  CallControlError,
  type PlaceCallOptions,
  type TransferOptions,
} from "./call_control.ts";

/** Options of {@linkcode VonageCallControl}. */
export interface VonageCallControlOptions extends CallControlBaseOptions {
  /** The Voice application's id (default: `VONAGE_APPLICATION_ID` env). */
  applicationId?: string;
  /**
   * The application's private key (default: `VONAGE_PRIVATE_KEY` env): PEM
   * text (`-----BEGIN PRIVATE KEY-----`, PKCS#8 as the dashboard makes it,
   * or PKCS#1 `BEGIN RSA PRIVATE KEY`), with real or `\n`-escaped line
   * breaks, or the path of the `.key` file (read with `--allow-read`).
   */
  privateKey?: string;
}

const DEFAULT_BASE = "https://api.nexmo.com";
const CREDENTIALS = "VONAGE_APPLICATION_ID and VONAGE_PRIVATE_KEY (or the " +
  "applicationId and privateKey options): the key must be the one of that " +
  "application";
const TOKEN_SECONDS = 900;

/**
 * Places, ends and transfers Vonage calls.
 *
 * @example
 * ```ts
 * import { VonageCallControl } from "@parley/parley/server";
 * async function hangUp(uuid: string) {
 *   const vonage = new VonageCallControl({
 *     applicationId: "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
 *     privateKey: "private.key", // a path, or the PEM text itself
 *   });
 *   return await vonage.hangUp(uuid);
 * }
 * ```
 */
export class VonageCallControl implements CallControl {
  /** Always `"vonage"`. */
  readonly carrier = "vonage" as const;
  #applicationId: string;
  #privateKey: string;
  #base: string;
  #fetch: typeof fetch;
  #key: Promise<CryptoKey> | undefined;
  #token: { value: string; expires: number } | undefined;

  /**
   * Checks that an application id and a key are set (the key is parsed on
   * the first request).
   *
   * @param options Application id, private key, base URL.
   * @throws {TypeError} When either is missing.
   */
  constructor(options: VonageCallControlOptions = {}) {
    const applicationId = optionOrEnv(
      options.applicationId,
      "VONAGE_APPLICATION_ID",
    );
    const privateKey = optionOrEnv(options.privateKey, "VONAGE_PRIVATE_KEY");
    if (!applicationId || !privateKey) {
      missingCredentials(
        "vonage",
        "an application id and its private key; pass applicationId and " +
          "privateKey or set VONAGE_APPLICATION_ID and VONAGE_PRIVATE_KEY " +
          "(Vonage dashboard → Applications)",
      );
    }
    this.#applicationId = applicationId;
    this.#privateKey = privateKey;
    this.#base = options.baseUrl === undefined
      ? DEFAULT_BASE
      : checkHttpUrl("vonage", "baseUrl", options.baseUrl);
    this.#fetch = timedFetch("vonage", options.fetch, options.timeoutMs);
  }

  /**
   * Ends a call (`{action: "hangup"}`).
   *
   * @param callId The call's `uuid`.
   * @param options Aborts the request.
   * @returns True when ended now, false when it had already ended.
   */
  async hangUp(
    callId: string,
    options: { signal?: AbortSignal } = {},
  ): Promise<boolean> {
    const segment = callIdSegment("vonage", callId);
    try {
      await this.#send("hangUp", callId, "PUT", `/v1/calls/${segment}`, {
        action: "hangup",
      }, options.signal);
      return true;
    } catch (e) {
      if (e instanceof CallControlError && e.callEnded) return false;
      throw e;
    }
  }

  /**
   * Transfers a call to an inline NCCO that connects `to` (or to the NCCO
   * at `url`).
   *
   * @param callId The call's `uuid`.
   * @param options Where to.
   */
  async transfer(callId: string, options: TransferOptions): Promise<void> {
    const segment = callIdSegment("vonage", callId);
    let destination: Record<string, unknown>;
    if (options?.url !== undefined) {
      destination = {
        type: "ncco",
        url: [checkHttpUrl("vonage", "url", options.url)],
      };
    } else {
      const connect: Record<string, unknown> = {
        action: "connect",
        endpoint: [endpoint(checkAddress("vonage", "to", options?.to))],
      };
      if (options.callerId !== undefined) {
        connect.from = withoutPlus(
          checkAddress("vonage", "callerId", options.callerId),
        );
      }
      destination = { type: "ncco", ncco: [connect] };
    }
    await this.#send("transfer", callId, "PUT", `/v1/calls/${segment}`, {
      action: "transfer",
      destination,
    }, options.signal);
  }

  /**
   * Places a call (`POST /v1/calls`).
   *
   * @param options Who, from which number, where the answered call goes.
   * @returns The new call's `uuid`.
   */
  async placeCall(options: PlaceCallOptions): Promise<string> {
    const { to, from } = checkPlaceCall("vonage", options);
    if (from.startsWith("sip:")) {
      throw new TypeError(
        "Vonage: from must be one of your Vonage numbers, not a SIP URI",
      );
    }
    const json: Record<string, unknown> = {
      to: [endpoint(to)],
      from: { type: "phone", number: withoutPlus(from) },
    };
    if (options.answerUrl !== undefined) {
      json.answer_url = [options.answerUrl];
      json.answer_method = options.answerMethod ?? "POST";
    } else {
      json.ncco = buildVonageNcco({ websocketUri: options.streamUrl! });
    }
    if (options.statusCallbackUrl !== undefined) {
      json.event_url = [options.statusCallbackUrl];
      json.event_method = "POST";
    }
    if (options.timeoutSeconds !== undefined) {
      json.ringing_timer = options.timeoutSeconds;
    }
    const body = await this.#send("placeCall", undefined, "POST", "/v1/calls", {
      ...json,
      ...options.extra,
    }, options.signal);
    const uuid = (body as { uuid?: unknown })?.uuid;
    if (typeof uuid === "string" && uuid) return uuid;
    throw new CallControlError(
      "Vonage placeCall: the answer has no uuid; check baseUrl points at " +
        "api.nexmo.com",
      { carrier: "vonage", operation: "placeCall" },
    );
  }

  async #send(
    operation: "placeCall" | "hangUp" | "transfer",
    callId: string | undefined,
    method: "POST" | "PUT",
    path: string,
    json: unknown,
    signal: AbortSignal | undefined,
  ): Promise<unknown> {
    const token = await this.#jwt(operation);
    const { body } = await restRequest({
      carrier: "vonage",
      operation,
      callId,
      url: joinUrl(this.#base, path),
      method,
      authorization: `Bearer ${token}`,
      json,
      signal,
      fetch: this.#fetch,
      credentialsHint: CREDENTIALS,
    });
    return body;
  }

  async #jwt(operation: "placeCall" | "hangUp" | "transfer"): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    if (this.#token && this.#token.expires - 60 > now) return this.#token.value;
    this.#key ??= importKey(this.#privateKey).catch((e) => {
      this.#key = undefined;
      throw new CallControlError(
        `Vonage ${operation}: cannot use the private key: ${errorText(e)}`,
        { carrier: "vonage", operation, cause: e },
      );
    });
    const key = await this.#key;
    const value = await signJwt(key, {
      application_id: this.#applicationId,
      iat: now,
      exp: now + TOKEN_SECONDS,
      jti: crypto.randomUUID(),
    });
    this.#token = { value, expires: now + TOKEN_SECONDS };
    return value;
  }
}

/** A Vonage endpoint object for a number or a SIP URI. */
function endpoint(address: string): Record<string, string> {
  return address.startsWith("sip:")
    ? { type: "sip", uri: address }
    : { type: "phone", number: withoutPlus(address) };
}

/** base64url without padding. */
function base64Url(bytes: Uint8Array | string): string {
  let b64: string;
  if (typeof bytes === "string") {
    b64 = base64Text(bytes);
  } else {
    let binary = "";
    for (const byte of bytes) binary += String.fromCharCode(byte);
    b64 = btoa(binary);
  }
  return b64.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

async function signJwt(
  key: CryptoKey,
  claims: Record<string, unknown>,
): Promise<string> {
  const input = `${base64Url(JSON.stringify({ alg: "RS256", typ: "JWT" }))}.${
    base64Url(JSON.stringify(claims))
  }`;
  const signature = await crypto.subtle.sign(
    "RSASSA-PKCS1-v1_5",
    key,
    new TextEncoder().encode(input),
  );
  return `${input}.${base64Url(new Uint8Array(signature))}`;
}

/** Imports PEM text (or reads a key file) as an RS256 signing key. */
async function importKey(source: string): Promise<CryptoKey> {
  let pem = source.replace(/\\n/g, "\n").trim();
  if (!pem.startsWith("-----BEGIN")) {
    try {
      pem = (await Deno.readTextFile(pem)).trim();
    } catch (e) {
      throw new TypeError(
        isPermissionError(e)
          ? `the key is not PEM text, so it was read as a file path, which ` +
            `needs --allow-read`
          : `the key is neither PEM text (-----BEGIN PRIVATE KEY-----) nor a ` +
            `readable file: ${errorText(e)}`,
      );
    }
  }
  const match =
    /-----BEGIN ((?:RSA )?PRIVATE KEY)-----([\s\S]*?)-----END \1-----/
      .exec(pem);
  if (!match) {
    throw new TypeError(
      "the key is not a PEM private key (expected -----BEGIN PRIVATE KEY-----" +
        " as Vonage generates it)",
    );
  }
  let der: Uint8Array<ArrayBuffer> = new Uint8Array(
    decodeBase64(match[2].replace(/\s+/g, "")),
  );
  if (match[1] === "RSA PRIVATE KEY") der = pkcs1ToPkcs8(der);
  return await crypto.subtle.importKey(
    "pkcs8",
    der,
    { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
    false,
    ["sign"],
  );
}

/** Wraps a PKCS#1 RSAPrivateKey in a PKCS#8 PrivateKeyInfo. */
function pkcs1ToPkcs8(pkcs1: Uint8Array): Uint8Array<ArrayBuffer> {
  // version 0, AlgorithmIdentifier { rsaEncryption, NULL }
  const head = [
    0x02,
    0x01,
    0x00,
    0x30,
    0x0d,
    0x06,
    0x09,
    0x2a,
    0x86,
    0x48,
    0x86,
    0xf7,
    0x0d,
    0x01,
    0x01,
    0x01,
    0x05,
    0x00,
  ];
  const octet = [0x04, ...derLength(pkcs1.length)];
  const inner = head.length + octet.length + pkcs1.length;
  const out = new Uint8Array(1 + derLength(inner).length + inner);
  out.set([0x30, ...derLength(inner), ...head, ...octet]);
  out.set(pkcs1, out.length - pkcs1.length);
  return out;
}

function derLength(n: number): number[] {
  if (n < 0x80) return [n];
  const bytes: number[] = [];
  while (n > 0) {
    bytes.unshift(n & 0xff);
    n >>>= 8;
  }
  return [0x80 | bytes.length, ...bytes];
}
