// capture-worklet.js - AudioWorklet processor "parley-capture": the microphone at the
// AudioContext's rate (sampleRate, often 48000) resampled to processorOptions.targetRate
// (16000) by a windowed-sinc low-pass interpolator, converted to 16-bit and posted to the
// main thread in frames of frameMs (20 ms = 320 samples) as { pcm: ArrayBuffer, rms }.
/* global sampleRate, registerProcessor, AudioWorkletProcessor */

const HALF = 16; // taps on each side of the interpolation point, in input samples

class Resampler {
  constructor(inRate, outRate) {
    this.step = inRate / outRate;               // input samples per output sample
    this.cut = Math.min(1, outRate / inRate) * 0.92; // cutoff as a fraction of input Nyquist
    this.buf = new Float32Array(0);
    this.t = HALF;                               // position of the next output in buf
  }

  kernel(x) {
    const w = 0.5 + 0.5 * Math.cos((Math.PI * x) / (HALF + 1)); // Hann
    const a = Math.PI * this.cut * x;
    return this.cut * (x === 0 ? 1 : Math.sin(a) / a) * w;
  }

  push(input) {
    const buf = new Float32Array(this.buf.length + input.length);
    buf.set(this.buf);
    buf.set(input, this.buf.length);
    const out = [];
    let t = this.t;
    while (Math.floor(t) + HALF < buf.length) {
      const c = Math.floor(t);
      let acc = 0;
      for (let i = c - HALF + 1; i <= c + HALF; i++) acc += buf[i] * this.kernel(t - i);
      out.push(acc);
      t += this.step;
    }
    const keep = Math.max(0, Math.floor(t) - HALF);
    this.buf = buf.slice(keep);
    this.t = t - keep;
    return out;
  }
}

class ParleyCapture extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const o = (options && options.processorOptions) || {};
    this.target = o.targetRate || 16000;
    this.frame = Math.round((this.target * (o.frameMs || 20)) / 1000);
    this.rs = sampleRate === this.target ? null : new Resampler(sampleRate, this.target);
    this.pending = [];
  }

  process(inputs) {
    const ch = inputs[0] && inputs[0][0];
    if (!ch) return true;
    const y = this.rs ? this.rs.push(ch) : Array.from(ch);
    for (const v of y) this.pending.push(v);
    while (this.pending.length >= this.frame) {
      const f = this.pending.splice(0, this.frame);
      const pcm = new Int16Array(this.frame);
      let e = 0;
      for (let i = 0; i < f.length; i++) {
        const s = Math.max(-1, Math.min(1, f[i]));
        e += s * s;
        pcm[i] = s < 0 ? s * 32768 : s * 32767;
      }
      this.port.postMessage({ pcm: pcm.buffer, rms: Math.sqrt(e / f.length) }, [pcm.buffer]);
    }
    return true;
  }
}

registerProcessor("parley-capture", ParleyCapture);
