// Times the wasm32 SIMD128 kernels on one 1x1 layer by process CPU time, for a
// shared machine where wall-clock medians mostly measure the other tenants.
//   node --no-liftoff plugin/kernels/wasm/cpu_time_bench.mjs MODULE.wasm \
//        [--hw 14] [--cin 512] [--cout 512] [--group 8] [--isa wasmsimd] \
//        [--sparsity 0,0.3,0.5,0.7,0.9] [--rounds 10] [--runs 10]
// Weights: exactly round(s * blocks) (G-row group, input channel) blocks zeroed
// (seeded, like sparsebytenn bench kernels); NC4HW4 in and out. Per sparsity it
// prints min and median per-run CPU time (process.cpuUsage, user+system) and
// wall time, effective GFLOP/s = 2 x nonzero MACs / time, and the max error
// against a float64 JS reference (a sanity check; the testers are the proof).
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { WASI } from "node:wasi";

const { values: opt, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    hw: { type: "string", default: "14" }, cin: { type: "string", default: "512" },
    cout: { type: "string", default: "512" }, group: { type: "string", default: "8" },
    isa: { type: "string", default: "wasmsimd" }, sparsity: { type: "string", default: "0,0.3,0.5,0.7,0.9" },
    rounds: { type: "string", default: "10" }, runs: { type: "string", default: "10" },
  },
});
if (positionals.length !== 1) {
  console.error("usage: node --no-liftoff cpu_time_bench.mjs MODULE.wasm [--hw N --cin N --cout N --group G --isa ISA --sparsity LIST --rounds N --runs N]");
  process.exit(2);
}
const [HW, I, O, G, ROUNDS, RUNS] = ["hw", "cin", "cout", "group", "rounds", "runs"].map((k) => parseInt(opt[k], 10));
const P = HW * HW, blocksIn = Math.ceil(I / 4), blocksOut = Math.ceil(O / 4);

const wasi = new WASI({ version: "preview1", args: [], env: {} });
const instance = await WebAssembly.instantiate(await WebAssembly.compile(readFileSync(positionals[0])), wasi.getImportObject());
wasi.initialize(instance);
const ex = instance.exports;
const alloc = (n) => { const p = ex.wmalloc(n); if (!p) throw new Error("wasm malloc failed"); return p; };
const f32 = (p, n) => new Float32Array(ex.memory.buffer, p, n);  // re-made after any wasm call (memory may grow)

let seed = 12345;  // xorshift32: reproducible data without a dependency
const rand = () => { seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5; return (seed >>> 0) / 4294967296; };
const normal = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());

const x = Float32Array.from({ length: I * P }, normal);  // NCHW
const dense = Float32Array.from({ length: O * I }, normal);
const bias = Float32Array.from({ length: O }, () => 0.1 * normal());
const xp = alloc(blocksIn * P * 16), wp = alloc(O * I * 4), bp = alloc(O * 4), yp = alloc(blocksOut * P * 16);
{
  const dst = f32(xp, blocksIn * P * 4).fill(0);
  for (let c = 0; c < I; c++) for (let p = 0; p < P; p++) dst[((c >> 2) * P + p) * 4 + (c & 3)] = x[c * P + p];
  f32(bp, O).set(bias);
}
const isa = alloc(opt.isa.length + 1);
new Uint8Array(ex.memory.buffer, isa, opt.isa.length + 1).set(Buffer.from(opt.isa + "\0"));
const handle = alloc(4), info = alloc(64);
const median = (a) => { const s = [...a].sort((u, v) => u - v); return s[s.length >> 1]; };

console.log(`layer ${HW}x${HW} ${I}->${O}, G=${G}, isa ${opt.isa}, node ${process.version} ${process.execArgv.join(" ")}; ` +
            `${ROUNDS} rounds x ${RUNS} runs`);
for (const sp of opt.sparsity.split(",").map(Number)) {
  const groups = Math.ceil(O / G), order = Array.from({ length: groups * I }, (_, k) => k);
  for (let k = order.length - 1; k > 0; k--) { const j = Math.floor(rand() * (k + 1)); [order[k], order[j]] = [order[j], order[k]]; }
  const w = Float32Array.from(dense);
  for (const blk of order.slice(0, Math.round(sp * order.length))) {
    const g = Math.floor(blk / I), ic = blk % I;
    for (let r = g * G; r < Math.min(O, g * G + G); r++) w[r * I + ic] = 0;
  }
  const macs = w.reduce((n, v) => n + (v !== 0), 0) * P;
  f32(wp, O * I).set(w);
  if (ex.pack(O, I, 1, 1, G, -Infinity, Infinity, isa, wp, bp, handle)) throw new Error("pack failed");
  const packed = new Uint32Array(ex.memory.buffer, handle, 1)[0];
  if (ex.info(packed, info)) throw new Error("info failed");
  const infoWords = new Int32Array(ex.memory.buffer, info, 9);
  const variant = Buffer.from(new Uint8Array(ex.memory.buffer, infoWords[7], 64)).toString().split("\0")[0];
  const run = () => { if (ex.run(packed, 1, HW, HW, HW, HW, 1, 1, 1, 1, 0, 0, 0, 0, xp, 4, yp, 4, 1)) throw new Error("run failed"); };
  run();
  let err = 0, scale = 0;
  const y = f32(yp, blocksOut * P * 4);
  for (let o = 0; o < O; o++) {
    for (let p = 0; p < P; p++) {
      let ref = bias[o];
      for (let c = 0; c < I; c++) ref += w[o * I + c] * x[c * P + p];
      err = Math.max(err, Math.abs(ref - y[((o >> 2) * P + p) * 4 + (o & 3)]));
      scale = Math.max(scale, Math.abs(ref));
    }
  }
  const cpu = [], wall = [];
  for (let r = 0; r < ROUNDS; r++) {
    for (let k = 0; k < RUNS; k++) {
      const c0 = process.cpuUsage(), t0 = performance.now();
      run();
      const t1 = performance.now(), c1 = process.cpuUsage(c0);
      wall.push(t1 - t0);
      cpu.push((c1.user + c1.system) / 1000);
    }
  }
  ex.free_packed(packed);
  const gf = (ms) => (2 * macs / ms / 1e6).toFixed(1);
  const cmin = Math.min(...cpu), cmed = median(cpu), wmin = Math.min(...wall), wmed = median(wall);
  console.log(`sparsity ${sp.toFixed(2)} ${variant}: cpu min ${cmin.toFixed(3)} ms (${gf(cmin)} GFLOP/s) ` +
              `median ${cmed.toFixed(3)} ms (${gf(cmed)}) | wall min ${wmin.toFixed(3)} (${gf(wmin)}) ` +
              `median ${wmed.toFixed(3)} (${gf(wmed)}) | max rel err ${(err / scale).toExponential(1)}`);
}
