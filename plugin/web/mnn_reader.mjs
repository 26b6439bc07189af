// Read the tagged group-sparse convolutions out of a converted .mnn file in JS
// (docs/FORMAT.md: the field ids, the IDSTQuan alpha/index coding, the sparse
// args), as dense OIHW Float32Arrays ready for Kernels.pack():
//
//   import { readTaggedConvs } from "./mnn_reader.mjs";
//   for (const c of readTaggedConvs(new Uint8Array(await (await fetch("model.mnn")).arrayBuffer()))) {
//     const conv = kernels.pack(c.weights, c.shape, { bias: c.bias, groupSize: c.group,
//                                                     outputMin: c.outputMin, outputMax: c.outputMax });
//     const y = conv.run(x, [1, c.shape[1], H, W], { stride: c.stride, dilation: c.dilation,
//                                                   padding: c.padding(H, W) });
//   }
//
// Only a flatbuffer reader for the fields listed in FORMAT.md; every offset and
// length is checked against the file before it is read (a bad file throws a
// RangeError naming the op, it is never read out of bounds).

const CONVOLUTION = 12; // OpType
const CONVOLUTION2D = 9; // OpParameter union type of Convolution2D
const MAX_WEIGHTS = 1 << 28;

class Reader {
  /** @param {Uint8Array} bytes */
  constructor(bytes) {
    if (!(bytes instanceof Uint8Array)) throw new TypeError("mnn_reader: pass the file as a Uint8Array");
    this.b = bytes;
    this.v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  /** @param {number} p @param {number} n @param {string} what */
  need(p, n, what) {
    if (!(Number.isInteger(p) && p >= 0 && n >= 0 && p + n <= this.b.length))
      throw new RangeError(`mnn_reader: ${what}: offset ${p} + ${n} bytes is outside the ${this.b.length}-byte file`);
  }
  u32(p, what) { this.need(p, 4, what); return this.v.getUint32(p, true); }
  i32(p, what) { this.need(p, 4, what); return this.v.getInt32(p, true); }
  /** table at t -> field fid's absolute position, or 0 when absent */
  field(t, fid, what) {
    const vt = t - this.i32(t, what);
    this.need(vt, 4, `${what} vtable`);
    const vtSize = this.v.getUint16(vt, true), slot = 4 + 2 * fid;
    if (slot + 2 > vtSize) return 0;
    this.need(vt, vtSize, `${what} vtable`);
    const off = this.v.getUint16(vt + slot, true);
    return off ? t + off : 0;
  }
  scalar(t, fid, kind, dflt, what) {
    const p = this.field(t, fid, what);
    if (!p) return dflt;
    if (kind === "i32") return this.i32(p, what);
    this.need(p, 1, what);
    return kind === "bool" ? this.b[p] !== 0 : this.v.getInt8(p);
  }
  ref(t, fid, what) {
    const p = this.field(t, fid, what);
    return p ? p + this.u32(p, what) : 0;
  }
  /** -> [start, length] of a vector of elemSize-byte elements, or null */
  vector(t, fid, elemSize, what) {
    const p = this.ref(t, fid, what);
    if (!p) return null;
    const n = this.u32(p, what);
    this.need(p + 4, n * elemSize, what);
    return [p + 4, n];
  }
  string(t, fid, what) {
    const v = this.vector(t, fid, 1, what);
    return v ? new TextDecoder().decode(this.b.subarray(v[0], v[0] + v[1])) : null;
  }
  /** a vector of little-endian float32 or uint32 as a copy (Float32Array / Uint32Array), or null */
  numbers(t, fid, Kind, what) {
    const v = this.vector(t, fid, 4, what);
    if (!v) return null;
    const out = new Kind(v[1]);
    const get = Kind === Float32Array ? (p) => this.v.getFloat32(p, true) : (p) => this.v.getUint32(p, true);
    for (let i = 0; i < v[1]; i++) out[i] = get(v[0] + 4 * i);
    return out;
  }
  tables(t, fid, what) {
    const v = this.vector(t, fid, 4, what);
    if (!v) return [];
    const out = [];
    for (let i = 0; i < v[1]; i++) out.push(v[0] + 4 * i + this.u32(v[0] + 4 * i, what));
    return out;
  }
}

/**
 * @typedef {{name: string, shape: number[], group: number, weights: Float32Array, bias: Float32Array,
 *            stride: number[], dilation: number[], padMode: string, outputMin: number, outputMax: number,
 *            padding: (h: number, w: number) => number[], sbnnFormat: number | null}} TaggedConv
 *   shape [O, I, kh, kw]; group = G (sbnnGroup, else MNN's sparseBlockOC); padding(h, w) gives
 *   [top, left, bottom, right] for an h x w input (SAME needs the input size).
 */

/**
 * The Convolution ops (group 1) that carry sparse metadata, with dense OIHW weights
 * rebuilt from their alpha/index coding.
 * @param {Uint8Array} bytes the whole .mnn file
 * @returns {TaggedConv[]}
 */
export function readTaggedConvs(bytes) {
  const r = new Reader(bytes);
  const net = r.u32(0, "root");
  const out = [];
  r.tables(net, 3, "Net.oplists").forEach((op, k) => {
    const name = r.string(op, 3, `op ${k} name`) ?? `op${k}`;
    const where = `op "${name}"`;
    if (r.scalar(op, 5, "i32", 0, where) !== CONVOLUTION) return;
    const mt = r.field(op, 1, where);
    if (mt) r.need(mt, 1, where);
    const mainType = mt ? r.b[mt] : 0;
    const conv = r.ref(op, 2, where);
    if (mainType !== CONVOLUTION2D || !conv) return;
    const sparse = r.ref(conv, 5, where + " sparseParameter");
    const quan = r.ref(conv, 3, where + " quanParameter");
    if (!sparse || !quan) return; // dense layer: not tagged
    const args = {};
    for (const a of r.tables(sparse, 1, where + " sparse args")) {
      const key = r.string(a, 3, where + " arg key");
      if (key !== null) args[key] = { i: r.scalar(a, 1, "i32", 0, where + " arg"), s: r.string(a, 0, where + " arg") };
    }
    const common = r.ref(conv, 0, where + " common");
    if (!common) throw new RangeError(`mnn_reader: ${where}: convolution without its common parameters`);
    const c = (fid, dflt) => r.scalar(common, fid, "i32", dflt, where + " common");
    const [kw, kh, sw, sh, dw, dh, groups, O] = [c(2, 1), c(3, 1), c(4, 1), c(5, 1), c(6, 1), c(7, 1), c(9, 1), c(10, 0)];
    if (groups !== 1) return; // depthwise / grouped convs are never tagged
    const padMode = ["CAFFE", "VALID", "SAME"][r.scalar(common, 8, "i8", 0, where)] ?? "CAFFE";
    const relu = r.scalar(common, 12, "bool", false, where), relu6 = r.scalar(common, 13, "bool", false, where);
    const pads = r.vector(common, 14, 4, where + " pads");
    const pv = (i) => r.i32(pads[0] + 4 * i, where + " pads");
    const fixed = pads && pads[1] >= 4 ? [pv(0), pv(1), pv(2), pv(3)]
      : pads && pads[1] >= 2 ? [pv(0), pv(1), pv(0), pv(1)] : [c(1, 0), c(0, 0), c(1, 0), c(0, 0)];
    for (const [key, v] of Object.entries({ kernelX: kw, kernelY: kh, strideX: sw, strideY: sh, dilateX: dw, dilateY: dh, outputCount: O }))
      if (!(v >= 1 && v <= 1 << 24)) throw new RangeError(`mnn_reader: ${where}: ${key} = ${v} is invalid`);
    if (!fixed.every((p) => p >= 0 && p <= 1 << 16)) throw new RangeError(`mnn_reader: ${where}: padding ${fixed} is invalid`);
    const size = r.scalar(quan, 12, "i32", 0, where + " weightSize") >>> 0;
    const alpha = r.numbers(quan, 1, Float32Array, where + " alpha") ?? new Float32Array(0);
    const index = r.numbers(quan, 13, Uint32Array, where + " index") ?? new Uint32Array(0);
    const taps = kh * kw;
    if (!size || size > MAX_WEIGHTS || size % (O * taps))
      throw new RangeError(`mnn_reader: ${where}: weightSize ${size} is not O x I x kh x kw (O = ${O}, ${kh}x${kw})`);
    if (alpha.length !== index.length)
      throw new RangeError(`mnn_reader: ${where}: ${alpha.length} alpha values for ${index.length} indices`);
    const weights = new Float32Array(size);
    for (let i = 0; i < index.length; i++) {
      if (index[i] >= size) throw new RangeError(`mnn_reader: ${where}: index ${index[i]} >= weightSize ${size}`);
      weights[index[i]] = alpha[i];
    }
    const I = size / (O * taps);
    const bias = new Float32Array(O);
    const b = r.numbers(conv, 2, Float32Array, where + " bias");
    if (b) {
      if (b.length !== O) throw new RangeError(`mnn_reader: ${where}: ${b.length} bias values for ${O} output channels`);
      bias.set(b);
    }
    const group = args.sbnnGroup?.i ?? args.sparseBlockOC?.i ?? 1;
    out.push({
      name, shape: [O, I, kh, kw], group: [1, 2, 4, 8, 16].includes(group) ? group : 1, weights, bias,
      stride: [sh, sw], dilation: [dh, dw], padMode, sbnnFormat: args.sbnnFormat?.i ?? null,
      outputMin: relu || relu6 ? 0 : -Infinity, outputMax: relu6 ? 6 : Infinity,
      padding(h, w) {
        if (padMode === "VALID") return [0, 0, 0, 0];
        if (padMode !== "SAME") return fixed.slice();
        // SAME: output ceil(in / stride), the padding split with the extra pixel at the bottom/right.
        const one = (n, s, k, d) => Math.max(0, (Math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n);
        const ph = one(h, sh, kh, dh), pw = one(w, sw, kw, dw);
        return [ph >> 1, pw >> 1, ph - (ph >> 1), pw - (pw >> 1)];
      },
    });
  });
  return out;
}
