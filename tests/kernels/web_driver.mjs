// Test driver for plugin/web/sparsebytenn.mjs, the same code in headless Chromium
// (web_index.html imports it) and in node (`node web_driver.mjs BASE MODULE_URL`).
// It asks the test's loopback server for the cases (BASE/cases.json + one binary
// per case), runs them through the ES module, and POSTs every output back; the
// test compares them with numpy. Nothing is checked here.
//   GET  cases.json  {cases: [...], errors: [...]}
//   GET  case/<i>.bin float32: weights (OIHW), bias (O), input (in the case's layout)
//   POST out/<build>/<i>/<isa>  float32 output, as the module returned it
//   POST done        {auto: {build, isa}, builds: [...], errors: [{name, message}], fatal?}

/** @param {string} base @param {string} moduleUrl */
export async function runSuite(base, moduleUrl) {
  const sb = await import(moduleUrl);
  const get = async (p) => {
    const r = await fetch(base + p);
    if (!r.ok) throw new Error(`GET ${p}: ${r.status}`);
    return r;
  };
  const post = (p, body) => fetch(base + p, { method: "POST", body });
  const spec = await (await get("cases.json")).json();
  const sources = { simd: await (await get("simd.wasm")).arrayBuffer(), relaxed: await (await get("relaxed.wasm")).arrayBuffer() };
  const auto = await sb.loadKernels(sources);
  const builds = [auto];
  if (auto.build === "relaxed") builds.push(await sb.loadKernels({ ...sources, preferRelaxed: false }));
  const num = (v) => (v === null ? undefined : v);
  for (const k of builds) {
    for (let i = 0; i < spec.cases.length; i++) {
      const c = spec.cases[i];
      const all = new Float32Array(await (await get(`case/${i}.bin`)).arrayBuffer());
      const nw = c.wshape.reduce((a, b) => a * b, 1), o = c.wshape[0];
      const conv = k.pack(all.subarray(0, nw), c.wshape, {
        bias: all.slice(nw, nw + o), groupSize: c.group, outputMin: num(c.lo), outputMax: num(c.hi),
      });
      const y = conv.run(all.slice(nw + o), c.xshape, {
        layout: c.layout, outLayout: c.out_layout, stride: c.stride, dilation: c.dilation, padding: c.padding,
      });
      conv.dispose();
      await post(`out/${k.build}/${i}/${conv.info.isa}`, y.data);
    }
  }
  // Bad calls: each must throw; the test reads the messages.
  const errors = [];
  for (const e of spec.errors) {
    let message = null;
    try {
      const w = e.weights === "float64" ? new Float64Array(e.wlen) : new Float32Array(e.wlen).fill(1);
      const conv = auto.pack(w, e.wshape, { groupSize: e.group ?? 8 });
      const x = e.input === "array" ? new Array(e.xlen).fill(0) : new Float32Array(e.xlen);
      conv.run(x, e.xshape, e.opts ?? {});
    } catch (err) {
      message = String(err && err.message ? err.message : err);
    }
    errors.push({ name: e.name, message });
  }
  await post("done", JSON.stringify({ auto: { build: auto.build, isa: auto.isa }, builds: builds.map((k) => k.build), errors }));
}

const isMain = typeof process !== "undefined" && process.argv?.[1] && import.meta.url.endsWith(process.argv[1].split("/").pop());
if (isMain) {
  const [base, moduleUrl] = process.argv.slice(2);
  try {
    await runSuite(base, moduleUrl);
  } catch (e) {
    await fetch(base + "done", { method: "POST", body: JSON.stringify({ fatal: String(e && e.stack ? e.stack : e) }) });
  }
}
