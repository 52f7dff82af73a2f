// The built-in page's script (renderIndexPage inlines it into page.html).
// The page is served at "/" or ".../index.html", next to "client.js".
import { ParleyClient } from "./client.js";

const config = JSON.parse(document.getElementById("parley").dataset.config);

const talk = document.getElementById("talk");
const talkLabel = talk.querySelector(".label");
const stateEl = document.getElementById("state");
const inMeter = document.getElementById("in-level");
const outMeter = document.getElementById("out-level");
const activity = document.getElementById("activity");
const log = document.getElementById("log");
document.getElementById("clear-log").addEventListener(
  "click",
  () => log.replaceChildren(),
);

// Test and debugging hook: what this page has seen.
const seen = {
  logs: [],
  maxInputLevel: 0,
  maxOutputLevel: 0,
  interrupts: 0,
  states: [],
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

let client = null;
let meterTimer = 0;
let lastItem = null;

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

function tickMeters() {
  if (!client) return;
  const i = client.inputLevel, o = client.outputLevel;
  // Meters show a perceptual (square-root) scale.
  inMeter.value = Math.min(1, Math.sqrt(i * 2));
  outMeter.value = Math.min(1, Math.sqrt(o * 2));
  seen.maxInputLevel = Math.max(seen.maxInputLevel, i);
  seen.maxOutputLevel = Math.max(seen.maxOutputLevel, o);
}

async function start() {
  const transport =
    document.querySelector("input[name=transport]:checked")?.value ??
      "websocket";
  client = new ParleyClient({
    transport,
    rtcConfiguration: config.rtcConfiguration,
    websocketOutputRate: config.outputSampleRate,
  });
  globalThis.parley.client = client;
  client.addEventListener("state", (e) => {
    seen.states.push(e.detail);
    setState(e.detail);
    if (e.detail === "connected") {
      addLog(
        `Connected over ${transport === "webrtc" ? "WebRTC" : "WebSocket"}`,
      );
    }
    if (e.detail === "closed" || e.detail === "failed") {
      clearInterval(meterTimer);
      inMeter.value = 0;
      outMeter.value = 0;
    }
  });
  client.addEventListener("log", (e) => {
    seen.logs.push(e.detail);
    if (EVENT_TEXT[e.detail]) {
      addLog(`${e.detail} — ${EVENT_TEXT[e.detail]}`, "event");
      activity.className = "activity";
      activity.textContent = EVENT_TEXT[e.detail];
    } else addLog(e.detail);
  });
  client.addEventListener("interrupt", () => {
    seen.interrupts++;
    addLog("interrupted — reply cut off", "interrupt");
    activity.className = "activity interrupted";
    activity.textContent = "Interrupted";
  });
  client.addEventListener(
    "error",
    (e) => addLog(`Error: ${e.detail.message}`, "error"),
  );
  client.addEventListener(
    "warning",
    (e) => addLog(`Warning: ${e.detail.message}`, "warning"),
  );
  client.addEventListener("message", (e) => {
    const t = e.detail.type;
    if (t === "send_input" || t === "fetch_output" || t === "stopword") {
      addLog(t);
    }
  });
  talk.disabled = true;
  meterTimer = setInterval(tickMeters, 50);
  try {
    await client.start();
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
if (!config.webrtc) {
  addLog("WebRTC is not enabled on this server; using WebSocket");
}
