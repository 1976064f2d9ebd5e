// ONNX Runtime peer for `parley bench encoder --ort`: times the encoder that
// bench_torch.py --export-onnx wrote, with the CPU library of the npm package
// onnxruntime-node (installed under $PL_ORT_DIR). Prints one JSON line like
// bench_torch.py: {"threads": N, "f32": {"lat": {"16": [p50, p99]}, "tp": seq_per_s}}.
// Usage: node bench_ort.js MODEL.onnx THREADS SEQS ITERS TP_ITERS [TP_BATCH (32)]
// One thread: process CPU time (the machine is shared); several: wall time.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require(path.join(process.env.PL_ORT_DIR || '.', 'node_modules', 'onnxruntime-node'));

async function main() {
  const [model, threadsS, seqsS, itersS, tpS, tpBatchS] = process.argv.slice(2);
  const tpBatch = parseInt(tpBatchS || '32', 10);
  // the ids parley bench feeds: within the vocabulary of the model beside MODEL.onnx
  const cfgPath = path.join(path.dirname(model), 'config.json');
  const cfg = fs.existsSync(cfgPath) ? JSON.parse(fs.readFileSync(cfgPath, 'utf8')) : {};
  const vocab = cfg.vocab_size || 30522;
  const threads = parseInt(threadsS, 10), iters = parseInt(itersS, 10), tpIters = parseInt(tpS, 10);
  const sess = await ort.InferenceSession.create(model, {
    intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const clock = threads === 1
    ? () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e3; }
    : () => performance.now();
  async function time(b, s, n) {
    const ids = new BigInt64Array(b * s), mask = new BigInt64Array(b * s).fill(1n);
    for (let i = 0; i < ids.length; i++) ids[i] = BigInt((1000 + (i * 7919) % 20000) % vocab);
    const feeds = { ids: new ort.Tensor('int64', ids, [b, s]), mask: new ort.Tensor('int64', mask, [b, s]) };
    await sess.run(feeds);
    const ts = [];
    for (let i = 0; i < n; i++) {
      const t0 = clock();
      await sess.run(feeds);
      ts.push(clock() - t0);
    }
    ts.sort((x, y) => x - y);
    return [ts[Math.floor(n / 2)], ts[Math.max(0, Math.ceil(n * 0.99) - 1)]];
  }
  const r = { lat: {} };
  for (const s of seqsS.split(',')) r.lat[s] = await time(1, parseInt(s, 10), iters);
  if (tpIters > 0) r.tp = tpBatch / ((await time(tpBatch, 128, tpIters))[0] / 1e3);
  console.log(JSON.stringify({ threads, ort: ort.env.versions ? ort.env.versions.common : '?', f32: r }));
}
main().catch((e) => { console.error(String(e)); process.exit(1); });
