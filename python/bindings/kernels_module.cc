// pybind11 module sparsebytenn._kernels: pack + run of the group-sparse conv
// kernels on numpy arrays, for tests and benchmarks. Expected misuse raises
// ValueError with the problem spelled out; the C API's status is never lost.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <initializer_list>
#include <limits>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "sparsebytenn/dconv.h"
#include "sparsebytenn/dwconv.h"
#include "sparsebytenn/gsparse.h"
#include "sparsebytenn/version.h"

namespace py = pybind11;

namespace {


[[noreturn]] void fail(const std::string& what) { throw py::value_error(what); }

void check(sbnn_status s, const char* during) {
  if (s != SBNN_OK) fail(std::string(during) + ": " + sbnn_status_string(s));
}

// Only float32 (or, for activations of fp16 packs, float16), C-contiguous arrays:
// silently copying would hide layout bugs in callers that hand us views.
const void* array_data(const py::array& a, const char* name, const py::dtype& want) {
  if (!a.dtype().is(want)) fail(std::string(name) + " must be " + std::string(py::str(want)) + ", got " + std::string(py::str(a.dtype())));
  if (!(a.flags() & py::array::c_style)) fail(std::string(name) + " must be C-contiguous");
  return a.data();
}
const float* float_data(const py::array& a, const char* name) {
  return static_cast<const float*>(array_data(a, name, py::dtype::of<float>()));
}

// None (a null buffer) or a non-array is a ValueError like every other bad input,
// not pybind's TypeError listing overloads.
py::array as_array(const py::object& o, const char* name) {
  if (o.is_none()) fail(std::string(name) + " is None; pass a float32 numpy array");
  py::array a = py::array::ensure(o);
  if (!a) fail(std::string(name) + " must be a numpy array");
  return a;
}

// Host-supplied executor used by tests: one std::thread per task beyond the
// first, exercising the same parallel_for contract the MNN bridge implements.
void spawn_parallel_for(void*, int32_t n, sbnn_task_fn task, void* ctx) {
  std::vector<std::thread> threads;
  for (int32_t i = n - 1; i >= 1; --i) threads.emplace_back([=] { task(ctx, i); });
  task(ctx, 0);
  for (auto& t : threads) t.join();
}

// The pack arguments both conv kinds share; returns the bias data (null: none),
// kept alive by *keep.
const float* check_bias_clamp_isa(const py::object& bias, py::ssize_t channels, float output_min, float output_max,
                                  const std::string& isa, py::array* keep) {
  if (std::isnan(output_min) || std::isnan(output_max) || output_min > output_max)
    fail("need output_min <= output_max (no NaN)");
  if (!isa.empty() && !sbnn_isa_available(isa.c_str()))
    fail("ISA '" + isa + "' is not compiled in or not supported by this CPU");
  if (bias.is_none()) return nullptr;
  *keep = py::array::ensure(bias);
  if (!*keep || keep->ndim() != 1 || keep->shape(0) != channels)
    fail("bias must be 1-D with " + std::to_string(channels) + " elements (one per output channel)");
  return float_data(*keep, "bias");
}

// Geometry of a run from the Python arguments (ValueError when they do not make one).
sbnn_conv_geometry make_geometry(int N, int H, int W, std::pair<int, int> stride, std::pair<int, int> dilation,
                                 const std::vector<int>& padding, int kernel_h, int kernel_w) {
  if (N < 1 || H < 1 || W < 1) fail("input has an empty dimension");
  if (stride.first < 1 || stride.second < 1 || dilation.first < 1 || dilation.second < 1)
    fail("stride and dilation must be >= 1");
  for (int p : padding) if (p < 0) fail("padding must be >= 0");
  sbnn_conv_geometry g{};
  g.batch = N; g.in_h = H; g.in_w = W;
  g.stride_h = stride.first; g.stride_w = stride.second;
  g.dilation_h = dilation.first; g.dilation_w = dilation.second;
  g.pad_top = padding[0]; g.pad_left = padding[1]; g.pad_bottom = padding[2]; g.pad_right = padding[3];
  const long span_h = H + g.pad_top + g.pad_bottom - static_cast<long>(g.dilation_h) * (kernel_h - 1) - 1;
  const long span_w = W + g.pad_left + g.pad_right - static_cast<long>(g.dilation_w) * (kernel_w - 1) - 1;
  if (span_h < 0 || span_w < 0) fail("kernel (with dilation) is larger than the padded input");
  g.out_h = static_cast<int32_t>(span_h / g.stride_h + 1);
  g.out_w = static_cast<int32_t>(span_w / g.stride_w + 1);
  return g;
}

// The run arguments both conv kinds share: every pack in 1/4/8/16, threads in
// 1..256; padding (top, left) or (top, left, bottom, right), returned as the 4.
std::vector<int> check_run_args(std::initializer_list<int> packs, std::vector<int> padding, int threads) {
  for (int p : packs)
    if (p != 1 && p != 4 && p != 8 && p != 16) fail("pack must be 1, 4, 8 or 16, got " + std::to_string(p));
  if (padding.size() == 2) padding = {padding[0], padding[1], padding[0], padding[1]};
  if (padding.size() != 4) fail("padding must be (top, left) or (top, left, bottom, right)");
  if (threads < 1 || threads > 256) fail("threads must be in 1..256");
  return padding;
}

struct InputDims { int n, h, w; };

// x: (N, C, H, W) for pack 1, (ceil(C/P), N, H, W, P) for pack P (MNN's CPU layout).
InputDims input_dims(const py::array& x, int channels, int pack) {
  if (pack == 1) {
    if (x.ndim() != 4) fail("NCHW input must be 4-D (N, C, H, W)");
    if (x.shape(1) != channels)
      fail("input has " + std::to_string(x.shape(1)) + " channels, weights expect " + std::to_string(channels));
    return {static_cast<int>(x.shape(0)), static_cast<int>(x.shape(2)), static_cast<int>(x.shape(3))};
  }
  const std::string p = std::to_string(pack);
  if (x.ndim() != 5) fail("NC" + p + "HW" + p + " input must be 5-D (C/P, N, H, W, P)");
  if (x.shape(4) != pack) fail("last input dimension must equal pack = " + p);
  if (x.shape(0) != (channels + pack - 1) / pack)
    fail("input has " + std::to_string(x.shape(0)) + " channel blocks, weights expect " +
         std::to_string((channels + pack - 1) / pack));
  return {static_cast<int>(x.shape(1)), static_cast<int>(x.shape(2)), static_cast<int>(x.shape(3))};
}

// The output's shape in the same layout convention as the input's.
std::vector<py::ssize_t> output_shape(int n, int channels, const sbnn_conv_geometry& g, int pack) {
  if (pack == 1) return {n, channels, g.out_h, g.out_w};
  return {(channels + pack - 1) / pack, n, g.out_h, g.out_w, pack};
}

// A new output array, or out=: a caller-owned one reused across runs (benchmarks
// time the kernel the way a host with preallocated tensors runs it, as the MNN
// bridge does), checked to fit and not to overlap the input.
py::array output_array(const py::object& out_arg, const py::dtype& dt, const std::vector<py::ssize_t>& shape,
                       const py::array& x) {
  if (out_arg.is_none()) return py::array(dt, shape);
  if (!py::isinstance<py::array>(out_arg)) fail("out must be a numpy array");
  py::array oa = py::reinterpret_borrow<py::array>(out_arg);
  if (!oa.dtype().is(dt)) fail("out must be " + std::string(py::str(dt)));
  if (!(oa.flags() & py::array::c_style) || !oa.writeable()) fail("out must be C-contiguous and writeable");
  bool same = oa.ndim() == static_cast<py::ssize_t>(shape.size());
  for (size_t d = 0; same && d < shape.size(); ++d) same = oa.shape(d) == shape[d];
  if (!same) fail("out has the wrong shape for this input and layout");
  const char* ob = static_cast<const char*>(oa.data());
  const char* ib = static_cast<const char*>(x.data());
  if (ob < ib + x.nbytes() && ib < ob + oa.nbytes()) fail("out must not overlap the input");
  return oa;
}

sbnn_executor make_executor(int threads, const std::string& executor) {
  sbnn_executor ex{};
  ex.num_threads = threads;
  if (executor == "host") ex.parallel_for = &spawn_parallel_for;
  else if (executor != "builtin") fail("executor must be 'builtin' or 'host'");
  return ex;
}

// A workspace kept between runs (as a host would); a run that finds it in use by a
// concurrent one passes none, and the kernels allocate their own for that call.
class KeptWorkspace {
 public:
  // size() -> bytes needed; run(workspace, bytes) -> status. Call without the GIL.
  template <class Size, class Run>
  sbnn_status run(Size size, Run run) {
    std::unique_lock<std::mutex> lock(mutex_, std::try_to_lock);
    void* ws = nullptr;
    size_t bytes = 0;
    if (lock.owns_lock()) {
      bytes = size();
      if (bytes > bytes_.size()) bytes_.assign(bytes, 0);
      if (bytes != 0) ws = bytes_.data();
    }
    return run(ws, bytes);
  }

 private:
  std::vector<unsigned char> bytes_;
  std::mutex mutex_;
};

class PackedConv {
 public:
  PackedConv(const py::object& weights_arg, const py::object& bias, int group_size, float output_min,
             float output_max, const std::string& isa) {
    const py::array weights = as_array(weights_arg, "weights");
    if (weights.ndim() != 4) fail("weights must be 4-D OIHW, got " + std::to_string(weights.ndim()) + "-D");
    const float* w = float_data(weights, "weights");
    for (int d = 0; d < 4; ++d)
      if (weights.shape(d) < 1 || weights.shape(d) > (1 << 20)) fail("weights has an empty or huge dimension");
    if (group_size != 1 && group_size != 2 && group_size != 4 && group_size != 8 && group_size != 16)
      fail("group_size must be 1, 2, 4, 8 or 16, got " + std::to_string(group_size));
    py::array bias_arr;
    const float* b = check_bias_clamp_isa(bias, weights.shape(0), output_min, output_max, isa, &bias_arr);
    sbnn_pack_params p{};
    p.out_channels = static_cast<int32_t>(weights.shape(0));
    p.in_channels = static_cast<int32_t>(weights.shape(1));
    p.kernel_h = static_cast<int32_t>(weights.shape(2));
    p.kernel_w = static_cast<int32_t>(weights.shape(3));
    p.group_size = group_size;
    p.output_min = output_min;
    p.output_max = output_max;
    p.isa = isa.empty() ? nullptr : isa.c_str();
    check(sbnn_gsparse_pack(&p, w, b, &packed_), "pack");
    check(sbnn_gsparse_get_info(packed_, &info_), "info");
  }
  ~PackedConv() { sbnn_gsparse_free(packed_); }
  PackedConv(const PackedConv&) = delete;
  PackedConv& operator=(const PackedConv&) = delete;

  // x: (N, C, H, W) for pack 1, (ceil(C/P), N, H, W, P) for pack P (MNN's CPU layout).
  py::array run(const py::object& x_arg, std::pair<int, int> stride, std::pair<int, int> dilation,
                std::vector<int> padding, int pack, int out_pack, int threads,
                const std::string& executor, const py::object& out_arg) {
    if (out_pack == 0) out_pack = pack;
    padding = check_run_args({pack, out_pack}, padding, threads);
    const py::array x = as_array(x_arg, "input");
    // fp16 packs ("neonfp16") run on float16 activations, everything else on float32.
    const bool f16 = std::string(info_.variant).rfind("f16_", 0) == 0;
    const py::dtype dt = f16 ? py::dtype("float16") : py::dtype::of<float>();
    const void* in = array_data(x, "input", dt);
    const InputDims d = input_dims(x, info_.in_channels, pack);
    const sbnn_conv_geometry g = make_geometry(d.n, d.h, d.w, stride, dilation, padding, info_.kernel_h, info_.kernel_w);
    py::array out = output_array(out_arg, dt, output_shape(d.n, info_.out_channels, g, out_pack), x);
    const sbnn_tensor_layout li{pack, 0, 0}, lo{out_pack, 0, 0};
    const sbnn_executor ex = make_executor(threads, executor);
    void* o = out.mutable_data();
    sbnn_status s;
    {
      py::gil_scoped_release nogil;
      s = workspace_.run([&] { return sbnn_gsparse_workspace_size(packed_, &g, threads); },
                         [&](void* ws, size_t bytes) {
                           return f16 ? sbnn_gsparse_run_f16(packed_, &g, static_cast<const uint16_t*>(in), &li,
                                                             static_cast<uint16_t*>(o), &lo, &ex, ws, bytes)
                                      : sbnn_gsparse_run(packed_, &g, static_cast<const float*>(in), &li,
                                                         static_cast<float*>(o), &lo, &ex, ws, bytes);
                         });
    }
    check(s, "run");
    return out;
  }

  py::dict info() const {
    py::dict d;
    d["out_channels"] = info_.out_channels; d["in_channels"] = info_.in_channels;
    d["kernel"] = py::make_tuple(info_.kernel_h, info_.kernel_w);
    d["group_size"] = info_.group_size;
    d["nonzero_blocks"] = info_.nonzero_blocks;
    d["nonzero_macs_per_pixel"] = info_.nonzero_macs_per_pixel;
    d["variant"] = info_.variant; d["isa"] = info_.isa;
    return d;
  }

 private:
  sbnn_gsparse_weights* packed_ = nullptr;
  sbnn_gsparse_info info_{};
  KeptWorkspace workspace_;
};

// run() of both dense families (depthwise, direct conv): float32, one layout in
// and out. run(geometry, in, layout, out, executor) -> status, called without the GIL.
template <class Run>
py::array run_dense(const py::object& x_arg, int in_channels, int out_channels, int kernel_h, int kernel_w,
                    std::pair<int, int> stride, std::pair<int, int> dilation, std::vector<int> padding, int pack,
                    int threads, const std::string& executor, const py::object& out_arg, Run run) {
  padding = check_run_args({pack}, padding, threads);
  const py::array x = as_array(x_arg, "input");
  const float* in = float_data(x, "input");
  const InputDims d = input_dims(x, in_channels, pack);
  const sbnn_conv_geometry g = make_geometry(d.n, d.h, d.w, stride, dilation, padding, kernel_h, kernel_w);
  py::array out = output_array(out_arg, py::dtype::of<float>(), output_shape(d.n, out_channels, g, pack), x);
  const sbnn_tensor_layout layout{pack, 0, 0};
  const sbnn_executor ex = make_executor(threads, executor);
  float* o = static_cast<float*>(out.mutable_data());
  sbnn_status s;
  {
    py::gil_scoped_release nogil;
    s = run(g, in, layout, o, ex);
  }
  check(s, "run");
  return out;
}

// Depthwise conv (sparsebytenn/dwconv.h): weights (C, 1, kh, kw) or (C, kh, kw).
class PackedDwConv {
 public:
  PackedDwConv(const py::object& weights_arg, const py::object& bias, float output_min, float output_max,
               const std::string& isa) {
    const py::array weights = as_array(weights_arg, "weights");
    if (weights.ndim() != 4 && weights.ndim() != 3) fail("depthwise weights must be (C, 1, kh, kw) or (C, kh, kw)");
    if (weights.ndim() == 4 && weights.shape(1) != 1) fail("depthwise weights must have one input channel per filter");
    const float* w = float_data(weights, "weights");
    const int nd = static_cast<int>(weights.ndim());
    for (int d = 0; d < nd; ++d)
      if (weights.shape(d) < 1 || weights.shape(d) > (1 << 20)) fail("weights has an empty or huge dimension");
    py::array bias_arr;
    const float* b = check_bias_clamp_isa(bias, weights.shape(0), output_min, output_max, isa, &bias_arr);
    sbnn_dwconv_params p{};
    p.channels = static_cast<int32_t>(weights.shape(0));
    p.kernel_h = static_cast<int32_t>(weights.shape(nd - 2));
    p.kernel_w = static_cast<int32_t>(weights.shape(nd - 1));
    p.output_min = output_min;
    p.output_max = output_max;
    p.isa = isa.empty() ? nullptr : isa.c_str();
    check(sbnn_dwconv_pack(&p, w, b, &packed_), "pack");
    check(sbnn_dwconv_get_info(packed_, &info_), "info");
  }
  ~PackedDwConv() { sbnn_dwconv_free(packed_); }
  PackedDwConv(const PackedDwConv&) = delete;
  PackedDwConv& operator=(const PackedDwConv&) = delete;

  // x: (N, C, H, W) for pack 1, (ceil(C/P), N, H, W, P) for pack P; output in the same layout.
  py::array run(const py::object& x_arg, std::pair<int, int> stride, std::pair<int, int> dilation,
                std::vector<int> padding, int pack, int threads, const std::string& executor,
                const py::object& out_arg) {
    return run_dense(x_arg, info_.channels, info_.channels, info_.kernel_h, info_.kernel_w, stride, dilation,
                     padding, pack, threads, executor, out_arg,
                     [&](const sbnn_conv_geometry& g, const float* in, const sbnn_tensor_layout& l, float* o,
                         const sbnn_executor& ex) {
                       return workspace_.run([&] { return sbnn_dwconv_workspace_size(packed_, &g, pack, threads); },
                                             [&](void* ws, size_t bytes) {
                                               return sbnn_dwconv_run(packed_, &g, in, &l, o, &l, &ex, ws, bytes);
                                             });
                     });
  }

  py::dict info() const {
    py::dict d;
    d["channels"] = info_.channels;
    d["kernel"] = py::make_tuple(info_.kernel_h, info_.kernel_w);
    d["lanes"] = info_.lanes;
    d["isa"] = info_.isa;
    return d;
  }
  std::string variant_for(int sh, int sw) const {
    const char* n = sbnn_dwconv_variant_for(packed_, sh, sw);
    return n ? n : "";
  }

 private:
  sbnn_dwconv_weights* packed_ = nullptr;
  sbnn_dwconv_info info_{};
  KeptWorkspace workspace_;
};

// Direct conv for few input channels (sparsebytenn/dconv.h): dense OIHW weights.
class PackedDconv {
 public:
  PackedDconv(const py::object& weights_arg, const py::object& bias, float output_min, float output_max,
              const std::string& isa) {
    const py::array weights = as_array(weights_arg, "weights");
    if (weights.ndim() != 4) fail("weights must be 4-D OIHW, got " + std::to_string(weights.ndim()) + "-D");
    const float* w = float_data(weights, "weights");
    for (int d = 0; d < 4; ++d)
      if (weights.shape(d) < 1 || weights.shape(d) > (1 << 20)) fail("weights has an empty or huge dimension");
    py::array bias_arr;
    const float* b = check_bias_clamp_isa(bias, weights.shape(0), output_min, output_max, isa, &bias_arr);
    sbnn_dconv_params p{};
    p.out_channels = static_cast<int32_t>(weights.shape(0));
    p.in_channels = static_cast<int32_t>(weights.shape(1));
    p.kernel_h = static_cast<int32_t>(weights.shape(2));
    p.kernel_w = static_cast<int32_t>(weights.shape(3));
    p.output_min = output_min;
    p.output_max = output_max;
    p.isa = isa.empty() ? nullptr : isa.c_str();
    check(sbnn_dconv_pack(&p, w, b, &packed_), "pack");
    check(sbnn_dconv_get_info(packed_, &info_), "info");
  }
  ~PackedDconv() { sbnn_dconv_free(packed_); }
  PackedDconv(const PackedDconv&) = delete;
  PackedDconv& operator=(const PackedDconv&) = delete;

  // x: (N, I, H, W) for pack 1, (ceil(I/P), N, H, W, P) for pack P; output in the same layout.
  py::array run(const py::object& x_arg, std::pair<int, int> stride, std::pair<int, int> dilation,
                std::vector<int> padding, int pack, int threads, const std::string& executor,
                const py::object& out_arg) {
    return run_dense(x_arg, info_.in_channels, info_.out_channels, info_.kernel_h, info_.kernel_w, stride, dilation,
                     padding, pack, threads, executor, out_arg,
                     [&](const sbnn_conv_geometry& g, const float* in, const sbnn_tensor_layout& l, float* o,
                         const sbnn_executor& ex) { return sbnn_dconv_run(packed_, &g, in, &l, o, &l, &ex); });
  }

  py::dict info() const {
    py::dict d;
    d["out_channels"] = info_.out_channels;
    d["in_channels"] = info_.in_channels;
    d["kernel"] = py::make_tuple(info_.kernel_h, info_.kernel_w);
    d["lanes"] = info_.lanes;
    d["isa"] = info_.isa;
    return d;
  }
  std::string variant_for(int sh, int sw) const {
    const char* n = sbnn_dconv_variant_for(packed_, sh, sw);
    return n ? n : "";
  }

 private:
  sbnn_dconv_weights* packed_ = nullptr;
  sbnn_dconv_info info_{};
};

// The variant tables of the two shape-specialised families, one form.
template <class Desc, class Count, class Get>
py::list shape_variants(Count count, Get get) {
  py::list out;
  for (int32_t i = 0; i < count(); ++i) {
    Desc d{};
    if (get(i, &d) != SBNN_OK) continue;
    py::dict v;
    v["name"] = d.name; v["isa"] = d.isa; v["kernel"] = py::make_tuple(d.kernel_h, d.kernel_w);
    v["stride"] = d.stride; v["available"] = static_cast<bool>(d.available);
    out.append(v);
  }
  return out;
}

py::list dw_variants() {
  return shape_variants<sbnn_dwconv_variant_desc>(&sbnn_dwconv_variant_count, &sbnn_dwconv_variant_get);
}
py::list dconv_variants() {
  return shape_variants<sbnn_dconv_variant_desc>(&sbnn_dconv_variant_count, &sbnn_dconv_variant_get);
}

py::list variants() {
  py::list out;
  for (int32_t i = 0; i < sbnn_variant_count(); ++i) {
    sbnn_variant_desc d{};
    if (sbnn_variant_get(i, &d) != SBNN_OK) continue;
    py::dict v;
    v["name"] = d.name; v["isa"] = d.isa; v["group_size"] = d.group_size; v["tile"] = d.tile;
    v["available"] = static_cast<bool>(d.available);
    out.append(v);
  }
  return out;
}

int fastest_group(const py::array_t<float, py::array::c_style | py::array::forcecast>& w, int group_size,
                  const std::string& isa) {
  if (w.ndim() != 4) throw std::invalid_argument("weights must be OIHW (4-d)");
  sbnn_pack_params p{};
  p.out_channels = static_cast<int32_t>(w.shape(0)); p.in_channels = static_cast<int32_t>(w.shape(1));
  p.kernel_h = static_cast<int32_t>(w.shape(2)); p.kernel_w = static_cast<int32_t>(w.shape(3));
  p.group_size = group_size;
  p.isa = isa.c_str();
  int32_t g = 0;
  check(sbnn_gsparse_fastest_group(&p, w.data(), &g), "fastest_group");
  return g;
}

}  // namespace

PYBIND11_MODULE(_kernels, m) {
  m.doc() = "SparseByteNN group-sparse kernels (pack + run on numpy arrays)";
  m.def("version", &sbnn::version);
  m.def("default_isa", [] { return std::string(sbnn_default_isa()); },
        "ISA automatic dispatch picks now (honours SPARSEBYTENN_ISA).");
  m.def("isa_available", [](const std::string& isa) { return sbnn_isa_available(isa.c_str()) != 0; });
  m.def("variants", &variants, "The variant table: name, isa, group_size, tile, available.");
  m.def("fastest_group", &fastest_group, py::arg("weights"), py::arg("group_size"), py::arg("isa") = "",
        "The group size to pack these OIHW weights (pruned in groups of group_size) with on isa.");
  m.def("group_cost",
        [](const std::string& isa, int g, const std::string& vendor) {
          const sbnn_group_cost c = sbnn_gsparse_group_cost(isa.c_str(), vendor.c_str(), g);
          return py::make_tuple(c.per_weight, c.per_channel);
        },
        py::arg("isa"), py::arg("group_size"), py::arg("vendor") = "",
        "(per stored weight, per output channel): modelled time per output pixel for G on vendor's CPUs "
        "(\"\": this one's), in units of G=8's per-weight time ((0, 0): none).");
  const float inf = std::numeric_limits<float>::infinity();
  py::class_<PackedConv>(m, "PackedConv")
      .def(py::init<const py::object&, const py::object&, int, float, float, const std::string&>(),
           py::arg("weights"), py::arg("bias") = py::none(), py::arg("group_size") = 8,
           py::arg("output_min") = -inf, py::arg("output_max") = inf, py::arg("isa") = "",
           "Pack dense OIHW float32 weights (+ bias) into G-row groups with a fused clamp.")
      .def("run", &PackedConv::run, py::arg("x"), py::arg("stride") = std::make_pair(1, 1),
           py::arg("dilation") = std::make_pair(1, 1), py::arg("padding") = std::vector<int>{0, 0, 0, 0},
           py::arg("pack") = 1, py::arg("out_pack") = 0, py::arg("threads") = 1,
           py::arg("executor") = "builtin", py::arg("out") = py::none(),
           "Run on x: (N,C,H,W) when pack == 1, else MNN layout (ceil(C/P), N, H, W, P). "
           "Output in out_pack layout (default: same as input); out: an optional preallocated "
           "float32 array of exactly that shape, written and returned (no allocation per run).")
      .def_property_readonly("info", &PackedConv::info);
  m.def("dw_variants", &dw_variants, "The depthwise variant table: name, isa, kernel, stride, available.");
  py::class_<PackedDwConv>(m, "DwConv")
      .def(py::init<const py::object&, const py::object&, float, float, const std::string&>(), py::arg("weights"),
           py::arg("bias") = py::none(), py::arg("output_min") = -inf, py::arg("output_max") = inf,
           py::arg("isa") = "", "Pack depthwise float32 weights (C, 1, kh, kw) (+ bias) with a fused clamp.")
      .def("run", &PackedDwConv::run, py::arg("x"), py::arg("stride") = std::make_pair(1, 1),
           py::arg("dilation") = std::make_pair(1, 1), py::arg("padding") = std::vector<int>{0, 0, 0, 0},
           py::arg("pack") = 8, py::arg("threads") = 1, py::arg("executor") = "builtin", py::arg("out") = py::none(),
           "Run on x in (ceil(C/P), N, H, W, P) (pack P) or (N, C, H, W) (pack 1); output in the same layout.")
      .def("variant_for", &PackedDwConv::variant_for, py::arg("stride_h"), py::arg("stride_w"))
      .def_property_readonly("info", &PackedDwConv::info);
  m.def("dconv_variants", &dconv_variants,
        "The direct conv (few input channels) variant table: name, isa, kernel, stride, available.");
  py::class_<PackedDconv>(m, "Dconv")
      .def(py::init<const py::object&, const py::object&, float, float, const std::string&>(), py::arg("weights"),
           py::arg("bias") = py::none(), py::arg("output_min") = -inf, py::arg("output_max") = inf,
           py::arg("isa") = "", "Pack dense OIHW float32 weights with few input channels (+ bias) with a fused clamp.")
      .def("run", &PackedDconv::run, py::arg("x"), py::arg("stride") = std::make_pair(1, 1),
           py::arg("dilation") = std::make_pair(1, 1), py::arg("padding") = std::vector<int>{0, 0, 0, 0},
           py::arg("pack") = 8, py::arg("threads") = 1, py::arg("executor") = "builtin", py::arg("out") = py::none(),
           "Run on x in (ceil(I/P), N, H, W, P) (pack P) or (N, I, H, W) (pack 1); output in the same layout.")
      .def("variant_for", &PackedDconv::variant_for, py::arg("stride_h"), py::arg("stride_w"))
      .def_property_readonly("info", &PackedDconv::info);
  m.def("pack", [](const py::object& w, const py::object& b, int g, float lo, float hi, const std::string& isa) {
          return new PackedConv(w, b, g, lo, hi, isa);
        }, py::arg("weights"), py::arg("bias") = py::none(), py::arg("group_size") = 8,
        py::arg("output_min") = -inf, py::arg("output_max") = inf, py::arg("isa") = "",
        py::return_value_policy::take_ownership);
}
