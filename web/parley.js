// parley.js - the browser client of Parley's conversation socket (parley.converse.v1,
// docs/web-protocol.md), as an ES module with no dependencies. The demo page (app.js) is
// built on it; other pages can import it the same way:
//
//   import { ParleyClient, MicCapture, AudioPlayer } from "/parley.js";
//   const client = new ParleyClient({ user: "ada", outputAudio: { sampleRateHz: 24000 } });
//   client.addEventListener("bot_text", (e) => console.log(e.detail.text));
//   await client.connect();           // resolves with the "ready" message
//   client.sendText("book a table for four in boston");
//
// Every message from the server is dispatched as a CustomEvent named after its "type"
// (transcript, nlu, bot_text, event, contexts, audio_start, audio_end, error, end, ready) with
// the message as `detail`, and as a "message" event too; reply audio arrives as "audio"
// events whose detail is { samples: Int16Array, sampleRateHz }. The socket's end is a
// "close" event ({ code, reason, wasClean }).

export const PROTOCOL = "parley.converse.v1";
export const PROTOCOL_VERSION = 1;
export const INPUT_RATE = 16000;

/** The default socket URL: the page's own host, path /v1/converse. */
export function defaultUrl(loc = globalThis.location) {
  const scheme = loc.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${loc.host}/v1/converse`;
}

/**
 * One conversation over one WebSocket.
 * options:
 *   url            socket URL (default: defaultUrl())
 *   user           user name (the dialog's user_id; ignored by a gateway with API keys,
 *                  where the key names the user)
 *   apiKey         API key, when the gateway requires one
 *   sessionId      continue a session ("" = a new one); contextId: talk in that context
 *   dialog, language
 *   inputAudio     { sampleRateHz: 16000, endpointing: "server" | "push_to_talk" } or null
 *                  (text only)
 *   outputAudio    { sampleRateHz: 0 (server default) | 8000..48000, voice: "" } or null
 *   interimResults (true), nlu (true), bargeIn (false)
 */
export class ParleyClient extends EventTarget {
  constructor(options = {}) {
    super();
    this.options = Object.assign(
      {
        url: null, user: "", apiKey: "", sessionId: "", contextId: "", dialog: "", language: "",
        inputAudio: null, outputAudio: null, interimResults: true, nlu: true, bargeIn: false,
      },
      options,
    );
    this.ws = null;
    this.sessionId = this.options.sessionId || "";
    this.contextId = this.options.contextId || "";
    this.audioRate = 0;      // sample rate of the reply audio being received
    this.conversing = false; // between "ready" and "end"
    this.ended = false;      // this socket's conversation has ended ("end" came)
  }

  /** Open the socket and start the conversation; resolves with the "ready" message, rejects
   *  with an Error whose `code` is "UNREACHABLE", "CLOSED" or the server's error code. */
  connect() {
    const url = this.options.url || defaultUrl();
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (code, message) => {
        if (settled) return;
        settled = true;
        const err = new Error(message);
        err.code = code;
        reject(err);
      };
      let ws;
      try {
        ws = new WebSocket(url, PROTOCOL);
      } catch (e) {
        fail("UNREACHABLE", `bad socket URL ${url}: ${e.message}`);
        return;
      }
      ws.binaryType = "arraybuffer";
      this.ws = ws;
      let opened = false;
      ws.onopen = () => {
        opened = true;
        this.ended = false;
        this._send(this._startMessage());
      };
      ws.onmessage = (ev) => {
        const msg = this._onMessage(ev);
        if (!settled && msg && msg.type === "ready") {
          settled = true;
          resolve(msg);
        } else if (!settled && msg && msg.type === "error" && msg.fatal) {
          fail(msg.code, msg.message);
        } else if (!settled && msg && msg.type === "end") {
          fail(msg.code, msg.message);
        }
      };
      ws.onerror = () => {
        if (!opened) fail("UNREACHABLE", `cannot reach the Parley gateway at ${url}`);
      };
      ws.onclose = (ev) => {
        this.conversing = false;
        fail(opened ? "CLOSED" : "UNREACHABLE",
          opened ? `the gateway closed the connection (${ev.code} ${ev.reason})`
            : `cannot reach the Parley gateway at ${url}`);
        this._emit("close", { code: ev.code, reason: ev.reason, wasClean: ev.wasClean, opened });
      };
    });
  }

  _startMessage() {
    const o = this.options;
    const m = {
      type: "start", protocol: PROTOCOL_VERSION, user: o.user, session_id: this.sessionId,
      context_id: this.contextId, dialog: o.dialog, language: o.language,
      interim_results: o.interimResults, nlu: o.nlu, barge_in: o.bargeIn,
    };
    if (o.apiKey) m.api_key = o.apiKey;
    if (o.inputAudio) {
      m.input_audio = {
        sample_rate_hz: o.inputAudio.sampleRateHz || INPUT_RATE,
        endpointing: o.inputAudio.endpointing || "server",
      };
    }
    if (o.outputAudio) {
      m.output_audio = { sample_rate_hz: o.outputAudio.sampleRateHz || 0, voice: o.outputAudio.voice || "" };
    }
    return m;
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  _onMessage(ev) {
    if (typeof ev.data !== "string") {
      const bytes = ev.data.byteLength - (ev.data.byteLength % 2);
      const samples = new Int16Array(ev.data, 0, bytes / 2);
      this._emit("audio", { samples, sampleRateHz: this.audioRate });
      return null;
    }
    let msg;
    try {
      msg = JSON.parse(ev.data);
    } catch {
      return null;
    }
    if (msg.session_id) this.sessionId = msg.session_id;
    if (msg.type === "ready") {
      this.conversing = true;
      this.ended = false; // a start after "end" on the same socket
    }
    if (msg.type === "end") {
      this.conversing = false;
      this.ended = true;
    }
    if (msg.type === "audio_start") this.audioRate = msg.sample_rate_hz;
    if (msg.type === "contexts") this.contextId = msg.active_context_id;
    this._emit("message", msg);
    this._emit(msg.type, msg);
    return msg;
  }

  _send(obj) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(obj));
    return true;
  }

  get open() {
    return !!this.ws && this.ws.readyState === WebSocket.OPEN;
  }

  /** A typed utterance (one turn). */
  sendText(text) {
    return this._send({ type: "text", text });
  }

  /** 16-bit mono PCM at inputAudio.sampleRateHz (Int16Array or ArrayBuffer). */
  sendAudio(pcm) {
    if (!this.open || this.ended) return false; // after "end" the gateway would refuse it
    this.ws.send(pcm instanceof Int16Array ? pcm.buffer.slice(pcm.byteOffset, pcm.byteOffset + pcm.byteLength) : pcm);
    return true;
  }

  /** Push-to-talk released: the utterance so far is one turn. */
  endOfUtterance() {
    return this._send({ type: "end_of_utterance" });
  }

  /** Stop the bot's reply audio (barge-in by button). */
  interrupt() {
    return this._send({ type: "interrupt" });
  }

  listContexts() {
    return this._send({ type: "list_contexts" });
  }

  /** Make another open context of the session the active one; a "contexts" message follows. */
  switchContext(contextId) {
    return this._send({ type: "switch_context", context_id: contextId });
  }

  /** Open a new context (optionally named) in the session and make it active; a "contexts"
   *  message follows. */
  newContext(name = "") {
    return this._send({ type: "new_context", name });
  }

  /** Half-close: the last turn is answered, then "end". The socket stays open; connect()
   *  again on a new client to continue the session (sessionId). */
  stop() {
    return this._send({ type: "stop" });
  }

  close() {
    if (this.ws) this.ws.close(1000, "bye");
  }
}

/** The URL of the capture worklet, next to this module. */
const WORKLET_URL = new URL("./capture-worklet.js", import.meta.url);

/**
 * Microphone capture: getUserMedia -> AudioWorklet that resamples to 16 kHz and cuts 20 ms
 * frames of 16-bit samples. options.processing (true) asks the browser for echo cancellation
 * (needed for barge-in with loudspeakers), noise suppression and automatic gain. onFrame(Int16Array, rms) gets each frame (rms of the float
 * samples, 0..1, for a level meter or a simple voice-activity check).
 * open() rejects with the getUserMedia error (err.name NotAllowedError = denied,
 * NotFoundError = no microphone).
 */
export class MicCapture {
  constructor(audioContext, onFrame, { targetRate = INPUT_RATE, frameMs = 20, processing = true } = {}) {
    this.ctx = audioContext;
    this.processing = processing; // the browser's echo cancellation, noise suppression, AGC
    this.onFrame = onFrame;
    this.targetRate = targetRate;
    this.frameMs = frameMs;
    this.stream = null;
    this.node = null;
    this.source = null;
    this.enabled = false; // frames are dropped while false (push-to-talk released)
  }

  async open() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      const e = new Error("this browser gives no microphone access here (a secure origin is needed: http://localhost or https)");
      e.name = "NotSupportedError";
      throw e;
    }
    this.stream = await navigator.mediaDevices.getUserMedia({
      audio: {
        channelCount: 1, echoCancellation: this.processing, noiseSuppression: this.processing,
        autoGainControl: this.processing,
      },
    });
    await this.ctx.audioWorklet.addModule(WORKLET_URL);
    this.source = this.ctx.createMediaStreamSource(this.stream);
    this.node = new AudioWorkletNode(this.ctx, "parley-capture", {
      numberOfInputs: 1, numberOfOutputs: 0,
      processorOptions: { targetRate: this.targetRate, frameMs: this.frameMs },
    });
    this.node.port.onmessage = (ev) => {
      if (this.enabled) this.onFrame(new Int16Array(ev.data.pcm), ev.data.rms);
      else if (this.onIdleFrame) this.onIdleFrame(ev.data.rms);
    };
    this.source.connect(this.node);
  }

  close() {
    this.enabled = false;
    if (this.source) this.source.disconnect();
    if (this.node) this.node.port.onmessage = null;
    if (this.stream) this.stream.getTracks().forEach((t) => t.stop());
    this.stream = this.node = this.source = null;
  }
}

/**
 * Reply audio played as it arrives: each chunk becomes an AudioBuffer scheduled right after
 * the previous one (a small lead keeps it gapless). stop() cuts it off (barge-in).
 * stats: chunks and samples received, samples played to the end, sources stopped, the peak
 * level an AnalyserNode saw at the output, and the time (performance.now()) the first chunk of
 * the current reply was scheduled to start.
 */
export class AudioPlayer {
  constructor(audioContext, { leadMs = 30 } = {}) {
    this.ctx = audioContext;
    this.leadS = leadMs / 1000;
    this.gain = audioContext.createGain();
    this.analyser = audioContext.createAnalyser();
    this.analyser.fftSize = 1024;
    this.gain.connect(this.analyser);
    this.analyser.connect(audioContext.destination);
    this.sources = new Set();
    this.playhead = 0;
    this.stats = { chunks: 0, samplesReceived: 0, samplesPlayed: 0, secondsPlayed: 0, stopped: 0, peak: 0, replies: 0 };
    this._meter = null;
    this.onFirstAudio = null; // (startTimeMs) => void, once per reply
    this._replyStarted = false;
  }

  /** A new reply begins (its first chunk reports onFirstAudio). */
  beginReply() {
    this._replyStarted = false;
    this.stats.replies++;
  }

  get playing() {
    return this.sources.size > 0;
  }

  push(samples, sampleRateHz) {
    if (!samples.length || !sampleRateHz) return;
    const f = new Float32Array(samples.length);
    for (let i = 0; i < samples.length; i++) f[i] = samples[i] / 32768;
    const buf = this.ctx.createBuffer(1, f.length, sampleRateHz);
    buf.copyToChannel(f, 0);
    const src = this.ctx.createBufferSource();
    src.buffer = buf;
    src.connect(this.gain);
    const now = this.ctx.currentTime;
    const at = Math.max(now + (this.sources.size ? 0 : this.leadS), this.playhead);
    src.start(at);
    this.playhead = at + buf.duration;
    this.sources.add(src);
    this.stats.chunks++;
    this.stats.samplesReceived += samples.length;
    src.onended = () => {
      if (this.sources.delete(src) && !src._stopped) {
        this.stats.samplesPlayed += samples.length;
        this.stats.secondsPlayed += buf.duration;
      }
    };
    if (!this._replyStarted) {
      this._replyStarted = true;
      const startMs = performance.now() + (at - now) * 1000;
      if (this.onFirstAudio) this.onFirstAudio(startMs);
    }
    this._watchLevel();
  }

  _watchLevel() {
    if (this._meter) return;
    const data = new Float32Array(this.analyser.fftSize);
    this._meter = setInterval(() => {
      this.analyser.getFloatTimeDomainData(data);
      for (let i = 0; i < data.length; i++) {
        const a = Math.abs(data[i]);
        if (a > this.stats.peak) this.stats.peak = a;
      }
      if (!this.playing) {
        clearInterval(this._meter);
        this._meter = null;
      }
    }, 50);
  }

  /** Cut off everything scheduled (barge-in). */
  stop() {
    for (const s of this.sources) {
      s._stopped = true;
      try {
        s.stop();
      } catch { /* not started yet */ }
      this.stats.stopped++;
    }
    this.sources.clear();
    this.playhead = 0;
  }
}
