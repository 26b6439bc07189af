// The browser side of `sparsebytenn bench kernels --engines chromium-wasm,chromium-wasm-relaxed`
// (sparsebytenn.bench.kernel_peers.ChromiumWasmRunner): a loop that long-polls the
// benchmark's loopback server for one JSON command at a time (GET cmd) and answers
// each (POST reply), timing the kernels through the ES module's plan() buffers:
//   {"cmd":"load","id":K,"o":O,"i":I,"hw":HW,"group":G,"build":"relaxed"|"simd128"}
//        GETs case/K/{w,b,x}.f32 (x in NC4HW4), packs, places x -> {variant, isa, build, isolated, userAgent}
//   {"cmd":"time","id":K,"n":N}  -> {"ms":[...]}   performance.now() around each run
//   {"cmd":"output","id":K}      -> POSTs out/K (NC4HW4 float32) -> {}
//   {"cmd":"quit"}               -> {} and the loop ends
import { loadKernels } from "./sparsebytenn.mjs";

/** @param {string} base the server's URL, ending in "/" */
export async function serve(base) {
  /** @type {Map<number, {plan: any}>} */
  const jobs = new Map();
  /** @type {any} */
  let kernels = null;
  const f32 = async (p) => {
    const r = await fetch(base + p);
    if (!r.ok) throw new Error(`GET ${p}: HTTP ${r.status}`);
    return new Float32Array(await r.arrayBuffer());
  };
  for (;;) {
    const m = await (await fetch(base + "cmd")).json();
    let reply = {};
    try {
      if (m.cmd === "load") {
        if (!kernels)
          kernels = await loadKernels({ simd: base + "simd.wasm", relaxed: base + "relaxed.wasm",
                                        preferRelaxed: m.build === "relaxed" });
        if (kernels.build !== m.build) throw new Error(`asked for the ${m.build} build, this browser loaded ${kernels.build}`);
        const conv = kernels.pack(await f32(`case/${m.id}/w.f32`), [m.o, m.i, 1, 1],
                                  { bias: await f32(`case/${m.id}/b.f32`), groupSize: m.group });
        const plan = conv.plan([1, m.i, m.hw, m.hw], { layout: "nc4hw4" });
        plan.input.set(await f32(`case/${m.id}/x.f32`));
        jobs.set(m.id, { plan });
        reply = { variant: conv.info.variant, isa: conv.info.isa, build: kernels.build,
                  isolated: globalThis.crossOriginIsolated === true, userAgent: navigator.userAgent };
      } else if (m.cmd === "time") {
        const { plan } = jobs.get(m.id);
        const ms = [];
        for (let i = 0; i < m.n; i++) {
          const t0 = performance.now();
          plan.run();
          ms.push(performance.now() - t0);
        }
        reply = { ms };
      } else if (m.cmd === "output") {
        const { plan } = jobs.get(m.id);
        plan.run();
        await fetch(base + `out/${m.id}`, { method: "POST", body: plan.output.slice() });
      } else if (m.cmd !== "quit") {
        throw new Error(`unknown command ${m.cmd}`);
      }
    } catch (e) {
      reply = { error: String(e && e.message ? e.message : e) };
    }
    await fetch(base + "reply", { method: "POST", body: JSON.stringify(reply) });
    if (m.cmd === "quit") return;
  }
}
