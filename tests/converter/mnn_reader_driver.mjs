// node mnn_reader_driver.mjs MODEL.mnn WEB_DIR SIMD.wasm OUT_DIR
// Reads the tagged convs with plugin/web/mnn_reader.mjs and runs each through
// plugin/web/sparsebytenn.mjs on OUT_DIR/x_<j>.f32 (written by the test, NCHW
// [1, I, H, W]; OUT_DIR/in.json: {h, w, inputs: {op name: j}}); writes what it read and computed:
// meta.json, w_<k>.f32, b_<k>.f32, y_<k>.f32. The test checks them. A file it
// cannot read -> meta.json {"error": message}.
import { readFileSync, writeFileSync, existsSync } from "node:fs";

const [model, webDir, simd, out] = process.argv.slice(2);
const { readTaggedConvs } = await import(`${webDir}/mnn_reader.mjs`);
const { loadKernels } = await import(`${webDir}/sparsebytenn.mjs`);
let convs;
try {
  convs = readTaggedConvs(new Uint8Array(readFileSync(model)));
} catch (e) {
  writeFileSync(`${out}/meta.json`, JSON.stringify({ error: `${e.name}: ${e.message}` }));
  process.exit(0);
}
const { h, w, inputs } = existsSync(`${out}/in.json`) ? JSON.parse(readFileSync(`${out}/in.json`, "utf8")) : { inputs: {} };
const k = await loadKernels({ simd: readFileSync(simd) });
const meta = [];
convs.forEach((c, i) => {
  writeFileSync(`${out}/w_${i}.f32`, c.weights);
  writeFileSync(`${out}/b_${i}.f32`, c.bias);
  const m = { name: c.name, shape: c.shape, group: c.group, stride: c.stride, dilation: c.dilation,
              padMode: c.padMode, lo: c.outputMin, hi: c.outputMax, sbnnFormat: c.sbnnFormat };
  if (c.name in inputs) {
    const b = readFileSync(`${out}/x_${inputs[c.name]}.f32`);
    const x = new Float32Array(b.buffer, b.byteOffset, b.length / 4);
    const conv = k.pack(c.weights, c.shape, { bias: c.bias, groupSize: c.group, outputMin: c.outputMin, outputMax: c.outputMax });
    const y = conv.run(x, [1, c.shape[1], h, w], { stride: c.stride, dilation: c.dilation, padding: c.padding(h, w) });
    writeFileSync(`${out}/y_${i}.f32`, y.data);
    m.padding = c.padding(h, w);
    m.yshape = y.shape;
  }
  meta.push(m);
});
writeFileSync(`${out}/meta.json`, JSON.stringify(meta, (key, v) => (v === Infinity ? "inf" : v === -Infinity ? "-inf" : v)));
