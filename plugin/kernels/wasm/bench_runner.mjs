// Times the wasm32 SIMD128 kernels inside node (run with `node --no-liftoff`
// so TurboFan compiles the module up front; Liftoff never tiers up a long run).
// Driven by sparsebytenn.bench.kernel_peers.WasmNodeRunner: one JSON request per
// stdin line, one JSON reply per stdout line.
//   {"cmd":"load","dir":D,"o":O,"i":I,"hw":HW,"group":G,"isa":"wasmsimd"}
//        reads D/w.f32 (OIHW), D/b.f32, D/x.f32 (NC4HW4: [ceil(I/4)][HW*HW][4]) -> {"variant":...}
//   {"cmd":"time","n":N}      -> {"ms":[...],"cpu_ms":[...]}  per run: wall time
//        (performance.now()) and process CPU time (process.cpuUsage(), user+system),
//        which other processes' load on a shared machine does not inflate as much
//   {"cmd":"output","path":P} -> writes the NC4HW4 output as raw float32 -> {}
import { readFileSync, writeFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { WASI } from "node:wasi";

const wasi = new WASI({ version: "preview1", args: [], env: {} });
const module = await WebAssembly.compile(readFileSync(process.argv[2]));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
wasi.initialize(instance);
const ex = instance.exports;

const bytes = () => new Uint8Array(ex.memory.buffer);
function put(buf) {
  const p = ex.wmalloc(buf.length);
  if (!p) throw new Error("wasm malloc failed");
  bytes().set(buf, p);
  return p;
}
function cstr(p) {
  const b = bytes();
  let e = p;
  while (b[e]) e++;
  return Buffer.from(b.subarray(p, e)).toString();
}
function check(status, what) {
  if (status !== 0) throw new Error(`${what}: ${cstr(ex.status_string(status))}`);
}

let job = null;
function load(m) {
  const w = put(readFileSync(`${m.dir}/w.f32`));
  const b = put(readFileSync(`${m.dir}/b.f32`));
  const x = put(readFileSync(`${m.dir}/x.f32`));
  const isa = put(Buffer.from(m.isa + "\0"));
  const handle = ex.wmalloc(4);
  check(ex.pack(m.o, m.i, 1, 1, m.group, -Infinity, Infinity, isa, w, b, handle), "pack");
  const packed = new Uint32Array(ex.memory.buffer, handle, 1)[0];
  const yBytes = Math.ceil(m.o / 4) * 4 * m.hw * m.hw * 4;
  job = { packed, x, y: ex.wmalloc(yBytes), yBytes, hw: m.hw };
  const info = ex.wmalloc(64);
  check(ex.info(packed, info), "info");
  const variant = cstr(new Int32Array(ex.memory.buffer, info, 9)[7]);
  return { variant };
}
const runOnce = () =>
  check(ex.run(job.packed, 1, job.hw, job.hw, job.hw, job.hw, 1, 1, 1, 1, 0, 0, 0, 0, job.x, 4, job.y, 4, 1), "run");

const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  let reply;
  try {
    const m = JSON.parse(line);
    if (m.cmd === "load") reply = load(m);
    else if (m.cmd === "time") {
      const ms = [], cpu_ms = [];
      for (let i = 0; i < m.n; i++) {
        const c0 = process.cpuUsage(), t0 = performance.now();
        runOnce();
        const t1 = performance.now(), c1 = process.cpuUsage(c0);
        ms.push(t1 - t0);
        cpu_ms.push((c1.user + c1.system) / 1000);
      }
      reply = { ms, cpu_ms };
    } else if (m.cmd === "output") {
      runOnce();
      writeFileSync(m.path, Buffer.from(new Uint8Array(ex.memory.buffer, job.y, job.yBytes)));
      reply = {};
    } else throw new Error(`unknown command ${m.cmd}`);
  } catch (e) {
    reply = { error: String(e && e.message ? e.message : e) };
  }
  process.stdout.write(JSON.stringify(reply) + "\n");
}
