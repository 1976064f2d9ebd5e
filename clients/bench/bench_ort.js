// ONNX Runtime peer for `parley bench encoder --ort`: times the encoder that
// bench_torch.py --export-onnx wrote, and its dynamic-int8 rewrite by
// ort_int8.py when INT8.onnx is given, with the CPU library of the npm package
// onnxruntime-node (installed under $PL_ORT_DIR). Prints one JSON line like
// bench_torch.py: {"threads": N, "f32": {"lat": {"16": [p50, p99]}, "tp": seq_per_s}, "int8": {...}}.
// Usage: node bench_ort.js MODEL.onnx THREADS SEQS ITERS TP_ITERS [TP_BATCH (32)] [INT8.onnx]
//        node bench_ort.js --check F32.onnx INT8.onnx SEQ [OPTIMIZED_OUT.onnx]
//   (--check: cosine and largest error of INT8's hidden states against F32's on the
//   same 1 x SEQ ids; OPTIMIZED_OUT: where ONNX Runtime writes its optimized INT8 graph)
// One thread: process CPU time (the machine is shared); several: wall time.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require(path.join(process.env.PL_ORT_DIR || '.', 'node_modules', 'onnxruntime-node'));

// the ids parley bench feeds: within the vocabulary of the model beside MODEL.onnx
function feedsFor(model, b, s) {
  const cfgPath = path.join(path.dirname(model), 'config.json');
  const cfg = fs.existsSync(cfgPath) ? JSON.parse(fs.readFileSync(cfgPath, 'utf8')) : {};
  const vocab = cfg.vocab_size || 30522;
  const ids = new BigInt64Array(b * s), mask = new BigInt64Array(b * s).fill(1n);
  for (let i = 0; i < ids.length; i++) ids[i] = BigInt((1000 + (i * 7919) % 20000) % vocab);
  return { ids: new ort.Tensor('int64', ids, [b, s]), mask: new ort.Tensor('int64', mask, [b, s]) };
}

function open(model, threads, extra) {
  return ort.InferenceSession.create(model, Object.assign({
    intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  }, extra || {}));
}

async function check(f32, int8, seqS, optOut) {
  const s = parseInt(seqS, 10);
  const a = await open(f32, 1), b = await open(int8, 1, optOut ? { optimizedModelFilePath: optOut } : {});
  const feeds = feedsFor(f32, 1, s);
  const x = (await a.run(feeds)).hidden.data, y = (await b.run(feeds)).hidden.data;
  let dot = 0, nx = 0, ny = 0, maxErr = 0, maxAbs = 0;
  for (let i = 0; i < x.length; i++) {
    dot += x[i] * y[i]; nx += x[i] * x[i]; ny += y[i] * y[i];
    maxErr = Math.max(maxErr, Math.abs(x[i] - y[i])); maxAbs = Math.max(maxAbs, Math.abs(x[i]));
  }
  const cos = dot / Math.sqrt(nx * ny);
  console.log(`int8 vs f32 hidden states, 1 x ${s}: cosine ${cos.toFixed(5)}, max |error| ${maxErr.toFixed(4)} ` +
              `(max |f32| ${maxAbs.toFixed(3)})`);
  if (!(cos > 0.99)) { console.error(`cosine ${cos} below 0.99: the int8 graph does not compute the encoder`); process.exit(1); }
}

async function main() {
  if (process.argv[2] === '--check') return check(...process.argv.slice(3));
  const [model, threadsS, seqsS, itersS, tpS, tpBatchS, int8Model] = process.argv.slice(2);
  const tpBatch = parseInt(tpBatchS || '32', 10);
  const threads = parseInt(threadsS, 10), iters = parseInt(itersS, 10), tpIters = parseInt(tpS, 10);
  const clock = threads === 1
    ? () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e3; }
    : () => performance.now();
  async function time(sess, b, s, n) {
    const feeds = feedsFor(model, b, s);
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
  const out = { threads, ort: ort.env.versions ? ort.env.versions.common : '?' };
  for (const [prec, file] of [['f32', model], ['int8', int8Model]]) {
    if (!file) continue;
    const sess = await open(file, threads);
    const r = { lat: {} };
    for (const s of seqsS.split(',')) r.lat[s] = await time(sess, 1, parseInt(s, 10), iters);
    if (tpIters > 0) r.tp = tpBatch / ((await time(sess, tpBatch, 128, tpIters))[0] / 1e3);
    out[prec] = r;
    await sess.release();
  }
  console.log(JSON.stringify(out));
}
main().catch((e) => { console.error(String(e)); process.exit(1); });
