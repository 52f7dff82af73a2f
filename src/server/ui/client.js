// Parley browser client: connects a microphone to a Parley (or FastRTC)
// stream over WebRTC or WebSocket and plays the replies. No dependencies.
// Served by `Stream` at `/client.js`.
//
//   import { ParleyClient } from "/client.js";
//   const client = new ParleyClient({ transport: "webrtc" });
//   client.addEventListener("log", (e) => console.log(e.detail));
//   await client.start();
//   // … later
//   client.stop();
//
// Events (CustomEvent, payload in `detail`):
//   state      "connecting" | "connected" | "closed" | "failed"
//              (`closeReason` says why a call ended: "hung up", "the server
//              ended the call", …)
//   log        FastRTC log text: "started_talking", "pause_detected",
//              "response_starting", "Server received: …"
//   message    every message from the server ({type, data|message})
//   interrupt  barge-in: queued reply audio was dropped
//   error      {message} — server errors, refused calls, device errors
//   warning    {message}
//
// Once connected, `client.id` is the call's id on the server (the one it
// asked for, unless a live call had it) and `client.token` the call's
// access token: `/input_hook` ({webrtc_id, token, args}) and
// `/outputs?webrtc_id=…&token=…` need both.

/** FastRTC's microphone constraints. */
export const DEFAULT_AUDIO_CONSTRAINTS = {
  echoCancellation: true,
  noiseSuppression: true,
  autoGainControl: true,
  channelCount: 1,
};

const WORKLET = `
class ParleyCapture extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.target = options.processorOptions.targetRate;
    this.step = sampleRate / this.target;
    this.frame = Math.round(this.target / 50);
    this.pos = 0;
    this.prev = 0;
    this.out = new Int16Array(this.frame);
    this.fill = 0;
  }
  process(inputs) {
    const input = inputs[0] && inputs[0][0];
    if (!input) return true;
    // Linear interpolation with carried phase (no clicks at block edges).
    let pos = this.pos;
    while (pos < input.length) {
      const i = Math.floor(pos);
      const frac = pos - i;
      const a = i === 0 ? this.prev : input[i - 1];
      const b = input[i];
      const s = Math.max(-1, Math.min(1, a + (b - a) * frac));
      this.out[this.fill++] = s < 0 ? s * 32768 : s * 32767;
      if (this.fill === this.frame) {
        this.port.postMessage(this.out.slice());
        this.fill = 0;
      }
      pos += this.step;
    }
    this.pos = pos - input.length;
    this.prev = input[input.length - 1];
    return true;
  }
}
registerProcessor("parley-capture", ParleyCapture);
`;

function randomId() {
  return crypto.randomUUID
    ? crypto.randomUUID()
    : Math.random().toString(36).slice(2) + Date.now().toString(36);
}

function toBase64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

function fromBase64(text) {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** RMS level (0..1) of an AnalyserNode's current window. */
export function analyserLevel(analyser) {
  if (!analyser) return 0;
  const buf = new Float32Array(analyser.fftSize);
  analyser.getFloatTimeDomainData(buf);
  let e = 0;
  for (let i = 0; i < buf.length; i++) e += buf[i] * buf[i];
  return Math.sqrt(e / buf.length);
}

/**
 * One call to a Parley stream.
 *
 * Options:
 *   baseUrl             stream URL prefix (default: the page's directory)
 *   transport           "webrtc" (default) or "websocket"
 *   rtcConfiguration    RTCConfiguration for WebRTC (ICE/TURN servers)
 *   audioConstraints    getUserMedia audio constraints
 *   deviceId            microphone to use (a MediaDeviceInfo.deviceId)
 *   mediaStream         use this stream instead of asking for the mic
 *   websocketInputRate  rate sent over WebSocket (default 16000)
 *   websocketOutputRate rate the server sends over WebSocket (default 24000,
 *                       the handler's outputSampleRate)
 *   audioElement        <audio> element that plays WebRTC replies
 */
export class ParleyClient extends EventTarget {
  constructor(options = {}) {
    super();
    this.options = options;
    this.transport = options.transport === "websocket" ? "websocket" : "webrtc";
    this.id = randomId();
    this.token = "";
    this.state = "idle";
    this.inputAnalyser = null;
    this.outputAnalyser = null;
    this.pc = null;
    this.channel = null;
    this.socket = null;
    this.context = null;
    this.mediaStream = null;
    this._ownStream = false;
    this._scheduled = new Set();
    this._nextTime = 0;
    this._worklet = null;
    this._audio = options.audioElement ?? null;
    this.closeReason = "";
  }

  get baseUrl() {
    if (this.options.baseUrl) {
      return String(this.options.baseUrl).replace(/\/$/, "");
    }
    return location.origin + location.pathname.replace(/\/(index\.html)?$/, "");
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  _setState(state) {
    if (this.state === state) return;
    this.state = state;
    this._emit("state", state);
  }

  _handleMessage(msg) {
    if (!msg || typeof msg !== "object") return;
    if (msg.event === "clear") {
      this._flushPlayback();
      this._emit("interrupt", { reason: "clear" });
      return;
    }
    if (msg.event === "pong") return;
    if (msg.status === "failed") {
      const meta = msg.meta || {};
      this._emit("error", {
        message: meta.error === "concurrency_limit_reached"
          ? `Too many calls right now (limit ${meta.limit}); try again later`
          : `The server refused the call: ${meta.error}`,
        meta,
      });
      this._setState("failed");
      return;
    }
    this._emit("message", msg);
    switch (msg.type) {
      case "log":
        this._emit("log", String(msg.data));
        break;
      case "interrupt":
        this._emit("interrupt", msg.data || {});
        break;
      case "error":
      case "warning":
        this._emit(msg.type, { message: msg.message ?? msg.data });
        break;
      case "end_stream":
        this._emit("log", "end_stream");
        this.closeReason ||= `the bot ended the call${
          msg.data ? ` (${msg.data})` : ""
        }`;
        this.stop();
        break;
      case "update_connection":
        if (msg.data === "closed") this.stop();
        break;
    }
  }

  async _ensureContext() {
    if (!this.context) {
      this.context = new AudioContext({ latencyHint: "interactive" });
    }
    if (this.context.state === "suspended") await this.context.resume();
    return this.context;
  }

  async _openMic() {
    if (this.options.mediaStream) {
      this.mediaStream = this.options.mediaStream;
    } else {
      if (!navigator.mediaDevices?.getUserMedia) {
        throw new Error(
          "This browser cannot record audio here (microphone access needs HTTPS or localhost)",
        );
      }
      this.mediaStream = await navigator.mediaDevices.getUserMedia({
        audio: this._audioConstraints(),
      });
      this._ownStream = true;
    }
    const ctx = await this._ensureContext();
    const source = ctx.createMediaStreamSource(this.mediaStream);
    this.inputAnalyser = ctx.createAnalyser();
    this.inputAnalyser.fftSize = 1024;
    source.connect(this.inputAnalyser);
    this._micSource = source;
  }

  _audioConstraints() {
    const base = this.options.audioConstraints ?? DEFAULT_AUDIO_CONSTRAINTS;
    const id = this.options.deviceId;
    return id ? { ...base, deviceId: { exact: id } } : base;
  }

  /**
   * Switches the microphone, during a call too (the new track replaces the
   * old one on the same connection). Without an id: the default microphone.
   */
  async setInputDevice(deviceId) {
    this.options.deviceId = deviceId || undefined;
    if (this.state !== "connected" || !this.context) return;
    if (this.options.mediaStream) {
      throw new Error(
        "This call records a mediaStream it was given; stop it and start a new call with another",
      );
    }
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: this._audioConstraints(),
    });
    const track = stream.getAudioTracks()[0];
    if (this.state !== "connected" || !this.context || !track) {
      for (const t of stream.getTracks()) t.stop();
      return;
    }
    if (this.pc) {
      const senders = this.pc.getSenders();
      const sender = senders.find((s) => s.track?.kind === "audio") ??
        senders[0];
      if (!sender) throw new Error("The call has no audio sender");
      await sender.replaceTrack(track);
    }
    const source = this.context.createMediaStreamSource(stream);
    source.connect(this.inputAnalyser);
    if (this._worklet) source.connect(this._worklet);
    this._micSource?.disconnect();
    if (this._ownStream) {
      for (const t of this.mediaStream?.getTracks() ?? []) t.stop();
    }
    this._micSource = source;
    this.mediaStream = stream;
    this._ownStream = true;
  }

  /** The id of the microphone in use, if the browser says. */
  get inputDeviceId() {
    const track = this.mediaStream?.getAudioTracks()[0];
    return track?.getSettings?.().deviceId ?? "";
  }

  /** Asks for the microphone and connects. Resolves once connected. */
  async start() {
    if (this.state === "connecting" || this.state === "connected") return;
    this._setState("connecting");
    try {
      await this._openMic();
      if (this.transport === "websocket") await this._startWebSocket();
      else await this._startWebRtc();
    } catch (e) {
      if (!e?.reported) {
        this._emit("error", { message: e?.message ?? String(e) });
      }
      this._setState("failed");
      this.stop();
      throw e;
    }
  }

  async _post(body) {
    const res = await fetch(`${this.baseUrl}/webrtc/offer`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    return await res.json();
  }

  async _startWebRtc() {
    const pc = new RTCPeerConnection(this.options.rtcConfiguration ?? {});
    this.pc = pc;
    const channel = pc.createDataChannel("text");
    this.channel = channel;
    channel.onopen = () => channel.send("handshake");
    // The server closes the channel when it ends the call; ICE would only
    // notice much later.
    channel.onclose = () => {
      if (this.state !== "connected" || this._stopping) return;
      this.closeReason ||= "the server ended the call";
      this.stop();
    };
    channel.onmessage = (e) => {
      try {
        this._handleMessage(JSON.parse(e.data));
      } catch {
        this._emit("warning", {
          message: `Unreadable message: ${String(e.data).slice(0, 80)}`,
        });
      }
    };
    for (const track of this.mediaStream.getAudioTracks()) {
      pc.addTrack(track, this.mediaStream);
    }
    pc.ontrack = (e) => {
      const stream = e.streams[0] ?? new MediaStream([e.track]);
      if (!this._audio) {
        this._audio = document.createElement("audio");
        this._audio.autoplay = true;
        this._audio.hidden = true;
        document.body.appendChild(this._audio);
        this._createdAudio = true;
      }
      this._audio.srcObject = stream;
      this._audio.play?.().catch(() => {});
      const ctx = this.context;
      if (!ctx) return; // stopped meanwhile
      const src = ctx.createMediaStreamSource(stream);
      this.outputAnalyser = ctx.createAnalyser();
      this.outputAnalyser.fftSize = 1024;
      src.connect(this.outputAnalyser);
      this._remoteSource = src;
    };
    // Trickle ICE: hold candidates until the server knows the offer.
    const early = [];
    let offered = false;
    const sendCandidate = (c) =>
      this._post({
        candidate: c.toJSON(),
        type: "ice-candidate",
        webrtc_id: this.id,
        token: this.token,
      })
        .then((r) => {
          if (r.status === "failed" && r.meta?.error !== "connection_closed") {
            this._emit("warning", {
              message: `ICE candidate refused: ${r.meta?.error}`,
            });
          }
        })
        .catch(() => {});
    pc.onicecandidate = (e) => {
      if (!e.candidate || !e.candidate.candidate) return;
      if (offered) sendCandidate(e.candidate);
      else early.push(e.candidate);
    };
    pc.onconnectionstatechange = () => {
      const s = pc.connectionState;
      if (s === "connected") this._setState("connected");
      else if (s === "failed") {
        this._emit("error", {
          message: "The connection failed; a TURN server may be needed",
        });
        this._setState("failed");
        this.stop();
      } else if (s === "closed") this._setState("closed");
    };
    const slow = setTimeout(() => {
      if (this.state === "connecting") {
        this._emit("warning", {
          message: "Taking a while to connect. Are you on a VPN?",
        });
      }
    }, 10000);
    try {
      await pc.setLocalDescription(await pc.createOffer());
      const answer = await this._post({
        sdp: pc.localDescription.sdp,
        type: "offer",
        webrtc_id: this.id,
      });
      if (answer.status === "failed") {
        this._handleMessage(answer); // emits "error" with a readable message
        const error = new Error(
          answer.meta?.message ??
            `The server refused the call: ${answer.meta?.error}`,
        );
        error.reported = true;
        throw error;
      }
      // The server's id and token for this call (see the top of the file).
      if (typeof answer.webrtc_id === "string") this.id = answer.webrtc_id;
      if (typeof answer.token === "string") this.token = answer.token;
      await pc.setRemoteDescription({ type: answer.type, sdp: answer.sdp });
      offered = true;
      for (const c of early.splice(0)) sendCandidate(c);
      await new Promise((resolve, reject) => {
        const check = () => {
          if (pc.connectionState === "connected") resolve();
          else if (["failed", "closed"].includes(pc.connectionState)) {
            reject(new Error(`Connection ${pc.connectionState}`));
          } else setTimeout(check, 50);
        };
        check();
      });
    } finally {
      clearTimeout(slow);
    }
  }

  async _startWebSocket() {
    const ctx = this.context;
    const inRate = this.options.websocketInputRate ?? 16000;
    const outRate = this.options.websocketOutputRate ?? 24000;
    this.outputAnalyser = ctx.createAnalyser();
    this.outputAnalyser.fftSize = 1024;
    this.outputAnalyser.connect(ctx.destination);
    const url = this.baseUrl.replace(/^http/, "ws") + "/websocket/offer";
    const socket = new WebSocket(url);
    this.socket = socket;
    await new Promise((resolve, reject) => {
      socket.onopen = resolve;
      socket.onerror = () => reject(new Error(`Could not open ${url}`));
    });
    socket.onerror = () => this._emit("error", { message: "WebSocket error" });
    socket.onclose = () => {
      if (!this._stopping) this.closeReason ||= "the server ended the call";
      if (this.state !== "failed") this._setState("closed");
      this.stop();
    };
    socket.onmessage = (e) => {
      let msg;
      try {
        msg = JSON.parse(e.data);
      } catch {
        return;
      }
      if (msg.event === "media" && msg.media?.payload) {
        this._play(fromBase64(msg.media.payload), outRate);
        return;
      }
      if (msg.event === "started") {
        if (typeof msg.websocket_id === "string") this.id = msg.websocket_id;
        if (typeof msg.token === "string") this.token = msg.token;
      }
      this._handleMessage(msg);
    };
    socket.send(JSON.stringify({
      event: "start",
      websocket_id: this.id,
      format: { encoding: "pcm16", sampleRate: inRate },
    }));
    const blob = new Blob([WORKLET], { type: "text/javascript" });
    const moduleUrl = URL.createObjectURL(blob);
    await ctx.audioWorklet.addModule(moduleUrl);
    URL.revokeObjectURL(moduleUrl);
    const node = new AudioWorkletNode(ctx, "parley-capture", {
      processorOptions: { targetRate: inRate },
    });
    node.port.onmessage = (e) => {
      if (socket.readyState !== WebSocket.OPEN) return;
      const pcm = e.data;
      socket.send(JSON.stringify({
        event: "media",
        media: {
          payload: toBase64(
            new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.byteLength),
          ),
        },
      }));
    };
    this._micSource.connect(node);
    this._worklet = node;
    this._setState("connected");
  }

  _play(bytes, rate) {
    const ctx = this.context;
    if (!ctx || bytes.length < 2) return;
    const n = bytes.length >> 1;
    const view = new DataView(bytes.buffer, bytes.byteOffset, n * 2);
    const buffer = ctx.createBuffer(1, n, rate);
    const ch = buffer.getChannelData(0);
    for (let i = 0; i < n; i++) ch[i] = view.getInt16(i * 2, true) / 32768;
    const src = ctx.createBufferSource();
    src.buffer = buffer;
    src.connect(this.outputAnalyser);
    const start = Math.max(this._nextTime, ctx.currentTime + 0.06);
    src.start(start);
    this._nextTime = start + buffer.duration;
    this._scheduled.add(src);
    src.onended = () => this._scheduled.delete(src);
  }

  _flushPlayback() {
    for (const src of this._scheduled) {
      try {
        src.stop();
      } catch {
        // not started yet
      }
    }
    this._scheduled.clear();
    this._nextTime = 0;
  }

  /** Input (microphone) level, 0..1. */
  get inputLevel() {
    return analyserLevel(this.inputAnalyser);
  }

  /** Output (reply) level, 0..1. */
  get outputLevel() {
    return analyserLevel(this.outputAnalyser);
  }

  /** Hangs up and releases the microphone. */
  stop() {
    if (this._stopping) return;
    this._stopping = true;
    this.closeReason ||= this.state === "failed" ? "failed" : "hung up";
    try {
      this._flushPlayback();
      if (this.socket && this.socket.readyState === WebSocket.OPEN) {
        this.socket.send(JSON.stringify({ event: "stop" }));
        this.socket.close();
      }
      this._worklet?.disconnect();
      this.channel?.close();
      this.pc?.close();
      if (this._ownStream) {
        for (const t of this.mediaStream?.getTracks() ?? []) {
          t.stop();
        }
      }
      if (this._createdAudio) this._audio?.remove();
      this.context?.close().catch(() => {});
    } finally {
      this.context = null;
      this.inputAnalyser = null;
      this.outputAnalyser = null;
      if (this.state !== "failed") this._setState("closed");
    }
  }
}

/** Connects in one call: `const client = await connect({ transport: "websocket" })`. */
export async function connect(options = {}) {
  const client = new ParleyClient(options);
  await client.start();
  return client;
}
