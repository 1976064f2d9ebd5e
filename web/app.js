// app.js - the demo page: sign-in, microphone (hands-free or push-to-talk), typed turns,
// transcript, NLU with slot spans, contexts, event log, reply audio, latency, errors.
// All protocol work is in parley.js. window.parleyDemo exposes the page's state for tests.
import { ParleyClient, MicCapture, AudioPlayer, INPUT_RATE } from "./parley.js";

const $ = (id) => document.getElementById(id);
const VOICE_RMS = 0.02; // frame RMS above this counts as the user's voice (latency marker)
// What to do on UNAVAILABLE, from a call or from the conversation's end: everything this page asks
// goes through the gateway to parley-dialog, so the advice is the same whichever arrives last.
const DIALOG_DOWN = "The dialog service (parley-dialog) is not answering. Check `parley status`; once it runs, sign in again to continue the same session.";

const state = {
  client: null, ctx: null, mic: null, player: null, mode: "server", micOn: false, talking: false,
  user: "", turns: [], latencies: [], events: [], contexts: [], lastNlu: null, errors: [],
  lastVoiceMs: 0,   // performance.now() of the last loud microphone frame
  marker: null,     // { kind: "text" | "ptt" | "speech", at } the turn's end of input
  audioBytes: 0, connected: false,
  settings: null,   // what the last sign-in asked for (user, apiKey, mode, audio, barge-in)
  reconnect: { timer: 0, attempt: 0, since: 0 }, // automatic reconnection after a lost socket
};
window.parleyDemo = {
  state,
  stats: () => ({
    connected: state.connected, turns: state.turns.length, latencies: state.latencies.slice(),
    player: state.player ? Object.assign({}, state.player.stats, { playing: state.player.playing }) : null,
    errors: state.errors.slice(), contexts: state.contexts.slice(), sessionId: state.client && state.client.sessionId,
    micOn: state.micOn, lastNlu: state.lastNlu, events: state.events.slice(-50),
    reconnecting: !!state.reconnect.timer || state.reconnect.attempt > 0,
    reconnects: state.reconnects || 0,
  }),
};

// ---- errors shown with what to do ---------------------------------------------------------
function showError(title, text, help, { reconnect = false } = {}) {
  state.errors.push({ title, text, help, at: Date.now() });
  $("error-title").textContent = title;
  $("error-text").textContent = text || "";
  $("error-help").textContent = help || "";
  $("error-reconnect").hidden = !reconnect;
  $("error").hidden = false;
}
function hideError() {
  $("error").hidden = true;
  $("error-reconnect").hidden = true;
}
$("error-dismiss").addEventListener("click", hideError);
$("error-reconnect").addEventListener("click", () => reconnectNow());

function setStatus(text, cls) {
  const s = $("status");
  s.textContent = text;
  s.className = `pill ${cls}`;
}

function logEvent(text) {
  const t = new Date().toLocaleTimeString();
  state.events.push(text);
  const li = document.createElement("li");
  li.textContent = `${t} ${text}`;
  $("events").append(li);
  li.scrollIntoView({ block: "nearest" });
}

function addTurn(who, text, meta) {
  const li = document.createElement("li");
  li.className = who;
  li.textContent = text;
  if (meta) {
    const m = document.createElement("span");
    m.className = "meta";
    m.textContent = meta;
    li.append(m);
  }
  $("turns").append(li);
  li.scrollIntoView({ block: "nearest" });
  state.turns.push({ who, text });
}

// ---- NLU with slot spans ------------------------------------------------------------------
function showNlu(m) {
  state.lastNlu = m;
  $("nlu-intent").textContent = m.intent
    ? `intent ${m.intent.name} (${(m.intent.score * 100).toFixed(0)}%)` : "no intent";
  $("nlu-intent").className = "";
  const p = $("nlu-text");
  p.textContent = "";
  // offsets are characters of the utterance ([start, end)); spans in order, no overlap
  const chars = Array.from(m.text);
  const slots = m.slots.filter((s) => s.end > s.start && s.end <= chars.length).sort((a, b) => a.start - b.start);
  let at = 0;
  for (const s of slots) {
    if (s.start < at) continue;
    p.append(chars.slice(at, s.start).join(""));
    const mark = document.createElement("mark");
    mark.textContent = chars.slice(s.start, s.end).join("");
    const sub = document.createElement("sub");
    sub.textContent = s.name;
    mark.append(sub);
    mark.title = `${s.name} = ${s.value} (${(s.score * 100).toFixed(0)}%)`;
    p.append(mark);
    at = s.end;
  }
  p.append(chars.slice(at).join(""));
  const tb = $("nlu-slots").querySelector("tbody");
  tb.textContent = "";
  for (const s of m.slots) {
    const tr = document.createElement("tr");
    for (const v of [s.name, s.value, `${(s.score * 100).toFixed(0)}%`]) {
      const td = document.createElement("td");
      td.textContent = v;
      tr.append(td);
    }
    tb.append(tr);
  }
  $("nlu-slots").hidden = m.slots.length === 0;
}

// ---- contexts -----------------------------------------------------------------------------
function showContexts(m) {
  state.contexts = m.contexts;
  const ul = $("contexts");
  ul.textContent = "";
  for (const c of m.contexts) {
    if (!c.open) continue;
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    const slots = Object.entries(c.slots).map(([k, v]) => `${k}=${v}`).join(", ");
    b.textContent = `${c.name || c.current_intent || "idle"} · ${c.turn_count} turn(s)${slots ? " · " + slots : ""}`;
    b.dataset.contextId = c.context_id;
    b.setAttribute("aria-current", c.active ? "true" : "false");
    b.title = c.active ? "active context" : "switch to this context";
    b.addEventListener("click", () => {
      if (!c.active && state.client) {
        state.client.switchContext(c.context_id);
        logEvent(`switch to context ${c.context_id.slice(0, 8)}`);
      }
    });
    li.append(b);
    ul.append(li);
  }
}

// ---- latency ------------------------------------------------------------------------------
function onFirstAudio(startMs) {
  if (!state.marker) return;
  const ms = startMs - state.marker.at;
  const what = { text: "text sent", ptt: "end of speech (released)", speech: "end of speech" }[state.marker.kind];
  state.latencies.push({ kind: state.marker.kind, ms });
  state.marker = null;
  $("latency").textContent = `${ms.toFixed(0)} ms`;
  const li = document.createElement("li");
  li.textContent = `${what} → first reply audio: ${ms.toFixed(0)} ms`;
  $("latencies").append(li);
}

// ---- the conversation -----------------------------------------------------------------------
function wire(client) {
  client.addEventListener("transcript", (e) => {
    const m = e.detail;
    if (!m.final) {
      $("interim").textContent = m.text;
      return;
    }
    $("interim").textContent = "";
    if (!m.text) return;
    addTurn("user", m.text, `heard · turn ${m.turn || ""}`);
    if (state.mode === "server" && state.lastVoiceMs) state.marker = { kind: "speech", at: state.lastVoiceMs };
  });
  client.addEventListener("nlu", (e) => showNlu(e.detail));
  client.addEventListener("bot_text", (e) => addTurn("bot", e.detail.text, e.detail.response_name));
  client.addEventListener("contexts", (e) => showContexts(e.detail));
  client.addEventListener("audio_start", () => {
    if (state.player) state.player.beginReply();
    $("interrupt").disabled = false;
  });
  client.addEventListener("audio", (e) => {
    state.audioBytes += e.detail.samples.length * 2;
    if (state.player) state.player.push(e.detail.samples, e.detail.sampleRateHz);
  });
  client.addEventListener("event", (e) => {
    const m = e.detail;
    const attrs = Object.entries(m.attributes).map(([k, v]) => `${k}=${v}`).join(" ");
    logEvent(`${m.event}${m.detail ? ": " + m.detail : ""}${attrs ? " (" + attrs + ")" : ""}`);
    if (m.event === "REPLY_INTERRUPTED" && state.player) state.player.stop();
    if (m.event === "ERROR") {
      const svc = m.attributes.service || "parley";
      showError(`${svc} failed:`, m.detail, svc === "parley-tts"
        ? "Replies still come as text. Check `parley status` and the parley-tts log."
        : svc === "parley-asr" ? "Typing still works. Check `parley status` and the parley-asr log."
          : "The conversation goes on; try again.");
    }
  });
  client.addEventListener("error", (e) => {
    const m = e.detail;
    logEvent(`error ${m.code}: ${m.message}`);
    if (m.code === "UNAUTHENTICATED") showError("Sign-in refused:", m.message, "Enter the API key the gateway was given (gateway.api_keys_file) and sign in again.");
    else showError(`Error ${m.code}:`, m.message, m.code === "UNAVAILABLE" ? DIALOG_DOWN : m.fatal ? "Sign in again." : "");
  });
  client.addEventListener("end", (e) => {
    const m = e.detail;
    logEvent(`conversation ended: ${m.code} ${m.message}`);
    if (m.code !== "OK") {
      setStatus("conversation lost", "bad");
      showError("The conversation stopped:", `${m.code} ${m.message}`,
        m.code === "UNAVAILABLE" ? DIALOG_DOWN : "Sign in again to continue.");
    }
  });
  client.addEventListener("close", (e) => {
    if (state.signingOut || client !== state.client) return;
    state.connected = false;
    stopMic();
    if (e.detail.code === 1008 || e.detail.code === 1002) { // refused (key, protocol): no retry
      setStatus("disconnected", "bad");
      showError("The gateway closed the connection", `(code ${e.detail.code}${e.detail.reason ? ", " + e.detail.reason : ""}).`,
        "Sign in again.");
      showSignin(true);
      return;
    }
    setStatus("reconnecting…", "bad");
    logEvent(`connection closed (code ${e.detail.code}); reconnecting`);
    state.reconnect.attempt = 0;
    state.reconnect.since = Date.now();
    showError("The connection to the gateway closed", `(code ${e.detail.code}${e.detail.reason ? ", " + e.detail.reason : ""}).`,
      "Reconnecting by itself; the conversation goes on where it was once the gateway answers. " +
      "If it does not come back, check that the gateway runs (`make up`, `parley status`), or press Reconnect now.",
      { reconnect: true });
    scheduleReconnect();
  });
}

// ---- reconnecting after a lost socket --------------------------------------------------------
// The same user, settings and session: parley-dialog keeps the session, so the conversation and
// its contexts continue. Retries back off from 0.5 s to 5 s and go on until the gateway answers,
// the user signs out, or the gateway refuses (then the sign-in form shows why).
function scheduleReconnect() {
  clearTimeout(state.reconnect.timer);
  const delay = Math.min(5000, 500 * 2 ** state.reconnect.attempt);
  state.reconnect.timer = setTimeout(reconnectNow, delay);
}

async function reconnectNow() {
  clearTimeout(state.reconnect.timer);
  state.reconnect.timer = 0;
  if (!state.settings || state.connected || state.reconnect.busy) return;
  state.reconnect.busy = true;
  state.reconnect.attempt++;
  const old = state.client;
  const client = makeClient(state.settings, old ? old.sessionId : "");
  try {
    await client.connect();
  } catch (e) {
    state.reconnect.busy = false;
    if (!state.settings) return; // signed out meanwhile
    if (e.code === "UNREACHABLE" || e.code === "CLOSED" || e.code === "UNAVAILABLE") {
      const s = Math.round((Date.now() - state.reconnect.since) / 1000);
      $("error-help").textContent = `Reconnecting by itself (attempt ${state.reconnect.attempt}, ${s} s so far): ` +
        "check that the gateway runs (`make up`, `parley status`), or press Reconnect now.";
      scheduleReconnect();
    } else {
      state.reconnect.attempt = 0;
      setStatus("signed out", "bad");
      showError(`Cannot reconnect (${e.code}):`, e.message, "Sign in again.");
      showSignin(true);
    }
    return;
  }
  state.reconnect.busy = false;
  if (!state.settings) { // signed out while connecting
    client.close();
    return;
  }
  state.reconnect.attempt = 0;
  state.reconnects = (state.reconnects || 0) + 1;
  adopt(client);
  hideError();
  logEvent(`reconnected; session ${client.sessionId.slice(0, 8)} continues`);
}

async function signIn(ev) {
  ev.preventDefault();
  $("error").hidden = true;
  const user = $("user").value.trim();
  if (!user) {
    $("user").focus();
    return;
  }
  state.mode = document.querySelector("input[name=mode]:checked").value;
  const wantAudio = $("reply-audio").checked;
  if (!state.ctx) state.ctx = new AudioContext();
  if (state.ctx.state === "suspended") await state.ctx.resume().catch(() => {});
  if (!state.player) {
    state.player = new AudioPlayer(state.ctx);
    state.player.onFirstAudio = onFirstAudio;
  }
  const sameUser = state.client && state.user === user;
  const settings = {
    user, apiKey: $("apikey").value.trim(), mode: state.mode, wantAudio, bargeIn: $("barge-in").checked,
  };
  const client = makeClient(settings, sameUser ? state.client.sessionId : "");
  clearTimeout(state.reconnect.timer);
  state.reconnect.timer = 0;
  setStatus("connecting…", "off");
  $("signin-button").disabled = true;
  let ready;
  try {
    ready = await client.connect();
  } catch (e) {
    $("signin-button").disabled = false;
    setStatus("signed out", "bad");
    if (e.code === "UNREACHABLE") showError("Cannot reach the Parley gateway.", e.message, "Start it with `make up` (or `parley up`), then sign in again.");
    else if (e.code === "UNAUTHENTICATED") {
      showError("Sign-in refused: the gateway did not accept the API key.", e.message,
        "Enter the API key the gateway's operator gave you (a line of gateway.api_keys_file) and sign in again.");
      $("apikey").focus();
      $("apikey").select();
    } else showError(`Cannot start the conversation (${e.code}):`, e.message, "Check `parley status`, then sign in again.");
    return;
  }
  state.settings = settings;
  adopt(client, ready && ready.user ? ready.user : user);
  $("signin-button").disabled = false;
  $("signin").hidden = true;
  $("app").hidden = false;
  $("mic").hidden = state.mode !== "server";
  $("ptt").hidden = $("ptt-help").hidden = state.mode === "server";
  $("text").focus();
}

function makeClient(settings, sessionId) {
  const client = new ParleyClient({
    user: settings.user, apiKey: settings.apiKey, sessionId,
    inputAudio: { sampleRateHz: INPUT_RATE, endpointing: settings.mode },
    outputAudio: settings.wantAudio ? { sampleRateHz: 0 } : null,
    bargeIn: settings.bargeIn,
  });
  wire(client);
  return client;
}

/* A connected client becomes the page's; the one before it (if any) is closed. */
function adopt(client, who) {
  if (state.client && state.client !== client) {
    state.signingOut = true;
    state.client.close();
    state.signingOut = false;
  }
  state.client = client;
  state.user = state.settings.user;
  state.connected = true;
  who = who || state.settings.user;
  $("whoami").textContent = `as ${who}`;
  setStatus(`connected as ${who}`, "on");
}

function showSignin(keepApp) {
  $("signin").hidden = false;
  $("signin-button").disabled = false;
  if (!keepApp) $("app").hidden = true;
}

// ---- microphone -----------------------------------------------------------------------------
async function ensureMic() {
  if (state.mic) return true;
  const mic = new MicCapture(state.ctx, (pcm, rms) => {
    if (rms > VOICE_RMS) {
      state.lastVoiceMs = performance.now();
      if (state.player && state.player.playing && $("barge-in").checked && state.mode === "server") {
        // the server interrupts on speech (barge_in); stopping here too saves a round trip
      }
    }
    meter(rms);
    state.client && state.client.sendAudio(pcm);
    if (window.parleyDemo.record) window.parleyDemo.record.push(...pcm); // tests: what was sent
  }, { processing: $("processing").checked });
  mic.onIdleFrame = meter;
  try {
    await mic.open();
  } catch (e) {
    const denied = e.name === "NotAllowedError" || e.name === "SecurityError";
    const typing = "The text box below still works: type your request and press Enter.";
    showError(denied ? "Microphone access was denied." : e.name === "NotFoundError" ? "No microphone found." : "The microphone cannot be used:",
      denied ? "The browser does not let this page hear you." : e.message,
      denied ? "To talk, allow the microphone for this page: click the microphone or lock icon in the address bar, choose Allow, " +
        "then press Start microphone again. " + typing
        : "Connect a microphone and try again. " + typing);
    logEvent(`microphone: ${e.name}`);
    $("text").focus(); // keyboard users land where they can go on
    return false;
  }
  state.mic = mic;
  return true;
}

function meter(rms) {
  $("level").firstElementChild.style.width = `${Math.min(100, rms * 400)}%`;
}

async function toggleMic() {
  if (state.micOn) {
    stopMic();
    return;
  }
  if (!(await ensureMic())) return;
  state.mic.enabled = true;
  state.micOn = true;
  $("mic").textContent = "Stop microphone";
  $("mic").setAttribute("aria-pressed", "true");
  logEvent("microphone on (hands-free)");
}

function stopMic() {
  if (state.mic) state.mic.enabled = false;
  state.micOn = false;
  $("mic").textContent = "Start microphone";
  $("mic").setAttribute("aria-pressed", "false");
}

async function pttDown() {
  if (state.talking) return;
  if (!(await ensureMic())) return;
  interrupt(); // talking over the bot stops it
  state.talking = true;
  state.mic.enabled = true;
  state.micOn = true;
  $("ptt").setAttribute("aria-pressed", "true");
  $("ptt").textContent = "Listening… release to send";
}

function pttUp() {
  if (!state.talking) return;
  state.talking = false;
  state.mic.enabled = false;
  state.micOn = false;
  state.client.endOfUtterance();
  state.marker = { kind: "ptt", at: performance.now() };
  $("ptt").setAttribute("aria-pressed", "false");
  $("ptt").textContent = "Hold to talk";
}

function interrupt() {
  if (state.player && state.player.playing) {
    state.player.stop();
    state.client && state.client.interrupt();
    logEvent("reply stopped");
  }
  // the button is about to be disabled: a keyboard user's focus goes back to the text box
  if (document.activeElement === $("interrupt")) $("text").focus();
  $("interrupt").disabled = true;
}

// ---- wiring ---------------------------------------------------------------------------------
$("signin").addEventListener("submit", signIn);
$("say").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const text = $("text").value.trim();
  if (!text || !state.client) return;
  interrupt();
  if (!state.client.sendText(text)) {
    showError("Not connected.", "", "Sign in again.");
    return;
  }
  state.marker = { kind: "text", at: performance.now() };
  addTurn("user", text, "typed");
  $("text").value = "";
});
$("mic").addEventListener("click", toggleMic);
$("interrupt").addEventListener("click", interrupt);
$("new-context").addEventListener("click", () => {
  if (state.client) state.client.newContext("");
  logEvent("new context");
});
$("signout").addEventListener("click", () => {
  state.signingOut = true;
  state.settings = null; // no reconnecting after this
  clearTimeout(state.reconnect.timer);
  state.reconnect.timer = 0;
  state.reconnect.attempt = 0;
  hideError();
  stopMic();
  if (state.client) state.client.close();
  state.client = null;
  state.connected = false;
  setStatus("signed out", "off");
  showSignin(false);
  $("user").focus();
  setTimeout(() => { state.signingOut = false; }, 0);
});
const ptt = $("ptt");
ptt.addEventListener("pointerdown", (e) => { e.preventDefault(); pttDown(); });
ptt.addEventListener("pointerup", pttUp);
ptt.addEventListener("pointerleave", pttUp);
ptt.addEventListener("keydown", (e) => {
  if ((e.key === " " || e.key === "Enter") && !e.repeat) { e.preventDefault(); pttDown(); }
});
ptt.addEventListener("keyup", (e) => {
  if (e.key === " " || e.key === "Enter") { e.preventDefault(); pttUp(); }
});
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape") interrupt();
});
setInterval(() => {
  if (state.player) $("interrupt").disabled = !state.player.playing;
}, 200);
