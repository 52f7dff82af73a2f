// The built-in page's script (renderIndexPage inlines it into page.html).
// The page is served at "/", "/prefix", "/prefix/" or ".../index.html"; the
// client module and the call routes sit next to it, under the same prefix.
document.documentElement.dataset.parley = "starting";

const config = JSON.parse(document.getElementById("parley").dataset.config);
// Same rule as ParleyClient's default baseUrl, unless the server says.
const base = typeof config.basePath === "string"
  ? config.basePath
  : location.pathname.replace(/\/(index\.html)?$/, "");
const clientUrl = `${base}/client.js`;
let ParleyClient;
try {
  ({ ParleyClient } = await import(clientUrl));
} catch (e) {
  globalThis.parleyFatal?.(
    `The call client (${clientUrl}) failed to load or run: ${e?.message ?? e}`,
  );
  throw e;
}

const talk = document.getElementById("talk");
const talkLabel = talk.querySelector(".label");
const stateEl = document.getElementById("state");
const micSelect = document.getElementById("mic");
const inMeter = document.getElementById("in-level");
const outMeter = document.getElementById("out-level");
const inWave = document.getElementById("in-wave");
const outWave = document.getElementById("out-wave");
const activity = document.getElementById("activity");
const latencyEl = document.getElementById("latency");
const turnsEl = document.getElementById("turns");
const MAX_TURNS_SHOWN = 6;
const chat = document.getElementById("chat");
const log = document.getElementById("log");
document.getElementById("clear-log").addEventListener("click", () => {
  log.replaceChildren();
  lastItem = null;
});

// Test and debugging hook: what this page has seen.
const seen = {
  logs: [],
  maxInputLevel: 0,
  maxOutputLevel: 0,
  interrupts: 0,
  states: [],
  outputs: [],
  turns: [],
  errors: [],
};
globalThis.parley = { seen, client: null };

const STATE_TEXT = {
  idle: "Not connected",
  connecting: "Connecting…",
  connected: "Connected — speak, then pause",
  closed: "Call ended",
  failed: "Connection failed",
};
const EVENT_TEXT = {
  started_talking: "You started talking",
  pause_detected: "Pause detected — thinking",
  response_starting: "Bot is replying",
};
const ROLE_TEXT = { user: "You", assistant: "Bot", system: "System" };

let client = null;
let meterTimer = 0;
let lastItem = null;
let callStarted = 0;

// ---- event log ----------------------------------------------------------

function addLog(text, kind = "info") {
  if (lastItem && lastItem.dataset.text === text) {
    const n = Number(lastItem.dataset.count) + 1;
    lastItem.dataset.count = String(n);
    lastItem.querySelector(".count").textContent = ` ×${n}`;
    return;
  }
  const li = document.createElement("li");
  li.className = kind;
  li.dataset.text = text;
  li.dataset.count = "1";
  const time = document.createElement("time");
  const now = new Date();
  time.dateTime = now.toISOString();
  time.textContent = now.toLocaleTimeString();
  const span = document.createElement("span");
  span.textContent = text;
  const count = document.createElement("span");
  count.className = "count";
  span.append(count);
  li.append(time, span);
  log.append(li);
  log.scrollTop = log.scrollHeight;
  lastItem = li;
}

// ---- conversation -------------------------------------------------------

/** Chat entries that came from a message list, by index in that list. */
const listEntries = [];

function chatEntry(kind, who, text) {
  const li = document.createElement("li");
  li.className = `entry ${kind}`;
  const name = document.createElement("span");
  name.className = "who";
  name.textContent = who;
  const body = document.createElement("p");
  body.textContent = text;
  li.append(name, body);
  return li;
}

function appendChat(li) {
  const stick = chat.scrollHeight - chat.scrollTop - chat.clientHeight < 24;
  chat.append(li);
  if (stick) chat.scrollTop = chat.scrollHeight;
}

/** The text of an OpenAI-style message's content (a string or parts). */
function contentText(content) {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content.map((part) =>
      typeof part === "string"
        ? part
        : typeof part?.text === "string"
        ? part.text
        : part?.type
        ? `[${part.type}]`
        : ""
    ).filter(Boolean).join(" ");
  }
  return "";
}

function isMessage(value) {
  return value !== null && typeof value === "object" &&
    typeof value.role === "string" && "content" in value;
}

function messageEntry(message) {
  const text = contentText(message.content).trim();
  if (!text) return null;
  const role = message.role;
  const who = ROLE_TEXT[role] ?? role.charAt(0).toUpperCase() + role.slice(1);
  const li = chatEntry(`message ${role.replace(/\W/g, "")}`, who, text);
  li.dataset.role = role;
  return li;
}

/**
 * A whole message list (FastRTC's chatbot pattern yields the full history
 * each turn): update what changed, append what is new.
 */
function syncHistory(messages) {
  const entries = messages.map(messageEntry).filter(Boolean);
  for (let i = 0; i < entries.length; i++) {
    const old = listEntries[i];
    if (!old) {
      appendChat(entries[i]);
      listEntries[i] = entries[i];
    } else if (
      old.dataset.role !== entries[i].dataset.role ||
      old.querySelector("p").textContent !==
        entries[i].querySelector("p").textContent
    ) {
      old.replaceWith(entries[i]);
      listEntries[i] = entries[i];
    }
  }
  for (const extra of listEntries.splice(entries.length)) extra.remove();
}

function showOutput(value) {
  if (typeof value === "string") {
    if (value.trim()) appendChat(chatEntry("transcript", "Transcript", value));
  } else if (Array.isArray(value)) {
    if (value.length && value.every(isMessage)) syncHistory(value);
    else for (const v of value) showOutput(v);
  } else if (isMessage(value)) {
    const li = messageEntry(value);
    if (li) appendChat(li);
  }
  // Other values (numbers, objects) are the app's own data: not shown.
}

/**
 * Reads the call's AdditionalOutputs from
 * `GET /outputs?webrtc_id=ID&token=TOKEN` (server-sent events,
 * `event: output`, data = JSON of the outputs' args); the client learnt the
 * id and the token when the call started.
 * fetch() rather than EventSource: EventSource reconnects after the call
 * ends and logs a 404 for the finished call.
 */
async function readOutputs(call, signal) {
  const url = `${base}/outputs?webrtc_id=${encodeURIComponent(call.id)}&token=${
    encodeURIComponent(call.token)
  }`;
  let res;
  try {
    res = await fetch(url, {
      signal,
      headers: { accept: "text/event-stream" },
    });
  } catch {
    return; // hung up before it connected
  }
  if (!res.ok || !res.body) {
    if (res.status !== 404) {
      addLog(
        `Could not read the call's outputs: HTTP ${res.status}`,
        "warning",
      );
    }
    return;
  }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value.replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = "message";
        const data = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) event = line.slice(6).trim();
          else if (line.startsWith("data:")) {
            data.push(line.slice(5).replace(/^ /, ""));
          }
        }
        if (event !== "output" || !data.length) continue;
        let args;
        try {
          args = JSON.parse(data.join("\n"));
        } catch {
          addLog("An output from the server was not JSON", "warning");
          continue;
        }
        seen.outputs.push(args);
        showOutput(Array.isArray(args) && args.length === 1 ? args[0] : args);
      }
    }
  } catch {
    // The call ended (aborted).
  }
}

// ---- per-turn latency ---------------------------------------------------

function showTurnMetrics(m) {
  seen.turns.push(m);
  const n = Number.isFinite(m.turn) ? m.turn : seen.turns.length;
  let text;
  if (m.interrupted && !Number.isFinite(m.latencyMs)) {
    text = `Turn ${n}: interrupted before the bot answered`;
  } else if (Number.isFinite(m.latencyMs)) {
    text = `Turn ${n}: answered in ${Math.round(m.latencyMs)} ms`;
    if (m.interrupted) text += ", then interrupted";
  } else {
    text = `Turn ${n}: no spoken answer`;
  }
  if (m.merged > 1) text += ` (${m.merged} utterances merged)`;
  const li = document.createElement("li");
  li.className = m.interrupted ? "turn interrupted" : "turn";
  li.textContent = text;
  const details = [];
  if (Number.isFinite(m.speechStartMs) && Number.isFinite(m.speechEndMs)) {
    details.push(
      `you spoke ${((m.speechEndMs - m.speechStartMs) / 1000).toFixed(1)} s`,
    );
  }
  if (Number.isFinite(m.decisionMs) && Number.isFinite(m.speechEndMs)) {
    details.push(
      `end of turn decided after ${
        Math.round(m.decisionMs - m.speechEndMs)
      } ms of silence`,
    );
  }
  if (m.vad) details.push(`VAD ${m.vad}`);
  if (details.length) li.title = details.join(", ");
  // Newest first; the summary line covers older turns.
  turnsEl.prepend(li);
  while (turnsEl.children.length > MAX_TURNS_SHOWN) turnsEl.lastChild.remove();
  addLog(text, "event");
  const answered = seen.turns.map((t) => t.latencyMs).filter(Number.isFinite);
  if (answered.length) {
    const sorted = [...answered].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)];
    const last = Math.round(answered[answered.length - 1]);
    latencyEl.textContent = answered.length > 1
      ? `Last answer in ${last} ms · median ${
        Math.round(median)
      } ms over ${answered.length} turns`
      : `Last answer in ${last} ms`;
  }
}

// ---- levels -------------------------------------------------------------

/** Rolling level history (one value per tick, 50 ms apart: 8 s shown). */
const WAVE_POINTS = 160;
const waves = {
  in: { canvas: inWave, values: new Float32Array(WAVE_POINTS), at: 0 },
  out: { canvas: outWave, values: new Float32Array(WAVE_POINTS), at: 0 },
};

function pushLevel(wave, level) {
  wave.values[wave.at] = level;
  wave.at = (wave.at + 1) % WAVE_POINTS;
}

function drawWave(wave) {
  const canvas = wave.canvas;
  const dpr = globalThis.devicePixelRatio || 1;
  const width = Math.max(1, Math.round(canvas.clientWidth * dpr));
  const height = Math.max(1, Math.round(canvas.clientHeight * dpr));
  if (canvas.width !== width) canvas.width = width;
  if (canvas.height !== height) canvas.height = height;
  const g = canvas.getContext("2d");
  if (!g) return;
  g.clearRect(0, 0, width, height);
  g.fillStyle = getComputedStyle(canvas).color;
  const step = width / WAVE_POINTS;
  const mid = height / 2;
  for (let i = 0; i < WAVE_POINTS; i++) {
    const v = wave.values[(wave.at + i) % WAVE_POINTS];
    const h = Math.max(dpr, v * (height - 2 * dpr));
    g.fillRect(i * step, mid - h / 2, Math.max(dpr, step * 0.6), h);
  }
}

function resetWaves() {
  for (const wave of Object.values(waves)) {
    wave.values.fill(0);
    drawWave(wave);
  }
}

function tickMeters() {
  if (!client) return;
  const i = client.inputLevel, o = client.outputLevel;
  // Meters and waves show a perceptual (square-root) scale.
  const si = Math.min(1, Math.sqrt(i * 2)), so = Math.min(1, Math.sqrt(o * 2));
  inMeter.value = si;
  outMeter.value = so;
  pushLevel(waves.in, si);
  pushLevel(waves.out, so);
  if (!document.hidden) {
    drawWave(waves.in);
    drawWave(waves.out);
  }
  seen.maxInputLevel = Math.max(seen.maxInputLevel, i);
  seen.maxOutputLevel = Math.max(seen.maxOutputLevel, o);
}

// ---- microphone picker --------------------------------------------------

async function listMicrophones() {
  if (!navigator.mediaDevices?.enumerateDevices) {
    micSelect.disabled = true;
    return;
  }
  let devices;
  try {
    devices = await navigator.mediaDevices.enumerateDevices();
  } catch {
    return;
  }
  const inputs = devices.filter((d) => d.kind === "audioinput");
  const chosen = micSelect.value;
  const options = [new Option("Default microphone", "")];
  inputs.forEach((d, n) => {
    // Before the first permission grant, ids and labels are empty.
    if (!d.deviceId || d.deviceId === "default") return;
    options.push(new Option(d.label || `Microphone ${n + 1}`, d.deviceId));
  });
  micSelect.replaceChildren(...options);
  micSelect.value = options.some((o) => o.value === chosen) ? chosen : "";
}

micSelect.addEventListener("change", async () => {
  const id = micSelect.value;
  if (!client || client.state !== "connected") return;
  try {
    await client.setInputDevice(id || undefined);
    const label = micSelect.selectedOptions[0]?.textContent ?? id;
    addLog(`Microphone: ${label}`);
  } catch (e) {
    addLog(`Could not switch the microphone: ${e?.message ?? e}`, "error");
  }
});
navigator.mediaDevices?.addEventListener?.("devicechange", listMicrophones);

// ---- call ---------------------------------------------------------------

function setState(state) {
  stateEl.dataset.state = state;
  stateEl.textContent = STATE_TEXT[state] ?? state;
  const live = state === "connecting" || state === "connected";
  talk.setAttribute("aria-pressed", String(live));
  talkLabel.textContent = live ? "Stop" : "Start talking";
  talk.disabled = false;
  for (const r of document.querySelectorAll("input[name=transport]")) {
    r.disabled = live || (r.value === "webrtc" && !config.webrtc);
  }
}

function duration(ms) {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

async function start() {
  const transport =
    document.querySelector("input[name=transport]:checked")?.value ??
      "websocket";
  const deviceId = micSelect.value;
  const outputs = new AbortController();
  client = new ParleyClient({
    transport,
    baseUrl: location.origin + base,
    rtcConfiguration: config.rtcConfiguration,
    websocketOutputRate: config.outputSampleRate,
    deviceId: deviceId || undefined,
  });
  const call = client;
  globalThis.parley.client = call;
  let ended = false;
  call.addEventListener("state", (e) => {
    seen.states.push(e.detail);
    if (call !== client) return;
    setState(e.detail);
    if (e.detail === "connected") {
      callStarted = performance.now();
      addLog(
        `Connected over ${transport === "webrtc" ? "WebRTC" : "WebSocket"}`,
      );
      activity.className = "activity";
      activity.textContent = "Listening";
      listMicrophones();
    }
    if ((e.detail === "closed" || e.detail === "failed") && !ended) {
      ended = true;
      outputs.abort();
      clearInterval(meterTimer);
      inMeter.value = 0;
      outMeter.value = 0;
      resetWaves();
      activity.className = "activity";
      activity.textContent = e.detail === "failed"
        ? "Call failed"
        : "Call ended";
      const why = call.closeReason && call.closeReason !== "failed"
        ? ` (${call.closeReason})`
        : "";
      if (callStarted) {
        addLog(
          `Call ended after ${duration(performance.now() - callStarted)}${why}`,
          "end",
        );
      } else if (e.detail === "closed") addLog(`Call ended${why}`, "end");
      callStarted = 0;
    }
  });
  call.addEventListener("log", (e) => {
    seen.logs.push(e.detail);
    if (e.detail === "turn_metrics") return; // shown from the message
    if (EVENT_TEXT[e.detail]) {
      addLog(`${e.detail} — ${EVENT_TEXT[e.detail]}`, "event");
      if (!ended) {
        activity.className = "activity";
        activity.textContent = EVENT_TEXT[e.detail];
      }
    } else addLog(e.detail);
  });
  call.addEventListener("interrupt", () => {
    seen.interrupts++;
    addLog("interrupted — reply cut off", "interrupt");
    if (ended) return;
    activity.className = "activity interrupted";
    activity.textContent = "Interrupted";
  });
  call.addEventListener("error", (e) => {
    seen.errors.push(e.detail.message);
    addLog(`Error: ${e.detail.message}`, "error");
  });
  call.addEventListener(
    "warning",
    (e) => addLog(`Warning: ${e.detail.message}`, "warning"),
  );
  let reading = false;
  call.addEventListener("message", (e) => {
    const msg = e.detail;
    const t = msg.type;
    // The server knows the call once it talks on it (a WebSocket call's
    // "start" may still be in flight when the page says connected); the
    // outputs wait in the server's queue until read. `fetch_output` says
    // one is there.
    if (!reading && !ended) {
      reading = true;
      readOutputs(call, outputs.signal);
    }
    if (t === "log" && msg.data === "turn_metrics" && msg.metrics) {
      showTurnMetrics(msg.metrics);
    } else if (t === "send_input" || t === "stopword") {
      addLog(t);
    }
  });
  talk.disabled = true;
  clearInterval(meterTimer);
  meterTimer = setInterval(tickMeters, 50);
  try {
    await call.start();
  } catch {
    // Reported through the error event.
  }
}

talk.addEventListener("click", () => {
  if (
    client && (client.state === "connecting" || client.state === "connected")
  ) {
    client.stop();
    return;
  }
  start();
});

setState("idle");
resetWaves();
listMicrophones();
if (!config.webrtc) {
  addLog("WebRTC is not enabled on this server; using WebSocket");
}
document.documentElement.dataset.parley = "ready";
