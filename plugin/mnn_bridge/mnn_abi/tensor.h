// Our own minimal declarations of the MNN 3.6.1 tensor ABI (see
// ../../../docs/FORMAT.md and shared notes mnn-3.6.1-facts.md §5). Only the parts
// the bridge reads are named; everything else is opaque padding whose size is
// checked at compile time. Must be compiled with -D_GLIBCXX_USE_CXX11_ABI=0.
#ifndef SBNN_MNN_ABI_TENSOR_H_
#define SBNN_MNN_ABI_TENSOR_H_

#include <cstddef>
#include <cstdint>

namespace sbnn {
namespace mnnabi {

// Forward types as MNN numbers them (MNNForwardType). USER_3 is neither used by
// the x86/aarch64 wheels nor picked by MNN_FORWARD_AUTO's priority list.
enum ForwardType : int {
  kForwardCpu = 0,
  kForwardUser0 = 8,
  kForwardUser1 = 9,
  kForwardUser3 = 11,
  kForwardCpuExtension = 13,
};

// MNN's ErrorCode subset we return.
enum ErrorCode : int { kNoError = 0, kOutOfMemory = 1, kNotSupport = 2, kInvalidValue = 5 };

// halide_type_t: the code is a plain (4-byte) enum in MNN's header.
struct HalideType {
  int32_t code;  // 0 int, 1 uint, 2 float, 3 handle, 4 bfloat
  uint8_t bits;
  uint16_t lanes;
};
static_assert(sizeof(HalideType) == 8, "halide_type_t is 8 bytes in MNN 3.6.1");

struct HalideDim {
  int32_t min, extent, stride;
  uint32_t flags;
};
static_assert(sizeof(HalideDim) == 16, "halide_dimension_t");

struct HalideBuffer {
  uint64_t device;
  const void* device_interface;
  uint8_t* host;
  uint64_t flags;
  HalideType type;
  int32_t dimensions;
  HalideDim* dim;
  void* padding;
};
static_assert(sizeof(HalideBuffer) == 64, "halide_buffer_t is 64 bytes");
static_assert(offsetof(HalideBuffer, host) == 16, "halide_buffer_t::host");
static_assert(offsetof(HalideBuffer, type) == 32, "halide_buffer_t::type");
static_assert(offsetof(HalideBuffer, dimensions) == 40, "halide_buffer_t::dimensions");
static_assert(offsetof(HalideBuffer, dim) == 48, "halide_buffer_t::dim");

// MNN::Tensor: a halide buffer followed by a pointer to MNN's private describe.
// We never create or destroy Tensors, only read those MNN hands us.
class Tensor {
 public:
  const HalideBuffer& buffer() const { return buffer_; }
  int dimensions() const { return buffer_.dimensions; }
  int extent(int i) const { return buffer_.dim[i].extent; }
  float* host_float() const { return reinterpret_cast<float*>(buffer_.host); }

 private:
  HalideBuffer buffer_;
  void* describe_;
  Tensor() = delete;
};
static_assert(sizeof(Tensor) == 72, "MNN::Tensor is 72 bytes");

// Tensor::InsideDescribe::NativeInsideDescribe starts with the data format (a
// 4-byte enum); nothing else of it is read.
enum DataFormat : int32_t { kNCHW = 0, kNHWC = 1, kNC4HW4 = 2, kNHWC4 = 3 };

// MNN::BackendConfig (24 bytes): memory, power, precision, then a union of a
// context pointer and CPU flags.
struct BackendConfig {
  enum Precision : int32_t { kNormal = 0, kHigh = 1, kLow = 2, kLowBF16 = 3 };
  int32_t memory = 0;
  int32_t power = 0;
  int32_t precision = 0;
  union {
    void* shared_context = nullptr;
    size_t flags;
  };
};
static_assert(sizeof(BackendConfig) == 24, "MNN::BackendConfig");
static_assert(offsetof(BackendConfig, flags) == 16, "BackendConfig::flags");

}  // namespace mnnabi
}  // namespace sbnn

#endif  // SBNN_MNN_ABI_TENSOR_H_
