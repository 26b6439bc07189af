// A read-only view of one flatbuffers table, enough to read MNN's Op and
// Convolution2D parameters by field id (ids from docs/FORMAT.md) without MNN's
// generated headers. MNN verifies the model buffer when it loads it; the view
// still bounds every vector it returns by its stored length.
#ifndef SBNN_MNN_BRIDGE_FLATBUFFER_VIEW_H_
#define SBNN_MNN_BRIDGE_FLATBUFFER_VIEW_H_

#include <cstdint>
#include <cstring>
#include <string>

namespace sbnn {
namespace mnnbridge {

template <typename T>
struct VectorView {
  const T* data = nullptr;
  uint32_t size = 0;
  bool present() const { return data != nullptr; }
};

class TableView {
 public:
  TableView() = default;
  explicit TableView(const void* table) : table_(static_cast<const uint8_t*>(table)) {}
  bool valid() const { return table_ != nullptr; }

  template <typename T>
  T Scalar(int field_id, T default_value) const {
    uint16_t off = FieldOffset(field_id);
    if (off == 0) return default_value;
    T v;
    std::memcpy(&v, table_ + off, sizeof(T));
    return v;
  }
  bool Has(int field_id) const { return FieldOffset(field_id) != 0; }

  TableView Table(int field_id) const {
    const uint8_t* p = Indirect(field_id);
    return p ? TableView(p) : TableView();
  }
  template <typename T>
  VectorView<T> Vector(int field_id) const {
    VectorView<T> v;
    const uint8_t* p = Indirect(field_id);
    if (p == nullptr) return v;
    std::memcpy(&v.size, p, 4);
    v.data = reinterpret_cast<const T*>(p + 4);
    return v;
  }
  // Vector of tables: element i.
  TableView TableAt(const VectorView<uint32_t>& v, uint32_t i) const {
    const uint8_t* slot = reinterpret_cast<const uint8_t*>(v.data + i);
    uint32_t rel;
    std::memcpy(&rel, slot, 4);
    return TableView(slot + rel);
  }
  std::string String(int field_id) const {
    VectorView<char> v = Vector<char>(field_id);
    return v.present() ? std::string(v.data, v.size) : std::string();
  }

 private:
  uint16_t FieldOffset(int field_id) const {
    if (table_ == nullptr) return 0;
    int32_t soff;
    std::memcpy(&soff, table_, 4);
    const uint8_t* vtable = table_ - soff;
    uint16_t vt_size;
    std::memcpy(&vt_size, vtable, 2);
    uint16_t slot = static_cast<uint16_t>(4 + 2 * field_id);
    if (slot + 2 > vt_size) return 0;
    uint16_t off;
    std::memcpy(&off, vtable + slot, 2);
    return off;
  }
  const uint8_t* Indirect(int field_id) const {
    uint16_t off = FieldOffset(field_id);
    if (off == 0) return nullptr;
    uint32_t rel;
    std::memcpy(&rel, table_ + off, 4);
    return table_ + off + rel;
  }
  const uint8_t* table_ = nullptr;
};

}  // namespace mnnbridge
}  // namespace sbnn

#endif  // SBNN_MNN_BRIDGE_FLATBUFFER_VIEW_H_
