// SparseByteNN group-sparse convolution in the browser (and node): an ES module,
// plain JS with JSDoc types, no bundler and no dependencies.
//
// It loads one of the two wasm32 builds of the kernels (build them with
// `python -c "from sparsebytenn.bench.kernel_peers import build_wasm; build_wasm()"`,
// which writes both into build/kernels-wasm32-clang19/plugin/kernels/):
//   sbnn_kernels_wasm_relaxed.wasm  f32x4.relaxed_madd (variant isa "wasmrelaxedsimd"),
//                                   picked when WebAssembly.validate accepts a tiny
//                                   relaxed-SIMD module (Chromium >= 114; node 20 only
//                                   with --experimental-wasm-relaxed-simd)
//   sbnn_kernels_wasm.wasm          SIMD128 mul + add (isa "wasmsimd") otherwise
// relaxed_madd may round once (fused) or twice, as the engine decides, so results
// can differ in the last bits between engines (docs/PACKED_FORMAT.md).
//
// Weights are dense OIHW Float32Arrays; the kernels' own packer (sbnn_gsparse_pack,
// inside the .wasm) keeps only the nonzero (G-row group, input channel) blocks, in
// the layout docs/PACKED_FORMAT.md describes. Activations are Float32Arrays in
// NCHW or in MNN's NC4HW4 ([ceil(C/4)][N][H][W][4], padded lanes zero). One thread.
//
//   import { loadKernels } from "./sparsebytenn.mjs";
//   const k = await loadKernels({ simd: "sbnn_kernels_wasm.wasm", relaxed: "sbnn_kernels_wasm_relaxed.wasm" });
//   const conv = k.pack(weights, [O, I, 3, 3], { bias, groupSize: 8, outputMin: 0 });
//   const y = conv.run(x, [1, I, 56, 56], { padding: [1, 1, 1, 1] });   // y.data, y.shape
//   conv.dispose();

/**
 * A tiny module whose one function runs f32x4.relaxed_madd on three zero
 * vectors: engines without relaxed SIMD reject it in WebAssembly.validate.
 * (type () -> (); body: 3 x v128.const 0, relaxed_madd (0xfd 0x105), drop.)
 */
const RELAXED_PROBE = (() => {
  const zero = new Array(16).fill(0);
  const vconst = [0xfd, 0x0c, ...zero];
  const body = [0x00, ...vconst, ...vconst, ...vconst, 0xfd, 0x85, 0x02, 0x1a, 0x0b];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
    0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type section: one type () -> ()
    0x03, 0x02, 0x01, 0x00, // function section: one function of type 0
    0x0a, body.length + 2, 0x01, body.length, ...body, // code section
  ]);
})();

/** @returns {boolean} true when this engine validates relaxed-SIMD code. */
export function relaxedSimdSupported() {
  return WebAssembly.validate(RELAXED_PROBE);
}

/** Layout name -> channel block P of the C API (1 = NCHW). */
const LAYOUTS = { nchw: 1, nc4hw4: 4 };

/**
 * @typedef {string | URL | ArrayBuffer | ArrayBufferView | Response} WasmSource
 *   a URL (fetched), the module's bytes, or a fetch Response
 */

/** @param {WasmSource} src @returns {Promise<ArrayBuffer | ArrayBufferView>} */
async function bytesOf(src) {
  if (src instanceof ArrayBuffer || ArrayBuffer.isView(src)) return src;
  const resp = typeof Response !== "undefined" && src instanceof Response ? src : await fetch(src);
  if (!resp.ok) throw new Error(`sparsebytenn: cannot load ${resp.url || String(src)}: HTTP ${resp.status}`);
  return resp.arrayBuffer();
}

/**
 * The six WASI preview1 functions wasi-libc pulls in (getenv, stdio), enough for
 * a reactor module that never opens files: no environment, stderr to console.
 * @param {() => WebAssembly.Memory} memory
 */
function wasiStubs(memory) {
  const u32 = () => new Uint32Array(memory().buffer);
  return {
    environ_sizes_get(countPtr, sizePtr) {
      const m = u32();
      m[countPtr >>> 2] = 0;
      m[sizePtr >>> 2] = 0;
      return 0;
    },
    environ_get() { return 0; },
    fd_close() { return 0; },
    fd_seek() { return 70; }, // ESPIPE
    fd_write(fd, iovs, iovsLen, nwrittenPtr) {
      const m = u32(), bytes = new Uint8Array(memory().buffer);
      let text = "", total = 0;
      for (let i = 0; i < iovsLen; i++) {
        const p = m[(iovs >>> 2) + 2 * i], n = m[(iovs >>> 2) + 2 * i + 1];
        text += new TextDecoder().decode(bytes.slice(p, p + n));
        total += n;
      }
      if (text.trim()) console.warn(text.trimEnd());
      m[nwrittenPtr >>> 2] = total;
      return 0;
    },
    proc_exit(code) { throw new Error(`sparsebytenn: wasm called exit(${code})`); },
  };
}

/**
 * Load the kernels: the relaxed-SIMD build when the engine validates relaxed
 * SIMD and `relaxed` is given, the SIMD128 build otherwise.
 * @param {{simd: WasmSource, relaxed?: WasmSource, preferRelaxed?: boolean}} sources
 *   preferRelaxed = false forces the SIMD128 build.
 * @returns {Promise<Kernels>}
 */
export async function loadKernels(sources) {
  if (!sources || !sources.simd) throw new Error("sparsebytenn: loadKernels needs { simd: <url or bytes of sbnn_kernels_wasm.wasm> }");
  const useRelaxed = !!sources.relaxed && sources.preferRelaxed !== false && relaxedSimdSupported();
  const module = await WebAssembly.compile(await bytesOf(useRelaxed ? sources.relaxed : sources.simd));
  /** @type {WebAssembly.Memory | undefined} */
  let memory;
  const instance = await WebAssembly.instantiate(module, {
    wasi_snapshot_preview1: wasiStubs(() => /** @type {WebAssembly.Memory} */ (memory)),
  });
  memory = /** @type {WebAssembly.Memory} */ (instance.exports.memory);
  if (typeof instance.exports._initialize === "function") instance.exports._initialize();
  return new Kernels(instance, useRelaxed ? "relaxed" : "simd128");
}

/** @param {unknown} a @param {string} what @returns {Float32Array} */
function f32(a, what) {
  if (!(a instanceof Float32Array)) throw new TypeError(`sparsebytenn: ${what} must be a Float32Array, got ${a === null ? "null" : typeof a === "object" ? a.constructor.name : typeof a}`);
  return a;
}

/** @param {unknown} s @param {number} n @param {string} what @returns {number[]} */
function dims(s, n, what) {
  if (!Array.isArray(s) || s.length !== n || !s.every((d) => Number.isInteger(d) && d >= 1))
    throw new RangeError(`sparsebytenn: ${what} must be ${n} positive integers, got ${JSON.stringify(s)}`);
  return s;
}

const prod = (/** @type {number[]} */ s) => s.reduce((a, b) => a * b, 1);

export class Kernels {
  /** @param {WebAssembly.Instance} instance @param {"relaxed" | "simd128"} build */
  constructor(instance, build) {
    /** @type {any} */
    this.ex = instance.exports;
    /** which .wasm was loaded: "relaxed" or "simd128" */
    this.build = build;
  }

  /** @returns {string} the ISA automatic dispatch picks ("wasmrelaxedsimd" or "wasmsimd") */
  get isa() { return this.cstr(this.ex.default_isa()); }

  /** @returns {{name: string, isa: string, groupSize: number, tile: number}[]} the variant table */
  variants() {
    const out = [], p = this.alloc(20);
    try {
      for (let i = 0; i < this.ex.variant_count(); i++) {
        this.check(this.ex.variant_get(i, p), "variant_get");
        const v = new Int32Array(this.ex.memory.buffer, p, 5);
        out.push({ name: this.cstr(v[0]), isa: this.cstr(v[1]), groupSize: v[2], tile: v[3] });
      }
    } finally { this.ex.wfree(p); }
    return out;
  }

  /** @param {number} n bytes @returns {number} pointer into linear memory */
  alloc(n) {
    const p = this.ex.wmalloc(Math.max(1, n)) >>> 0;
    if (!p) throw new RangeError(`sparsebytenn: out of wasm memory allocating ${n} bytes`);
    return p;
  }

  /** @param {Float32Array} a @returns {number} */
  put(a) {
    const p = this.alloc(a.byteLength);
    new Float32Array(this.ex.memory.buffer, p, a.length).set(a);
    return p;
  }

  /** @param {number} p @returns {string} */
  cstr(p) {
    const b = new Uint8Array(this.ex.memory.buffer);
    let e = p >>> 0;
    while (b[e]) e++;
    return new TextDecoder().decode(b.slice(p >>> 0, e));
  }

  /** @param {number} status @param {string} what */
  check(status, what) {
    if (status !== 0) throw new RangeError(`sparsebytenn: ${what}: ${this.cstr(this.ex.status_string(status))}`);
  }

  /**
   * Pack dense OIHW weights for the group-sparse kernels.
   * @param {Float32Array} weights O*I*kh*kw values, OIHW
   * @param {number[]} shape [O, I, kh, kw]
   * @param {{bias?: Float32Array, groupSize?: 1|2|4|8|16, outputMin?: number, outputMax?: number, isa?: string}} [opts]
   *   groupSize: output channels per group (default 8); outputMin/Max: fused clamp
   *   (0 / 6 for ReLU6); isa: force "wasmsimd" / "wasmrelaxedsimd" / "ref".
   * @returns {PackedConv}
   */
  pack(weights, shape, opts = {}) {
    f32(weights, "weights");
    const [o, i, kh, kw] = dims(shape, 4, "weight shape [O, I, kh, kw]");
    if (weights.length !== o * i * kh * kw)
      throw new RangeError(`sparsebytenn: weights hold ${weights.length} values, shape ${JSON.stringify(shape)} needs ${o * i * kh * kw}`);
    const g = opts.groupSize ?? 8;
    if (![1, 2, 4, 8, 16].includes(g)) throw new RangeError(`sparsebytenn: groupSize must be 1, 2, 4, 8 or 16, got ${g}`);
    const lo = opts.outputMin ?? -Infinity, hi = opts.outputMax ?? Infinity;
    if (!(lo <= hi)) throw new RangeError(`sparsebytenn: need outputMin <= outputMax, got ${lo} > ${hi}`);
    if (opts.bias !== undefined) {
      f32(opts.bias, "bias");
      if (opts.bias.length !== o) throw new RangeError(`sparsebytenn: bias holds ${opts.bias.length} values, O = ${o}`);
    }
    const ex = this.ex, keep = [];
    try {
      const pw = this.put(weights); keep.push(pw);
      const pb = opts.bias !== undefined ? this.put(opts.bias) : 0; if (pb) keep.push(pb);
      let pisa = 0;
      if (opts.isa) {
        const s = new TextEncoder().encode(opts.isa + "\0");
        pisa = this.alloc(s.length); keep.push(pisa);
        new Uint8Array(ex.memory.buffer, pisa, s.length).set(s);
        if (!ex.isa_available(pisa)) throw new RangeError(`sparsebytenn: ISA "${opts.isa}" is not in this build (${this.build})`);
      }
      const out = this.alloc(4); keep.push(out);
      this.check(ex.pack(o, i, kh, kw, g, lo, hi, pisa, pw, pb, out), "pack");
      const handle = new Uint32Array(ex.memory.buffer, out, 1)[0];
      return new PackedConv(this, handle, [o, i, kh, kw]);
    } finally {
      for (const p of keep) ex.wfree(p);
    }
  }
}

/**
 * @typedef {{layout: string, outLayout: string, inputLength: number, outShape: number[],
 *            readonly input: Float32Array, readonly output: Float32Array,
 *            run: () => void, dispose: () => void}} ConvPlan
 */

export class PackedConv {
  /** @param {Kernels} k @param {number} handle @param {number[]} shape */
  constructor(k, handle, shape) {
    this.k = k;
    this.handle = handle;
    /** [O, I, kh, kw] */
    this.shape = shape;
    const p = k.alloc(36);
    try {
      k.check(k.ex.info(handle, p), "info");
      const v = new Int32Array(k.ex.memory.buffer, p, 9);
      /** what the packer kept and which microkernel runs it */
      this.info = { groupSize: v[4], nonzeroBlocks: v[5], nonzeroMacsPerPixel: v[6],
                    variant: k.cstr(v[7]), isa: k.cstr(v[8]) };
    } finally { k.ex.wfree(p); }
  }

  /**
   * Run the convolution (1 thread): copies x in and the output out (see plan()
   * to run many times on buffers inside the module's memory, without copies).
   * @param {Float32Array} x input: NCHW (N*C*H*W values) or NC4HW4 (ceil(C/4)*N*H*W*4)
   * @param {number[]} shape the logical input shape [N, C, H, W] (also for NC4HW4)
   * @param {RunOptions} [opts]
   * @returns {{data: Float32Array, shape: number[], layout: string}} shape is [N, O, OH, OW]
   */
  run(x, shape, opts = {}) {
    f32(x, "input");
    const plan = this.plan(shape, opts);
    try {
      if (x.length !== plan.inputLength)
        throw new RangeError(`sparsebytenn: ${plan.layout} input of shape ${JSON.stringify(shape)} needs ${plan.inputLength} values, got ${x.length}`);
      plan.input.set(x);
      plan.run();
      return { data: plan.output.slice(), shape: plan.outShape, layout: plan.outLayout };
    } finally {
      plan.dispose();
    }
  }

  /**
   * @typedef {{layout?: "nchw"|"nc4hw4", outLayout?: "nchw"|"nc4hw4", stride?: number[],
   *            dilation?: number[], padding?: number[]}} RunOptions
   *   padding [top, left] (= bottom, right) or [top, left, bottom, right]; outLayout defaults to layout.
   */

  /**
   * Input and output buffers inside the module's memory for one input shape:
   * write plan.input, call plan.run() any number of times, read plan.output.
   * (The views are made afresh on each access: memory growth detaches old ones.)
   * @param {number[]} shape [N, C, H, W]
   * @param {RunOptions} [opts]
   * @returns {ConvPlan}
   */
  plan(shape, opts = {}) {
    if (!this.handle) throw new Error("sparsebytenn: this PackedConv was disposed");
    const [n, c, h, w] = dims(shape, 4, "input shape [N, C, H, W]");
    const [o, i, kh, kw] = this.shape;
    if (c !== i) throw new RangeError(`sparsebytenn: input has ${c} channels, the weights expect ${i}`);
    const layout = opts.layout ?? "nchw", outLayout = opts.outLayout ?? layout;
    const pin = LAYOUTS[layout], pout = LAYOUTS[outLayout];
    if (!pin || !pout) throw new RangeError(`sparsebytenn: layout must be "nchw" or "nc4hw4", got ${JSON.stringify(pin ? outLayout : layout)}`);
    const [sh, sw] = dims(opts.stride ?? [1, 1], 2, "stride");
    const [dh, dw] = dims(opts.dilation ?? [1, 1], 2, "dilation");
    let pad = opts.padding ?? [0, 0, 0, 0];
    if (Array.isArray(pad) && pad.length === 2) pad = [pad[0], pad[1], pad[0], pad[1]];
    if (!Array.isArray(pad) || pad.length !== 4 || !pad.every((p) => Number.isInteger(p) && p >= 0))
      throw new RangeError(`sparsebytenn: padding must be [top, left] or [top, left, bottom, right] of integers >= 0, got ${JSON.stringify(opts.padding)}`);
    const spanH = h + pad[0] + pad[2] - dh * (kh - 1) - 1, spanW = w + pad[1] + pad[3] - dw * (kw - 1) - 1;
    if (spanH < 0 || spanW < 0)
      throw new RangeError(`sparsebytenn: the ${kh}x${kw} kernel (dilation ${dh}x${dw}) is larger than the padded ${h}x${w} input`);
    const oh = Math.floor(spanH / sh) + 1, ow = Math.floor(spanW / sw) + 1;
    const inLen = pin === 1 ? n * c * h * w : Math.ceil(c / 4) * n * h * w * 4;
    const outLen = pout === 1 ? n * o * oh * ow : Math.ceil(o / 4) * n * oh * ow * 4;
    const k = this.k, ex = k.ex, handle = this.handle;
    const px = k.alloc(inLen * 4);
    let py = 0;
    try {
      py = k.alloc(outLen * 4);
    } finally {
      if (!py) ex.wfree(px);
    }
    new Float32Array(ex.memory.buffer, px, inLen).fill(0);   // NC4HW4 padded lanes stay zero
    let live = true;
    const alive = () => {
      if (!live) throw new Error("sparsebytenn: this plan was disposed");
      if (!this.handle) throw new Error("sparsebytenn: this PackedConv was disposed");
    };
    return {
      layout, outLayout, inputLength: inLen, outShape: [n, o, oh, ow],
      get input() { alive(); return new Float32Array(ex.memory.buffer, px, inLen); },
      get output() { alive(); return new Float32Array(ex.memory.buffer, py, outLen); },
      run() {
        alive();
        k.check(ex.run(handle, n, h, w, oh, ow, sh, sw, dh, dw, pad[0], pad[1], pad[2], pad[3], px, pin, py, pout, 1), "run");
      },
      dispose() {
        if (live) { ex.wfree(px); ex.wfree(py); }
        live = false;
      },
    };
  }

  /** Free the packed weights (the object cannot run afterwards). */
  dispose() {
    if (this.handle) this.k.ex.free_packed(this.handle);
    this.handle = 0;
  }
}
